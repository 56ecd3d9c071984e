"""Bootstrap over questions: confidence intervals and paired comparisons (seeded).

Orders are averaged within a question first, so the unit resampled is the question, which is
the unit the benchmark samples from its population; orders only reduce replay noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_BOOTSTRAP = 2000
LEVEL = 0.95


def bootstrap_means(
    per_question: np.ndarray, n_boot: int = N_BOOTSTRAP, seed: int = 0
) -> np.ndarray:
    """Means of `n_boot` resamples (with replacement) of the rows of `per_question`."""
    values = np.asarray(per_question, dtype=float)
    n = values.shape[0]
    rows = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    return values[rows].mean(axis=1)


def interval(samples: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail], axis=0)
    return float(low), float(high)


def bootstrap_ci(
    per_question: np.ndarray, n_boot: int = N_BOOTSTRAP, seed: int = 0, level: float = LEVEL
) -> tuple[float, float]:
    """Percentile interval of the mean over questions."""
    return interval(bootstrap_means(per_question, n_boot, seed), level)


@dataclass(frozen=True)
class PairedComparison:
    """B minus A on the same questions and orders: accuracy in points, total and sequential
    tokens in thousands."""

    store: str
    method_a: str
    method_b: str
    d_acc: float
    d_acc_ci: tuple[float, float]
    d_tokens_k: float
    d_tokens_k_ci: tuple[float, float]
    d_seq_tokens_k: float
    d_seq_tokens_k_ci: tuple[float, float]

    @property
    def acc_significant(self) -> bool:
        """Whether the accuracy interval excludes 0."""
        return self.d_acc_ci[0] > 0 or self.d_acc_ci[1] < 0


def paired_difference(
    a: np.ndarray,
    b: np.ndarray,
    n_boot: int = N_BOOTSTRAP,
    seed: int = 0,
    level: float = LEVEL,
) -> list[tuple[float, tuple[float, float]]]:
    """(mean, CI) of per-question B − A for each column of the [question, measure] arrays,
    every measure resampling the same questions (so the intervals are paired across them)."""
    diff = np.asarray(b, float) - np.asarray(a, float)
    means = bootstrap_means(diff, n_boot, seed)
    return [(float(diff[:, m].mean()), interval(means[:, m], level)) for m in range(diff.shape[1])]


def pareto_front(tokens: list[float], acc: list[float]) -> list[int]:
    """Indices of the points no other point beats (fewer or equal tokens and higher accuracy,
    or fewer tokens and equal or higher accuracy), sorted by tokens."""
    order = sorted(range(len(tokens)), key=lambda i: (tokens[i], -acc[i]))
    front, best = [], -np.inf
    for i in order:
        if acc[i] > best:
            front.append(i)
            best = acc[i]
    return front
