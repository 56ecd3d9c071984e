"""The rules: action layout, legality and the budget, and the sentence that says why."""

from __future__ import annotations

import copy

import pytest

from tts_gym.engine import Episode
from tts_gym.engine.actions import (
    BATCH_WIDTHS,
    SLOT_KINDS,
    ActionKind,
    action_index,
    action_kind_slot,
    action_name,
    decode_action,
    encode_action,
    n_actions,
)
from tts_gym.errors import IllegalActionError
from tts_gym.store import parse_questions

A = ActionKind

# probe_freq 100; branch 0: "1" then "2", 250 tokens; branch 1: "1", 120 tokens; branch 2: no
# probe, 50 tokens, final "3"
QUESTION = parse_questions(
    [
        {
            "question": "q",
            "gold_answer": "2",
            "probe_freq": 100,
            "each_branch": [[["1", "2"], 250, "2"], [["1"], 120, "1"], [[], 50, "3"]],
        }
    ],
    "hand-made",
)[0]


def state(episode: Episode) -> tuple:
    return copy.deepcopy(
        (episode.tokens, episode.seq_tokens, episode.n_opened, episode.n_alive, episode.depth,
         episode.charged, episode.finished, episode.pruned, episode.revealed, episode.votes,
         episode.done)
    )  # fmt: skip


def refused(episode: Episode, call, *args) -> str:
    """The message of an illegal call, after checking that it changed nothing."""
    before = state(episode)
    with pytest.raises(IllegalActionError) as error:
        call(*args)
    assert state(episode) == before
    return str(error.value)


def arguments(kind: ActionKind, m: int) -> list[int]:
    if kind in SLOT_KINDS:
        return list(range(m))
    return list(BATCH_WIDTHS) if kind in (A.OPEN_MANY, A.READ_MANY) else [0]


def test_action_layout_round_trips():
    for m in (1, 5, 64):
        indices = [action_index(kind, arg, m) for kind in A for arg in arguments(kind, m)]
        assert len(indices) == n_actions(m) == 3 + 4 * m + 1 + 2 * len(BATCH_WIDTHS)
        assert sorted(indices) == list(range(n_actions(m)))
        for index in range(n_actions(m)):
            kind, slot = action_kind_slot(index, m)
            assert action_index(kind, slot, m) == index
            assert (kind, slot) == decode_action(index, m)
            assert encode_action(A(kind), slot, m) == index
    # the existing indices keep their places; the batch actions follow the slot blocks
    assert [encode_action(A.SUBMIT, 63), encode_action(A.ADVANCE_ALL)] == [258, 259]
    assert encode_action(A.OPEN_MANY, 8) == 262 and encode_action(A.READ_MANY, 64) == 271
    assert action_name(A.BRANCH) == "BRANCH" and action_name(A.PRUNE, 3) == "PRUNE(3)"
    assert action_name(A.ADVANCE_ALL) == "ADVANCE_ALL" and action_name(A.READ_MANY, 8) == (
        "READ_MANY(8)"
    )
    with pytest.raises(ValueError, match="outside"):
        encode_action(A.CONTINUE, 4, 4)
    with pytest.raises(ValueError, match=r"takes a width k in \(2, 4"):
        encode_action(A.OPEN_MANY, 3)


def test_batch_actions_in_words():
    episode = Episode(QUESTION, [0, 1, 2], max_branches=2)
    assert episode.why_illegal(A.ADVANCE_ALL) == "no branch is open"
    assert episode.why_illegal(A.OPEN_MANY, 4) == "only 3 unopened branches are left"
    assert episode.why_illegal(A.READ_MANY, 3) == "only 2 slots are free"
    assert (
        refused(episode, episode.read_many, 0)
        == "READ_MANY(0): a batch opens at least 1 branch, not 0."
    )
    assert refused(episode, episode.advance_many, []) == "advance_many([]): no slot is given."
    episode.open_many(2)
    assert episode.why_illegal(A.OPEN_MANY, 2) == "only 1 unopened branch is left"
    assert episode.why_illegal(A.READ_MANY, 1) == "all 2 slots are in use"
    assert refused(episode, episode.advance_many, [1, 1]) == (
        "advance_many([1, 1]): slot 1 is listed twice."
    )
    assert refused(episode, episode.advance_many, [0, 2]) == (
        "advance_many([0, 2]): slot 2 is not open (2 branches open)."
    )
    episode.advance(1)  # branch 1 ends: 120 tokens
    assert episode.alive_slots() == [0] and episode.why_illegal(A.ADVANCE_ALL) is None
    assert refused(episode, episode.advance_many, [0, 1]) == (
        "advance_many([0, 1]): the branch in slot 1 is finished."
    )
    episode.prune(0)
    assert episode.n_alive == 0 and episode.why_illegal(A.ADVANCE_ALL) == "no open branch is alive"
    short = Episode(QUESTION, [2, 0, 1])
    short.read()
    assert short.why_illegal(A.READ_MANY, 4) == "only 2 unopened branches are left"
    short.read_many(2)
    assert short.why_illegal(A.OPEN_MANY, 2) == "all 3 branches are opened"


