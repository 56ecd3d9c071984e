"""Random draws in compiled code: the core's own streams, and a numpy `Generator`'s.

The core's streams: each episode slot of a batch owns one uint64 state (splitmix64 with an
unbiased bounded draw), so a batch's draws do not depend on how many other episodes step or
reset, and no global random state is touched.

A numpy `Generator`'s draws: `generator_stream(rng)` hands compiled code the bit generator's
own C function and state (numpy's documented ctypes interface), and `generator_integer`
draws exactly what `rng.integers(n)` would, from the same stream, without a call into Python.

A drawn episode: its question is `rng.integers(n)`, its branch order comes from a 64-bit key
(`order_key(rng)`) that seeds the episode's core stream, drawn lazily as branches open
(`keyed_order` is the same order at once, for the Python engine). The envs draw from their
`np_random` this way in both engines, so a seed gives the same episodes everywhere.
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
def generator_order_key(stream):
    """`order_key(rng)` in compiled code: the same two draws from the same stream."""
    high = np.uint64(generator_integer(stream, 2**32))
    low = np.uint64(generator_integer(stream, 2**32))
    return (high << _S32) | low


# ---- a drawn episode's branch order ---------------------------------------------------------
def order_key(rng: np.random.Generator) -> np.uint64:
    """The 64 bits a drawn episode's branch order comes from: two `rng.integers(2**32)`.
    One key per episode, however many branches: a reset costs two draws, not a shuffle."""
    high, low = int(rng.integers(2**32)), int(rng.integers(2**32))
    return np.uint64((high << 32) | low)


@numba.njit(cache=True, inline="always")
def draw_slot(order, slot, n, states, i):
    """One step of a forward Fisher-Yates shuffle of `order[:n]` from stream `i`: position
    `slot` takes a uniform pick among `order[slot:n]` (the core's lazy draw as a branch opens)."""
    pick = slot + below(states, i, n - slot)
    order[slot], order[pick] = order[pick], order[slot]


@numba.njit(cache=True)
def keyed_order(key, n):
    """The whole order of `n` branches that the core draws lazily, one `draw_slot` as each
    opens, from a stream started at `key` (`batch.seed_order`): the order the Python engine
    replays."""
    states = np.empty(1, dtype=np.uint64)
    states[0] = key
    order = np.arange(n)
    for slot in range(n):
        draw_slot(order, slot, n, states, 0)
    return order
