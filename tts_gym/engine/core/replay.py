"""The replay rules of BASELINES.md section 1 on `StoreTables` arrays, compiled.

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

    Returns (answer id, tokens charged now, finished, write-up: those tokens are the branch's
    write-up, see `tts_gym.engine.rules`). Not finished: the caller adds one to the branch's
    explore count.
    """
    n = n_probes[q, b]
    if depth < n:
        return probes[q, b, depth], interval, False, False
    final = finals[q, b]
    return final, max(0, lengths[q, b] - charged), True, n > 0 and probes[q, b, n - 1] == final


@numba.njit(cache=True)
def read(lengths, finals, q, b):
    """READ of an unopened branch: (its final answer id, its whole length in tokens)."""
    return finals[q, b], lengths[q, b]


def confidence_lookup(max_votes: int) -> np.ndarray:
    """`beta_confidence(top1, top2)` for every count up to `max_votes`, as a float64 array."""
    return np.array(confidence_table(max_votes + 1), dtype=np.float64)
