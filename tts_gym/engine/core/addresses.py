"""Many arrays into one compiled call: a table of their addresses, rebuilt as arrays inside.

A call from Python into numba code unboxes every array argument (about 0.1 µs each), so a step
that reads thirty arrays would spend 3-4 µs in the call alone: most of what a single env may
spend on a step. `ArrayTable` records each array's address and shape once; compiled code gets
the table (two small arrays) and rebuilds every array from it with `view1` / `view2` /
`view3` (no copy, no reference counting), so a call costs about 0.4 µs whatever it reads.

The contract: the arrays are C-contiguous, never reallocated, and outlive the table (the
table holds them); a table does not survive pickling (owners rebuild it on unpickling).
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic


class ArrayTable:
    """The addresses (`int64 [K]`) and shapes (`int64 [K, 3]`) of K arrays, in order."""

    def __init__(self, arrays: Sequence[np.ndarray]) -> None:
        self.arrays = tuple(arrays)  # keeps every array alive as long as the table
        self.addresses = np.zeros(len(self.arrays), dtype=np.int64)
        self.shapes = np.zeros((len(self.arrays), 3), dtype=np.int64)
        for k, array in enumerate(self.arrays):
            if not array.flags.c_contiguous or array.ndim > 3:
                raise ValueError("ArrayTable holds C-contiguous arrays of 1 to 3 dimensions.")
            self.addresses[k] = array.ctypes.data
            self.shapes[k, : array.ndim] = array.shape

    def signature(self) -> list[tuple[np.dtype, int]]:
        """(dtype, ndim) of every array: what the compiled unpacking expects, in order."""
        return [(array.dtype, array.ndim) for array in self.arrays]


class BundledArrays:
    """Arrays that compiled code reads through `self.table`, an `ArrayTable` of their raw
    addresses built by `_bundle()`: pickled without the table, which is rebuilt on load."""

    table: ArrayTable

    def _bundle(self) -> None:
        raise NotImplementedError

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        del state["table"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._bundle()


@intrinsic
def _as_pointer(typingctx, address, dtype):
    pointer = types.CPointer(dtype.dtype)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(pointer))

    return pointer(address, dtype), codegen


@numba.njit(cache=True, inline="always")
def view1(addresses, shapes, k, dtype):
    return numba.carray(_as_pointer(addresses[k], dtype), (shapes[k, 0],))


@numba.njit(cache=True, inline="always")
def view2(addresses, shapes, k, dtype):
    return numba.carray(_as_pointer(addresses[k], dtype), (shapes[k, 0], shapes[k, 1]))


@numba.njit(cache=True, inline="always")
def view3(addresses, shapes, k, dtype):
    return numba.carray(
        _as_pointer(addresses[k], dtype), (shapes[k, 0], shapes[k, 1], shapes[k, 2])
    )
