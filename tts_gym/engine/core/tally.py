"""Compiled vote tallies: `count_votes`, `leader` and `vote_stats` for votes that only add up.

A tally is a tuple of four int64 arrays: over a question's answer ids `counts`, `rank` (order
of each answer's first vote) and `seen` (answers in that order), and `stats` = [answers seen,
votes, winner, top1, top2]. Each vote keeps the stats exact in O(1): the winner
is the most voted answer, ties to the one voted first (what `collections.Counter.most_common`
returns), `top1` its count and `top2` the runner-up's (0 with one answer). An empty tally's
winner is `NO_ANSWER`.
"""

from __future__ import annotations

import numba
import numpy as np

from tts_gym.engine.episode import NO_ANSWER

SEEN, VOTES, WINNER, TOP1, TOP2 = range(5)
"""Positions in `stats`."""


def new_tally(n_answers: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """An empty tally for answer ids below `n_answers`: (counts, rank, seen, stats).

    Allocated here, outside compiled code: kernels take it as an argument and reuse it.
    """
    stats = np.zeros(5, dtype=np.int64)
    stats[WINNER] = NO_ANSWER
    return (
        np.zeros(n_answers, dtype=np.int64),
        np.zeros(n_answers, dtype=np.int64),
        np.zeros(n_answers, dtype=np.int64),
        stats,
    )


@numba.njit(cache=True)
def clear_tally(counts, seen, stats):
    """Empty the tally, touching only the answers it holds."""
    for i in range(stats[SEEN]):
        counts[seen[i]] = 0
    stats[SEEN] = 0
    stats[VOTES] = 0
    stats[WINNER] = NO_ANSWER
    stats[TOP1] = 0
    stats[TOP2] = 0


@numba.njit(cache=True)
def vote(counts, rank, seen, stats, answer):
    """One more vote for `answer`; the winner, top1 and top2 follow."""
    count = counts[answer] + 1
    counts[answer] = count
    stats[VOTES] += 1
    if count == 1:
        rank[answer] = stats[SEEN]
        seen[stats[SEEN]] = answer
        stats[SEEN] += 1
    if count > stats[TOP1]:  # it was a leader (or the first vote): top2 is unchanged
        stats[TOP1] = count
        stats[WINNER] = answer
    elif count == stats[TOP1]:  # it ties the leader: the one voted first wins
        stats[TOP2] = count
        if rank[answer] < rank[stats[WINNER]]:
            stats[WINNER] = answer
    elif count > stats[TOP2]:
        stats[TOP2] = count