def test_a_batch_is_legal_as_a_whole_at_its_start():
    """The budget is checked once, before the wave: the wave pays all it charges."""
    episode = Episode(QUESTION, [0, 1, 2], budget=150)
    assert episode.open_many(2) == [(0, 0, False), (0, 1, False)]  # "1" twice
    assert episode.tokens == 200 and episode.why_illegal(A.ADVANCE_ALL) == (
        "the token budget of 150 is spent"
    )
    message = refused(episode, episode.apply_wave, A.ADVANCE_ALL)
    assert message == "ADVANCE_ALL: the token budget of 150 is spent."
    with_room = Episode(QUESTION, [0, 1, 2], budget=250)
    with_room.open_many(2)
    assert [s for s, _, _ in with_room.apply_wave(A.ADVANCE_ALL)] == [0, 1]
    assert with_room.tokens == 200 + 100 + 20  # past the budget by what the wave charged


def test_waves_do_not_nest():
    episode = Episode(QUESTION, [0, 1, 2])
    with episode.wave():
        episode.open()
        message = refused(episode, episode.open_many, 2)
        assert message == "OPEN_MANY(2): a wave is already open (waves do not nest)."
        with pytest.raises(IllegalActionError, match="waves do not nest"), episode.wave():
            pass


def test_slots_and_budget_in_words():
    episode = Episode(QUESTION, [0, 1, 2], max_branches=2, budget=300)
    assert episode.why_illegal(A.CONTINUE, 1) == "slot 1 is not open (0 branches open)"
    assert episode.open() == (0, 0, False)  # answer id 0 is "1"
    assert episode.why_illegal(A.ANSWER) is None and episode.why_illegal(A.SUBMIT, 0) is None
    episode.open()
    assert episode.why_illegal(A.READ) == "all 2 slots are in use"
    assert not episode.can_open
    assert refused(episode, episode.read) == "READ: all 2 slots are in use."
    episode.advance(0)  # 300 tokens: the budget is spent by the action that reaches it
    assert episode.tokens == 300
    assert episode.why_illegal(A.BRANCH) == "the token budget of 300 is spent"
    message = refused(episode, episode.advance, 0)
    assert message == "CONTINUE(0): the token budget of 300 is spent."
    # what costs nothing stays legal: PRUNE, PROBE when free, SUBMIT, ANSWER
    assert (
        episode.why_illegal(A.PROBE, 0) == "the answer of slot 0 at its depth is already revealed"
    )
    episode.prune(1)
    assert episode.why_illegal(A.CONTINUE, 1) == "the branch in slot 1 is pruned"
    assert episode.why_illegal(A.PRUNE, 1) == "the branch in slot 1 is already pruned"
    assert episode.votes == {1: 1}
    assert episode.submit(0) == 1 and episode.correct
    assert episode.why_illegal(A.ANSWER) == "the episode has ended"
    assert refused(episode, episode.finish, None) == "ANSWER: the episode has ended."


def test_probes_and_finished_branches_in_words():
    episode = Episode(QUESTION, [2, 0], reveal_on_continue=False, probe_cost=5, budget=1_000)
    assert episode.read() == 2 and episode.tokens == 50  # branch 2 has no probe: "3"
    assert episode.why_illegal(A.CONTINUE, 0) == "the branch in slot 0 is finished"
    assert episode.why_illegal(A.PRUNE, 0) == "the branch in slot 0 is already finished"
    answer, slot, finished = episode.open()
    assert (answer, slot, finished) == (-1, 1, False)  # nothing revealed without a probe
    assert episode.why_illegal(A.SUBMIT, 1) == "slot 1 has no revealed answer"
    assert episode.why_illegal(A.BRANCH) == "all 2 branches are opened"
    assert episode.probe(1) == 0 and episode.tokens == 50 + 100 + 5
    assert (
        episode.why_illegal(A.PROBE, 1) == "the answer of slot 1 at its depth is already revealed"
    )
    episode.advance(1)
    assert episode.why_illegal(A.PROBE, 1) is None
    assert episode.majority() == 2  # the read answer "3" and the probed "1" tie: slot 0 wins


def test_a_costly_probe_stops_at_the_budget():
    episode = Episode(QUESTION, [0], reveal_on_continue=False, probe_cost=5, budget=100)
    episode.open()
    assert episode.why_illegal(A.PROBE, 0) == "the token budget of 100 is spent"
    free = Episode(QUESTION, [0], reveal_on_continue=False, budget=100)
    free.open()
    assert free.why_illegal(A.PROBE, 0) is None and free.probe(0) == 0


@pytest.mark.parametrize("bad", [dict(budget=0), dict(max_branches=0), dict(probe_cost=-1)])
def test_episode_limits_are_checked(bad):
    with pytest.raises(ValueError):
        Episode(QUESTION, [0, 1], **bad)
