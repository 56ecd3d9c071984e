"""The replay rules (docs/design.md) on `StoreTables` arrays, compiled.

These are the compiled twins of `Episode._explore` and `Episode.read` (the reference); the
equivalence tests hold them equal. Functions take the table arrays they read, never the
`StoreTables` object, so numba compiles them once per dtype signature (`cache=True`: only the
first run on a machine pays the compile).
"""

from __future__ import annotations

import numba
import numpy as np

from tts_gym.engine.voting import confidence_table


@numba.njit(cache=True)
def explore(probes, n_probes, lengths, finals, interval, q, b, depth, charged):
    """One explore of branch `b` of question `q` at explore count `depth`, `charged` tokens in.

    Returns (answer id, tokens charged now, finished). Not finished: the caller adds one to
    the branch's explore count.
    """
    if depth < n_probes[q, b]:
        return probes[q, b, depth], interval, False
    return finals[q, b], max(0, lengths[q, b] - charged), True


@numba.njit(cache=True, inline="always")
def is_writeup(probes, n_probes, finals, q, b):
    """Whether the explore that finishes branch `b` charges its write-up (see
    `tts_gym.engine.rules`): the branch has probes and the last one gave its final answer.
    (A separate call, made only on finishing: folded into `explore`'s result, it kept numba
    from inlining `explore` and slowed every kernel several times.)"""
    n = n_probes[q, b]
    return n > 0 and probes[q, b, n - 1] == finals[q, b]


@numba.njit(cache=True)
def read(lengths, finals, q, b):
    """READ of an unopened branch: (its final answer id, its whole length in tokens)."""
    return finals[q, b], lengths[q, b]


def confidence_lookup(max_votes: int) -> np.ndarray:
    """`beta_confidence(top1, top2)` for every count up to `max_votes`, as a float64 array
    (the same values, bit for bit: `tts_gym.engine.voting.confidence_table`)."""
    return confidence_table(max_votes + 1)
