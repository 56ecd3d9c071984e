"""The compiled vote tally gives `vote_stats` and `majority` of every prefix of the votes."""

from __future__ import annotations

import numpy as np

from tts_gym.engine import NO_ANSWER, count_votes, majority, vote_stats
from tts_gym.engine.core.tally import SEEN, TOP1, TOP2, VOTES, WINNER, clear_tally, new_tally, vote


def test_tally_follows_vote_stats_on_every_prefix():
    rng = np.random.default_rng(0)
    counts, rank, seen, stats = tally = new_tally(12)
    for trial in range(300):
        n_answers = int(rng.integers(1, 12))
        votes = rng.integers(0, n_answers, size=int(rng.integers(1, 40))).tolist()
        clear_tally(counts, seen, stats)
        for k, answer in enumerate(votes, start=1):
            vote(*tally, answer)
            prefix = votes[:k]
            winner, top1, top2 = vote_stats(count_votes(prefix))
            assert (stats[WINNER], stats[TOP1], stats[TOP2]) == (winner, top1, top2), (trial, k)
            assert stats[WINNER] == majority(prefix) and stats[VOTES] == k
            assert stats[SEEN] == len(set(prefix))
        assert counts.sum() == len(votes)


def test_ties_go_to_the_answer_voted_first():
    counts, rank, seen, stats = tally = new_tally(4)
    for answer in (2, 1, 1, 2, 3, 3):  # 2, 1 and 3 all end with two votes
        vote(*tally, answer)
    assert (stats[WINNER], stats[TOP1], stats[TOP2]) == (2, 2, 2)


def test_clear_empties_only_what_was_voted():
    counts, rank, seen, stats = tally = new_tally(5)
    for answer in (4, 0, 4):
        vote(*tally, answer)
    clear_tally(counts, seen, stats)
    assert not counts.any() and stats[WINNER] == NO_ANSWER
    assert (stats[SEEN], stats[VOTES], stats[TOP1], stats[TOP2]) == (0, 0, 0, 0)
