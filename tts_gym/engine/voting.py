"""Voting primitives of the published controllers, on integer answer ids.

`majority` breaks ties toward the answer that appears first in the list, which is what
`collections.Counter(list).most_common(1)` returns and what the published numbers mean.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from functools import lru_cache
from math import comb
from operator import itemgetter

import numpy as np

from tts_gym.memory import require_memory

_second = itemgetter(1)


def count_votes(answers: Iterable[int]) -> dict[int, int]:
    """Vote counts in order of first appearance (dicts keep insertion order)."""
    counts: dict[int, int] = {}
    get = counts.get
    for answer in answers:
        counts[answer] = get(answer, 0) + 1
    return counts


def leader(counts: dict[int, int]) -> tuple[int | None, int]:
    """The most voted answer (first inserted among ties) and its count; (None, 0) if empty."""
    if not counts:
        return None, 0
    return max(counts.items(), key=_second)


def majority(answers: Iterable[int]) -> int | None:
    return leader(count_votes(answers))[0]


def vote_stats(counts: dict[int, int]) -> tuple[int | None, int, int]:
    """Winner, its count `top1`, and the runner-up's count `top2` (0 with one answer)."""
    winner, top1 = leader(counts)
    top2 = 0
    if len(counts) > 1:
        top2 = max(count for answer, count in counts.items() if answer != winner)
    return winner, top1, top2


_TABLE_SIZE = 130
"""Counts below this are looked up in `_CONFIDENCE_TABLE` (Python floats, for the engine)."""
EXACT_TRIALS = 2 * _TABLE_SIZE - 1
"""Confidences with `top1 + top2 + 1 <= EXACT_TRIALS` are exact: the correctly rounded value of
the exact rational, as ever (every count of a store of up to 258 branches). Beyond, they
continue in floating point from the last exact row (`_next_row`)."""
_KEPT_ROWS = 64


def _exact_confidence(top1: int, top2: int) -> float:
    # 1 - BetaCDF(0.5; top1 + 1, top2 + 1) == P(Binomial(top1 + top2 + 1, 1/2) <= top1)
    n = top1 + top2 + 1
    return sum(comb(n, k) for k in range(top1 + 1)) / (1 << n)


def _exact_rows(last: int) -> Iterator[np.ndarray]:
    """Rows n = 0..last of `F(n, k) = P(Binomial(n, 1/2) <= k)`, k = 0..n, each value the
    exact rational correctly rounded. One row of Pascal's triangle is held at a time."""
    row = [1]
    for n in range(last + 1):
        if n:
            row = [1, *(row[k - 1] + row[k] for k in range(1, n)), 1]
        denominator, running, values = 1 << n, 0, []
        for value in row:
            running += value
            values.append(running / denominator)
        yield np.array(values)


def _next_row(row: np.ndarray) -> np.ndarray:
    """`F(n + 1, .)` from `F(n, .)`: `F(n + 1, k) = (F(n, k) + F(n, k - 1)) / 2`.

    Halving is exact, so each row adds at most one rounding of the sum (2**-53): a value
    `d` rows past `EXACT_TRIALS` is within `d * 2**-53` of the exact one (1e-12 at 10,000
    branches), and both engines compute it by these same operations.
    """
    following = np.empty(len(row) + 1)
    following[0] = row[0] * 0.5
    following[1:-1] = (row[1:] + row[:-1]) * 0.5
    following[-1] = 1.0
    return following


def _rows(last: int) -> Iterator[np.ndarray]:
    """Rows 0..last of `F`: exact up to `EXACT_TRIALS`, then continued by `_next_row`."""
    row = np.ones(1)
    for row in _exact_rows(min(last, EXACT_TRIALS)):
        yield row
    for _ in range(EXACT_TRIALS, last):
        row = _next_row(row)
        yield row


def confidence_table(size: int) -> np.ndarray:
    """`beta_confidence(top1, top2)` for counts below `size`, a float64 `[size, size]` array.

    Built by anti-diagonals (`top1 + top2 + 1 = n` reads row n of `F`): besides the table
    itself it holds one row, so memory is linear in the counts where the former exact table
    of big integers grew with their cube (22 GB for a question of 5,000 branches). A table
    that cannot fit in memory is refused, in one sentence, before it is allocated.
    """
    if size <= _TABLE_SIZE:
        return _CONFIDENCE_ARRAY[:size, :size].copy()
    require_memory(8.0 * size * size, f"the vote-confidence table of {size - 1:,} branches")
    return _filled(size)


def _filled(size: int) -> np.ndarray:
    table = np.zeros((size, size))
    flat = table.reshape(-1)
    for n, row in enumerate(_rows(2 * size - 1)):
        top1 = np.arange(max(1, n - size), min(n, size))  # top2 = n - 1 - top1 < size
        flat[top1 * size + (n - 1 - top1)] = row[top1]
    return table


class _FloatRows:
    """The rows of `F` past the exact ones that the Python engine last read (an episode's
    counts grow one at a time, so the next row is one step away)."""

    def __init__(self) -> None:
        self._rows: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, n: int) -> np.ndarray:
        with self._lock:
            row = self._rows.get(n)
            if row is None:
                start = max((m for m in self._rows if m < n), default=None)
                if start is None:
                    start, row = EXACT_TRIALS, _last_exact_row()
                else:
                    row = self._rows[start]
                for _ in range(start, n):
                    row = _next_row(row)
                self._rows[n] = row
                while len(self._rows) > _KEPT_ROWS:
                    self._rows.popitem(last=False)
            self._rows.move_to_end(n)
            return row


@lru_cache(maxsize=1)
def _last_exact_row() -> np.ndarray:
    return deque(_exact_rows(EXACT_TRIALS), maxlen=1)[0]


_float_row = _FloatRows()


_CONFIDENCE_ARRAY = _filled(_TABLE_SIZE)  # all exact: its rows end at EXACT_TRIALS
_CONFIDENCE_TABLE = tuple(map(tuple, _CONFIDENCE_ARRAY.tolist()))


@lru_cache(maxsize=4096)
def _confidence_beyond_table(top1: int, top2: int) -> float:
    if top1 == 0:
        return 0.0
    if top1 + top2 + 1 <= EXACT_TRIALS:
        return _exact_confidence(top1, top2)
    return float(_float_row(top1 + top2 + 1)[top1])


def beta_confidence(top1: int, top2: int) -> float:
    """Beta-majority confidence `1 - BetaCDF(0.5; top1 + 1, top2 + 1)`, 0 when `top1 == 0`."""
    if top1 < _TABLE_SIZE and top2 < _TABLE_SIZE:
        return _CONFIDENCE_TABLE[top1][top2]
    return _confidence_beyond_table(top1, top2)
