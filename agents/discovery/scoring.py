"""Baselines, the area score that selects controllers, and matched-token comparisons.

Area score, per store: over log tokens from the cheapest to the dearest baseline point, the
mean of (best accuracy the candidate reaches within that many tokens) minus (the same for the
baselines), i.e. the signed area between the two accuracy-vs-log-tokens step frontiers divided
by the width of the range. In accuracy units: +0.02 means two points better on average over
the baselines' token range. A run's score is the mean over the search stores.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from tts_gym_agents.discovery.candidate import Evaluation, SweepPoint, SweepSettings

from tts_gym.control import load_policy
from tts_gym.evaluation.evaluate import Cell, Setting, evaluate_settings
from tts_gym.store.replay import ReplayStore


@dataclass(frozen=True)
class BaselineSpec:
    label: str
    policy: str  # a built-in's name for `load_policy`
    config: dict[str, Any]
    series: str  # points of one sweep share a series (a line in plots)


SEARCH_BASELINES: tuple[BaselineSpec, ...] = (
    *(BaselineSpec(f"SC@{n}", "sc", {"n": n}, "SC@N") for n in (4, 8, 16, 32, 64)),
    BaselineSpec("ASC", "asc", {}, "ASC"),
    BaselineSpec("ESC", "esc", {}, "ESC"),
    BaselineSpec("Parallel-Probe", "parallel-probe", {}, "Parallel-Probe"),
)
"""The seeds the paper's search starts from (CMC, the paper's result, is left out)."""

MATCHED_BASELINES = ("SC@64", "ASC", "ESC", "Parallel-Probe")
"""Baselines that per-question wins and losses are counted against."""


def cmc_baselines(betas: Iterable[float]) -> tuple[BaselineSpec, ...]:
    return tuple(BaselineSpec(f"CMC(beta={b:g})", "cmc", {"beta": b}, "CMC") for b in betas)


@dataclass(frozen=True)
class BaselineResult:
    """One baseline on one store: per-question accuracy, tokens and sequential tokens,
    averaged over orders."""

    store: str
    name: str
    accuracy: tuple[float, ...]
    tokens: tuple[float, ...]
    seq_tokens: tuple[float, ...]

    @property
    def mean_accuracy(self) -> float:
        return float(np.mean(self.accuracy))

    @property
    def mean_tokens(self) -> float:
        return float(np.mean(self.tokens))

    @property
    def mean_seq_tokens(self) -> float:
        return float(np.mean(self.seq_tokens))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BaselineResult:
        return cls(
            data["store"],
            data["name"],
            tuple(data["accuracy"]),
            tuple(data["tokens"]),
            tuple(data["seq_tokens"]),
        )

    @classmethod
    def from_cell(cls, cell: Cell) -> BaselineResult:
        return cls(
            cell.store.name,
            cell.method,
            tuple(cell.correct.mean(axis=1).tolist()),
            tuple(cell.outcomes.tokens.mean(axis=1).tolist()),
            tuple(cell.outcomes.seq_tokens.mean(axis=1).tolist()),
        )


def baseline_cells(
    stores: Sequence[ReplayStore],
    settings: SweepSettings,
    specs: Sequence[BaselineSpec] = SEARCH_BASELINES,
) -> list[Cell]:
    """The built-in controllers under the candidates' protocol (trusted: run in-process)."""
    plan = [
        Setting(load_policy(spec.policy, spec.config), spec.label, spec.config, spec.series)
        for spec in specs
    ]
    subsets = [settings.subset(store) for store in stores]
    return evaluate_settings(plan, subsets, settings.protocol)


def run_baselines(
    stores: Sequence[ReplayStore],
    settings: SweepSettings,
    specs: Sequence[BaselineSpec] = SEARCH_BASELINES,
) -> list[BaselineResult]:
    return [BaselineResult.from_cell(cell) for cell in baseline_cells(stores, settings, specs)]


def envelope_mean(points: Iterable[tuple[float, float]], low: float, high: float) -> float:
    """Mean over log tokens in [low, high] of the best accuracy reachable within that budget."""
    x_low, x_high = math.log(max(low, 1.0)), math.log(max(high, 1.0))
    ordered = sorted(points)
    if x_high <= x_low:
        return max((acc for tokens, acc in ordered if tokens <= high), default=0.0)
    best, previous, area = 0.0, x_low, 0.0
    for tokens, acc in ordered:
        x = min(max(math.log(max(tokens, 1.0)), x_low), x_high)
        area += best * (x - previous)
        previous = x
        best = max(best, acc)
    area += best * (x_high - previous)
    return area / (x_high - x_low)


def area_scores(
    sweep: Sequence[SweepPoint], baselines: Sequence[BaselineResult]
) -> dict[str, float]:
    """Area score per store that both the sweep and the baselines cover."""
    scores = {}
    for store in dict.fromkeys(point.store for point in sweep):
        reference = [(b.mean_tokens, b.mean_accuracy) for b in baselines if b.store == store]
        if not reference:
            continue
        low = min(tokens for tokens, _ in reference)
        high = max(tokens for tokens, _ in reference)
        mine = [(p.tokens, p.accuracy) for p in sweep if p.store == store]
        scores[store] = envelope_mean(mine, low, high) - envelope_mean(reference, low, high)
    return scores


def overall(scores: dict[str, float]) -> float | None:
    return float(np.mean(list(scores.values()))) if scores else None


@dataclass(frozen=True)
class Matchup:
    """Candidate at the beta whose tokens are closest to a baseline's, question by question
    (matched on total tokens; sequential tokens are shown beside them)."""

    store: str
    baseline: str
    baseline_tokens: float
    baseline_seq_tokens: float
    baseline_accuracy: float
    beta: float
    tokens: float
    seq_tokens: float
    accuracy: float
    wins: tuple[int, ...]
    losses: tuple[int, ...]


def matchups(
    evaluation: Evaluation,
    baselines: Sequence[BaselineResult],
    names: Sequence[str] = MATCHED_BASELINES,
) -> list[Matchup]:
    result = []
    for baseline in baselines:
        points = [p for p in evaluation.sweep if p.store == baseline.store]
        if baseline.name not in names or not points:
            continue
        target = math.log(max(baseline.mean_tokens, 1.0))
        point = min(points, key=lambda p: abs(math.log(max(p.tokens, 1.0)) - target))
        mine = evaluation.correct[(point.store, point.beta)].mean(axis=1)
        theirs = np.asarray(baseline.accuracy)
        result.append(
            Matchup(
                baseline.store,
                baseline.name,
                baseline.mean_tokens,
                baseline.mean_seq_tokens,
                baseline.mean_accuracy,
                point.beta,
                point.tokens,
                point.seq_tokens,
                point.accuracy,
                tuple(int(q) for q in np.flatnonzero(mine > theirs + 1e-9)),
                tuple(int(q) for q in np.flatnonzero(mine < theirs - 1e-9)),
            )
        )
    return result
