"""Voting primitives of BASELINES.md section 3, on integer answer ids.

`majority` breaks ties toward the answer that appears first in the list, which is what
`collections.Counter(list).most_common(1)` returns and what the published numbers mean.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from math import comb
from operator import itemgetter

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


def _exact_confidence(top1: int, top2: int) -> float:
    # 1 - BetaCDF(0.5; top1 + 1, top2 + 1) == P(Binomial(top1 + top2 + 1, 1/2) <= top1)
    n = top1 + top2 + 1
    return sum(comb(n, k) for k in range(top1 + 1)) / (1 << n)


def confidence_table(size: int) -> tuple[tuple[float, ...], ...]:
    """`beta_confidence` for counts below `size`, exact (cumulative rows of Pascal's triangle)."""
    cumulative: list[list[int]] = []  # cumulative[n][k] = sum_{j <= k} C(n, j)
    row = [1]
    for n in range(2 * size):
        if n:
            row = [1, *(row[k - 1] + row[k] for k in range(1, n)), 1]
        running, sums = 0, []
        for value in row:
            running += value
            sums.append(running)
        cumulative.append(sums)
    return tuple(
        tuple(
            0.0 if top1 == 0 else cumulative[top1 + top2 + 1][top1] / (1 << (top1 + top2 + 1))
            for top2 in range(size)
        )
        for top1 in range(size)
    )


_CONFIDENCE_TABLE = confidence_table(_TABLE_SIZE)


@lru_cache(maxsize=4096)
def _confidence_beyond_table(top1: int, top2: int) -> float:
    return 0.0 if top1 == 0 else _exact_confidence(top1, top2)


def beta_confidence(top1: int, top2: int) -> float:
    """Beta-majority confidence `1 - BetaCDF(0.5; top1 + 1, top2 + 1)`, 0 when `top1 == 0`."""
    if top1 < _TABLE_SIZE and top2 < _TABLE_SIZE:
        return _CONFIDENCE_TABLE[top1][top2]
    return _confidence_beyond_table(top1, top2)
