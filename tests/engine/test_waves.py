"""Latency: waves and sequential tokens (LATENCY.md) in `Episode`, checked by hand."""

from __future__ import annotations

import pytest

from tts_gym.engine import Episode
from tts_gym.engine.actions import ActionKind
from tts_gym.engine.rules import NO_LIMIT, parallel_limit, wave_timing
from tts_gym.store import parse_questions

A = ActionKind

# probe_freq 100; branch 0: "1", "2", "2", 450 tokens; branch 1: "1", 120 tokens; branch 2: no
# probe, 50 tokens; branch 3: "4", "4", 260 tokens; branch 4: "5", 300 tokens, final "6". Answer
# ids: "1" 0, "2" 1, "3" 2, "4" 3, "5" 4, "6" 5. Write-ups (the last segment when the final
# answer is the last probe's): branch 0's 150 tokens, branch 1's 20, branch 3's 60; branch 2
# (no probe) and branch 4 (its final answer is new) have none.
QUESTION = parse_questions(
    [
        {
            "question": "q",
            "gold_answer": "2",
            "probe_freq": 100,
            "each_branch": [
                [["1", "2", "2"], 450, "2"],
                [["1"], 120, "1"],
                [[], 50, "3"],
                [["4", "4"], 260, "4"],
                [["5"], 300, "6"],
            ],
        }
    ],
    "hand-made",
)[0]


def test_wave_timing_by_hand():
    segments = [500, 0, 1200, -1, 300, 700]  # 0 and -1: the branch took no place in the wave
    none = [0] * len(segments)
    assert wave_timing(segments, none, NO_LIMIT) == (1200, 0)
    assert wave_timing(segments, none, 1) == (500 + 1200 + 300 + 700, 0)
    assert wave_timing(segments, none, 2) == (1200 + 700, 0)  # (500, 1200), (300, 700)
    assert wave_timing(segments, none, 3) == (1200 + 700, 0)  # (500, 1200, 300), (700)
    assert wave_timing(segments, none, 4) == (1200, 0)
    assert wave_timing([], [], NO_LIMIT) == wave_timing([0, -1], [0, 0], 1) == (0, 0)
    assert parallel_limit(None) == NO_LIMIT and parallel_limit(3) == 3


def test_write_ups_run_past_their_wave():
    # branch 0: 500 then a 900 write-up; branch 1: a write-up alone (it takes a place in a
    # sub-wave, and no time); branch 3 is not in the wave (-1), whatever its write-up says
    segments, writeups = [500, 0, 1200, -1, 300], [900, 400, 0, 5000, 0]
    assert wave_timing(segments, writeups, NO_LIMIT) == (1200, 1400)
    assert wave_timing(segments, writeups, 1) == (500 + 1200 + 300, 1400)
    assert wave_timing(segments, writeups, 2) == (500 + 1200, 1400)  # (500, 0) (1200, 300)
    assert wave_timing(segments, writeups, 2)[1] == 500 + 900


def test_a_single_write_up_does_not_hold_the_next_wave():
    episode = Episode(QUESTION, [1, 0, 4])
    episode.open()  # branch 1: "1" at 100
    assert episode.advance(0) == (0, True)  # its 20-token write-up: the clock stays at 100
    assert (episode.tokens, episode.seq_tokens) == (120, 120)  # ... but it ends at 120
    episode.open()  # branch 0: 100 from the clock's 100
    assert (episode.tokens, episode.seq_tokens) == (220, 200)
    episode.open()  # branch 4: "5" at 100
    assert episode.advance(2) == (5, True)  # its last 200 tokens reveal "6": they hold
    assert (episode.tokens, episode.seq_tokens) == (520, 500)


def test_lockstep_rounds_last_as_long_as_the_longest_branch():
    """Branches opened together and advanced in lockstep until they end (Parallel-Probe's
    rounds): the episode lasts exactly its longest branch, the write-ups running on."""
    episode = Episode(QUESTION, [0, 1, 3])
    episode.open_many(3)
    rounds = 0
    while episode.n_alive:
        episode.advance_many(episode.alive_slots())
        rounds += 1
    assert rounds == 3 and episode.tokens == 450 + 120 + 260
    assert episode.seq_tokens == 450  # branch 0; as waves held by write-ups: 100 * 3 + 150 = 450
    held = Episode(QUESTION, [3, 4])  # branch 4's last segment is no write-up: it holds
    held.open_many(2)
    held.advance_many([0, 1])  # 100 (branch 3's next probe) and 200 (branch 4's end)
    held.advance_many([0])  # branch 3's 60-token write-up
    assert (held.tokens, held.seq_tokens) == (560, 100 + 200 + 60)


