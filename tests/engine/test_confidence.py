"""The Beta-majority confidence table: the values of the exact table it replaced, in linear
working memory (issue 21).

`former_table` is the implementation this one replaced, verbatim: exact cumulative rows of
Pascal's triangle in big integers, every row kept (cubic memory: 22 GB for a question of
5,000 branches). Up to `EXACT_TRIALS` trials the new table is the same bit for bit; beyond,
it is within its stated bound of the exact rationals, and both engines read the same values.
"""

from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np
import pytest

from tts_gym.engine.core.replay import confidence_lookup
from tts_gym.engine.voting import EXACT_TRIALS, beta_confidence, confidence_table
from tts_gym.errors import TTSGymError
from tts_gym.store import CATALOG, load_store

FORMER_SIZE = 130  # the size of the former module table


def former_table(size: int) -> tuple[tuple[float, ...], ...]:
    """`tts_gym.engine.voting.confidence_table` as it was (commit b97eef4)."""
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


@pytest.fixture(scope="module")
def former() -> np.ndarray:
    return np.array(former_table(FORMER_SIZE))


def test_every_size_up_to_the_former_table_is_bit_identical(former) -> None:
    for size in range(1, FORMER_SIZE + 1):
        table = confidence_table(size)
        assert table.dtype == np.float64 and table.shape == (size, size)
        assert np.array_equal(table, former[:size, :size]), size  # bit for bit (no NaNs)
    counts = np.arange(FORMER_SIZE)
    assert all(
        beta_confidence(top1, top2) == former[top1, top2] for top1 in counts for top2 in counts
    )


def test_larger_tables_are_exact_up_to_exact_trials_and_close_beyond() -> None:
    size = EXACT_TRIALS  # reaches n = 2 * size - 1 trials, well past the exact rows
    table = confidence_table(size)
    exact = np.array(former_table(size))
    trials = np.add.outer(np.arange(size), np.arange(size)) + 1
    assert np.array_equal(table[trials <= EXACT_TRIALS], exact[trials <= EXACT_TRIALS])
    beyond = trials > EXACT_TRIALS
    bound = (trials[beyond] - EXACT_TRIALS) * 2.0**-53
    assert (np.abs(table[beyond] - exact[beyond]) <= bound).all()


def test_both_engines_read_the_same_values_at_any_size() -> None:
    """`beta_confidence` (the Python engine) and the compiled engine's lookup agree bit for
    bit, in the exact rows and beyond; a large question's table is quick and small."""
    table = confidence_lookup(1200)
    rng = np.random.default_rng(0)
    for top1, top2 in [(0, 900), (1200, 0), (700, 650), (1200, 1200), (131, 1), (1, 131)]:
        assert beta_confidence(top1, top2) == table[top1, top2]
    for top1 in range(590, 640):  # an episode's counts grow one at a time
        for top2 in rng.integers(0, 1201, size=8):
            assert beta_confidence(top1, int(top2)) == table[top1, top2]
    exact = Fraction(sum(comb(1201, k) for k in range(601)), 2**1201)
    assert abs(table[600, 600] - float(exact)) <= (1201 - EXACT_TRIALS) * 2.0**-53


@pytest.mark.real_stores
def test_the_real_stores_read_the_former_values(shared_replay, former) -> None:
    """Every count a real store can reach (its branches) reads what it read before, so
    Table 1's cells cannot move."""
    for entry in CATALOG.values():
        m = load_store(entry.name, shared_replay).max_branches
        assert m < FORMER_SIZE
        assert np.array_equal(confidence_lookup(m), former[: m + 1, : m + 1])


def test_a_table_that_cannot_fit_is_one_sentence(monkeypatch) -> None:
    monkeypatch.setattr("tts_gym.memory.available_bytes", lambda: 50_000_000)
    with pytest.raises(TTSGymError, match=r"vote-confidence table of 5,000 branches would need"):
        confidence_lookup(5000)
