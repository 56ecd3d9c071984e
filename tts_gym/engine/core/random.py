"""Per-episode random streams for the compiled core: splitmix64 with an unbiased bounded draw.

Each episode slot of a batch owns one uint64 state, so a batch's draws do not depend on how
many other episodes step or reset, and no global random state is touched.
"""

from __future__ import annotations

import numba
import numpy as np

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_LOW32 = np.uint64(0xFFFFFFFF)
_S27, _S30, _S31, _S32 = np.uint64(27), np.uint64(30), np.uint64(31), np.uint64(32)


@numba.njit(cache=True)
def next_u64(states, i):
    """The next 64 random bits of stream `i` (splitmix64)."""
    z = states[i] + _GAMMA
    states[i] = z
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@numba.njit(cache=True)
def below(states, i, n):
    """A uniform integer in [0, n) from stream `i`, for 1 <= n < 2**32 (Lemire's method)."""
    bound = np.uint64(n)
    product = (next_u64(states, i) >> _S32) * bound
    if (product & _LOW32) < bound:
        threshold = ((_LOW32 + np.uint64(1)) - bound) % bound
        while (product & _LOW32) < threshold:
            product = (next_u64(states, i) >> _S32) * bound
    return np.int64(product >> _S32)


def seed_streams(states: np.ndarray, rng: np.random.Generator) -> None:
    """Fill every stream's state from `rng` (the env's seeded `np_random`)."""
    states[:] = rng.integers(0, np.iinfo(np.uint64).max, size=len(states), dtype=np.uint64)