def test_single_actions_are_waves_of_their_own():
    episode = Episode(QUESTION, [0, 1, 2, 3], reveal_on_continue=False, probe_cost=7)
    episode.open()
    episode.probe(0)
    episode.read()
    episode.prune(0)
    assert episode.seq_tokens == episode.tokens == 100 + 7 + 120


@pytest.mark.parametrize(
    "max_parallel, expected",
    [
        # open 4: segments 100, 100, 50, 100 -> 100; advance all alive (0, 1, 3): 100, 20, 100
        (None, [100, 200, 300]),
        (2, [200, 400, 500]),  # sub-waves (100, 100) (50, 100); then (100, 20) (100)
        (1, [350, 550, 650]),  # the write-up of branch 1 (20) takes no time in its sub-wave
    ],
)
def test_batch_actions_are_one_wave_each(max_parallel, expected):
    episode = Episode(QUESTION, [0, 1, 2, 3], max_parallel=max_parallel)
    results = episode.open_many(4)
    assert results == [(0, 0, False), (0, 1, False), (2, 2, True), (3, 3, False)]
    assert (episode.tokens, episode.seq_tokens) == (350, expected[0])
    assert episode.n_alive == 3 and episode.alive_slots() == [0, 1, 3]
    assert episode.advance_many([0, 1, 3]) == [(1, False), (0, True), (3, False)]
    assert (episode.tokens, episode.seq_tokens) == (570, expected[1])
    episode.advance(0)  # one more single action: 100 tokens
    assert (episode.tokens, episode.seq_tokens) == (670, expected[2])


def test_read_many_lasts_its_longest_read():
    episode = Episode(QUESTION, [3, 0, 2, 1])
    assert episode.read_many(3) == [3, 1, 2]  # "4", "2", "3": final answers in slot order
    assert (episode.tokens, episode.seq_tokens) == (260 + 450 + 50, 450)
    assert episode.n_alive == 0
    assert episode.apply(A.READ_MANY, 1) == (-1, -1, True)  # the env's vocabulary
    assert (episode.tokens, episode.seq_tokens) == (880, 570)


def test_segments_of_one_branch_add_up_in_a_wave():
    """A trusted controller's wave: per branch the segments add up, branches overlap."""
    episode = Episode(QUESTION, [0, 1, 2, 3])
    with episode.wave():
        episode.open()  # slot 0: 100
        episode.advance(0)  # slot 0: 200
        episode.open()  # slot 1: 100
        episode.prune(1)  # free: takes no time
        assert episode.seq_tokens == episode.tokens == 300  # settled when the wave ends
    assert episode.seq_tokens == 200
    with episode.wave():  # slots that were open before the wave count what it added
        episode.advance(0)  # slot 0: 100 more
        episode.open()  # slot 2 (branch 2): 50, finished
    assert (episode.tokens, episode.seq_tokens) == (450, 300)


def test_a_wave_returns_what_its_actions_return_all_at_once():
    """`advance_many` ends where CONTINUE slot by slot ends, returns every result together,
    and is charged the longest segment instead of the sum."""
    batched, single = Episode(QUESTION, [0, 1, 3]), Episode(QUESTION, [0, 1, 3])
    for episode in (batched, single):
        episode.open_many(3)
    results = batched.advance_many([2, 0, 1])  # any order of distinct slots
    assert isinstance(results, list)
    assert results == [single.advance(2), single.advance(0), single.advance(1)]
    assert (batched.tokens, batched.revealed, batched.votes) == (
        single.tokens,
        single.revealed,
        single.votes,
    )
    assert batched.seq_tokens == 100 + 100 and single.seq_tokens == 100 + 100 + 100 + 20


def test_max_parallel_is_checked():
    with pytest.raises(ValueError, match="max_parallel must be at least 1"):
        Episode(QUESTION, [0], max_parallel=0)
