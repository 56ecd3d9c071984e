"""Random draws in compiled code: the core's own streams, and a numpy `Generator`'s.

The core's streams: each episode slot of a batch owns one uint64 state (splitmix64 with an
unbiased bounded draw), so a batch's draws do not depend on how many other episodes step or
reset, and no global random state is touched.

A numpy `Generator`'s draws: `generator_stream(rng)` hands compiled code the bit generator's
own C function and state (numpy's documented ctypes interface), and `generator_integer` /
`generator_shuffle` draw exactly what `rng.integers(n)` / `rng.shuffle(a)` would, from the
same stream, without a call into Python. The single env draws its episodes from its
`np_random` this way, so seeds give the episodes they give on the Python engine.
"""

from __future__ import annotations

import ctypes

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

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


# ---- a numpy Generator's stream -------------------------------------------------------------
GeneratorStream = tuple[int, int]
"""(address of the bit generator's `next_uint32`, address of its state)."""


def generator_stream(rng: np.random.Generator) -> GeneratorStream:
    """The addresses compiled code draws `rng`'s stream through; valid while `rng` lives (the
    caller keeps it). Drawing through them skips the Generator's lock: one thread at a time."""
    interface = rng.bit_generator.ctypes
    return ctypes.cast(interface.next_uint32, ctypes.c_void_p).value, interface.state_address


@intrinsic
def _next_uint32(typingctx, function, state):
    """`bitgen->next_uint32(bitgen->state)`, the C call numpy's own draws make."""
    if not (isinstance(function, types.Integer) and isinstance(state, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        void_pointer = ir.IntType(8).as_pointer()
        next_uint32 = ir.FunctionType(ir.IntType(32), [void_pointer])
        call = builder.inttoptr(args[0], next_uint32.as_pointer())
        return builder.call(call, [builder.inttoptr(args[1], void_pointer)])

    return types.uint32(types.intp, types.intp), codegen


@numba.njit(cache=True, inline="always")
def generator_integer(stream, n):
    """`rng.integers(n)` for 1 <= n <= 2**32 (numpy's Lemire draw on 32 bits)."""
    function, state = stream
    top = np.uint64(n - 1)
    if top == 0:
        return np.int64(0)
    if top == _LOW32:
        return np.int64(_next_uint32(function, state))
    bound = top + np.uint64(1)
    product = np.uint64(_next_uint32(function, state)) * bound
    if (product & _LOW32) < bound:
        threshold = (_LOW32 - top) % bound
        while (product & _LOW32) < threshold:
            product = np.uint64(_next_uint32(function, state)) * bound
    return np.int64(product >> _S32)


@numba.njit(cache=True, inline="always")
def _generator_interval(stream, top):
    """numpy's `random_interval(top)` for top < 2**32: a masked draw in [0, top]."""
    function, state = stream
    mask = np.uint64(top)
    for shift in (1, 2, 4, 8, 16):
        mask |= mask >> np.uint64(shift)
    value = np.uint64(_next_uint32(function, state)) & mask
    while value > np.uint64(top):
        value = np.uint64(_next_uint32(function, state)) & mask
    return np.int64(value)


@numba.njit(cache=True, inline="always")
def generator_shuffle(stream, a):
    """`rng.shuffle(a)` for a 1-D array shorter than 2**32 (numpy's Fisher-Yates)."""
    for i in range(a.shape[0] - 1, 0, -1):
        j = _generator_interval(stream, i)
        a[i], a[j] = a[j], a[i]
