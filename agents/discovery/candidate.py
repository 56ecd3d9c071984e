"""Evaluate one candidate exactly as the loop does: sandboxed sweep, then the checks, then scores.

The sandbox returns answers and tokens per (store, beta, question, order); here, in the
trusted process, they are validated, scored against the gold answers, and checked: the same
order gives the same result (a fresh controller replays the first order of every question in
reverse question order), and average tokens do not fall as beta grows (per store, between
neighbouring betas, within `tolerance`, relative).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tts_gym_agents.discovery.sandbox import Limits, run_candidate

from tts_gym.evaluation.protocols import Protocol
from tts_gym.evaluation.runner import Outcomes, score
from tts_gym.store import select_stores
from tts_gym.store.replay import ReplayStore

DEFAULT_BETAS = (0.0, 0.25, 0.5, 0.75, 1.0)
TOKEN_TOLERANCE = 0.02
MAX_MISMATCHES_SHOWN = 3
SEARCH = "a discovery search"
_REPLAY_KEYS = ("answers", "tokens", "traces")


@dataclass(frozen=True)
class SweepSettings:
    """How a candidate is evaluated: the beta sweep, the branch orders, the question subset."""

    betas: tuple[float, ...] = DEFAULT_BETAS
    protocol: Protocol = field(default_factory=lambda: Protocol("default", 20, 0))
    questions: int | None = None  # the first N questions of every store; None: all
    free_knobs: bool = False
    limits: Limits = field(default_factory=Limits)
    tolerance: float = TOKEN_TOLERANCE

    def subset(self, store: ReplayStore) -> ReplayStore:
        if self.questions is None or self.questions >= store.n_questions:
            return store
        return dataclasses.replace(store, questions=store.questions[: self.questions])


@dataclass(frozen=True)
class SweepPoint:
    store: str
    beta: float
    accuracy: float
    tokens: float


@dataclass
class Evaluation:
    """The verdict plus what scoring and feedback need (per-episode results, traces)."""

    ok: bool
    errors: list[str]
    sweep: list[SweepPoint] = field(default_factory=list)
    isolation: dict[str, str] = field(default_factory=dict)
    correct: dict[tuple[str, float], np.ndarray] = field(default_factory=dict)  # [q, order]
    outcomes: dict[tuple[str, float], Outcomes] = field(default_factory=dict)
    replay: list[dict[str, Any]] = field(default_factory=list)  # traced first orders

    def verdict(self) -> dict[str, Any]:
        """The JSON verdict of `check-controller`."""
        return {
            "ok": self.ok,
            "errors": self.errors,
            "sweep": [dataclasses.asdict(point) for point in self.sweep],
            "isolation": self.isolation,
        }


def load_stores(
    specs: Sequence[str], data_dir: str | None = None, *, held_out_ok: bool = False
) -> list[ReplayStore]:
    """Load stores by name, group or path; held-out ones (by name or content) only if allowed."""
    return select_stores(specs, data_dir, refuse_held_out=None if held_out_ok else SEARCH)


def evaluate_candidate(
    path: Path, class_name: str, stores: Sequence[ReplayStore], settings: SweepSettings
) -> Evaluation:
    """Run the candidate in the sandbox, score it here, and apply the checks."""
    stores = [settings.subset(store) for store in stores]
    report = run_candidate(
        path,
        class_name,
        stores,
        betas=settings.betas,
        protocol=settings.protocol,
        free_knobs=settings.free_knobs,
        limits=settings.limits,
    )
    if report.problems:
        return Evaluation(False, report.problems, isolation=report.isolation)
    malformed = Evaluation(
        False, ["the sandbox returned a malformed result."], isolation=report.isolation
    )
    evaluation = Evaluation(True, [], isolation=report.isolation, replay=report.replay)
    by_name = {store.name: store for store in stores}
    expected = [(store.name, beta) for store in stores for beta in settings.betas]
    for items in (report.sweep, report.replay):
        if [(item.get("store"), item.get("beta")) for item in items] != expected:
            return malformed
    for item in report.replay:
        n = by_name[item["store"]].n_questions
        if any(not isinstance(item.get(k), list) or len(item[k]) != n for k in _REPLAY_KEYS):
            return malformed
    for item in report.sweep:
        store = by_name[item["store"]]
        outcomes = _outcomes(item, store.n_questions, settings.protocol.n_orders)
        if outcomes is None:
            return malformed
        key = (store.name, item["beta"])
        evaluation.correct[key] = score(outcomes, store)
        evaluation.outcomes[key] = outcomes
        evaluation.sweep.append(
            SweepPoint(
                store.name,
                item["beta"],
                float(evaluation.correct[key].mean()),
                float(outcomes.tokens.mean()),
            )
        )
    evaluation.errors = _determinism_errors(report.sweep, report.replay) + _monotone_errors(
        evaluation.sweep, settings.tolerance
    )
    evaluation.ok = not evaluation.errors
    return evaluation


def _outcomes(item: dict[str, Any], n_questions: int, n_orders: int) -> Outcomes | None:
    answers, tokens = item.get("answers"), item.get("tokens")
    try:
        array = np.asarray(tokens, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        return None
    if (
        array.shape != (n_questions, n_orders)
        or (array < 0).any()
        or not isinstance(answers, list)
        or len(answers) != n_questions
        or any(not isinstance(row, list) or len(row) != n_orders for row in answers)
        or any(a is not None and not isinstance(a, str) for row in answers for a in row)
    ):
        return None
    return Outcomes(answers, array)


def _determinism_errors(sweep: list[dict], replay: list[dict]) -> list[str]:
    mismatches = []
    for first, again in zip(sweep, replay, strict=True):
        pairs = zip(
            first["answers"], first["tokens"], again["answers"], again["tokens"], strict=False
        )
        for qi, (answers, tokens, answer, spent) in enumerate(pairs):
            if (answers[0], tokens[0]) != (answer, spent):
                mismatches.append(
                    f"question {qi} of {first['store']} at beta={first['beta']}, order 0: "
                    f"{answers[0]!r} with {tokens[0]} tokens, then {answer!r} with {spent} tokens"
                )
    if not mismatches:
        return []
    shown = "; ".join(mismatches[:MAX_MISMATCHES_SHOWN])
    more = len(mismatches) - MAX_MISMATCHES_SHOWN
    return [
        "the same order gave different results when a fresh controller replayed it "
        f"(questions in reverse order): {shown}"
        + (f"; and {more} more" if more > 0 else "")
        + ". Keep no state across questions and draw no unseeded random numbers."
    ]


def _monotone_errors(sweep: list[SweepPoint], tolerance: float) -> list[str]:
    errors = []
    for store in dict.fromkeys(point.store for point in sweep):
        points = sorted((p for p in sweep if p.store == store), key=lambda p: p.beta)
        for low, high in zip(points, points[1:], strict=False):
            if high.tokens < low.tokens * (1 - tolerance):
                errors.append(
                    f"average tokens fall as beta grows on {store}: {low.tokens:,.0f} at "
                    f"beta={low.beta} but {high.tokens:,.0f} at beta={high.beta} "
                    f"(allowed: at most {tolerance:.0%} less); cost must not fall as beta grows."
                )
                break
    return errors
