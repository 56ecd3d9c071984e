"""Evaluate one candidate exactly as the loop does: source rules, the boundary, checks, scores.

The source rules run here, on the file. The sweep runs through tts-gym's boundary
(`tts_gym.sandbox`): the candidate's process holds only what its own actions
revealed, and every answer, token count and trace is read off the parent's own episodes;
episodes replayed alone in fresh processes must go exactly as in the sweep. Here the knob
rules are applied to the class the sandbox loaded, the answers are scored against the gold,
and average tokens must not fall as beta grows (per store, between neighbouring betas,
within `tolerance`, relative).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tts_gym_agents.discovery import rules

from tts_gym.control.outcomes import Outcomes
from tts_gym.evaluation.protocols import Protocol
from tts_gym.evaluation.score import score
from tts_gym.sandbox import (
    ControllerSetting,
    Limits,
    LoadedClass,
    Rejection,
    bounded,
    run_isolated,
)
from tts_gym.store import select_stores
from tts_gym.store.replay import ReplayStore

DEFAULT_BETAS = (0.0, 0.25, 0.5, 0.75, 1.0)
TOKEN_TOLERANCE = 0.02
SEARCH = "a discovery search"
MAX_TRACE_HEAD, MAX_TRACE_TAIL = 40, 20
PRELOAD = (*sorted(rules.ALLOWED_MODULES - {"__future__"}), rules.VOTING_MODULE)
"""What the sandbox imports before it confines itself (the modules candidates may use)."""


@dataclass(frozen=True)
class SweepSettings:
    """How a candidate is evaluated: the beta sweep, the branch orders, the question subset."""

    betas: tuple[float, ...] = DEFAULT_BETAS
    protocol: Protocol = field(default_factory=lambda: Protocol("default", 20, 0))
    questions: int | None = None  # the first N questions of every store; None: all
    free_knobs: bool = False
    limits: Limits = field(default_factory=Limits)
    tolerance: float = TOKEN_TOLERANCE
    allow_missing_layers: bool = False  # score where the sandbox's core layers are missing

    def subset(self, store: ReplayStore) -> ReplayStore:
        if self.questions is None or self.questions >= store.n_questions:
            return store
        return dataclasses.replace(store, questions=store.questions[: self.questions])


@dataclass(frozen=True)
class SweepPoint:
    store: str
    beta: float
    accuracy: float
    tokens: float  # mean per episode
    seq_tokens: float  # mean sequential tokens per episode (the latency proxy)


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
    replayed: int = 0  # episodes replayed alone in a fresh process

    def verdict(self) -> dict[str, Any]:
        """The JSON verdict of `check-controller`."""
        return {
            "ok": self.ok,
            "errors": self.errors,
            "sweep": [dataclasses.asdict(point) for point in self.sweep],
            "isolation": self.isolation,
            "replayed": self.replayed,
        }


def load_stores(
    specs: Sequence[str], data_dir: str | None = None, *, held_out_ok: bool = False
) -> list[ReplayStore]:
    """Load stores by name, group or path; held-out ones (by name or content) only if allowed."""
    return select_stores(specs, data_dir, refuse_held_out=None if held_out_ok else SEARCH)


def evaluate_candidate(
    path: Path,
    class_name: str,
    stores: Sequence[ReplayStore],
    settings: SweepSettings,
) -> Evaluation:
    """Check the source, play the sweep through the boundary, score it here, check it."""
    source = path.read_text(encoding="utf-8", errors="replace")
    problems = bounded(rules.source_problems(source, path.name))
    if problems:
        return Evaluation(False, problems)
    stores = [settings.subset(store) for store in stores]

    def configure(loaded: LoadedClass) -> list[ControllerSetting]:
        style, knob_problems = rules.knob_style(loaded, settings.free_knobs)
        if knob_problems or style is None:
            raise Rejection(*bounded(knob_problems))
        return [
            ControllerSetting(f"beta={beta:g}", rules.construction(style, beta))
            for beta in settings.betas
        ]

    run = run_isolated(
        path,
        class_name,
        stores,
        settings.protocol,
        configure,
        trace_orders=1,
        limits=settings.limits,
        allow_missing_layers=settings.allow_missing_layers,
        preload=PRELOAD,
    )
    if not run.ok:
        return Evaluation(False, run.problems, isolation=run.isolation, replayed=run.replayed)
    read = set().union(*run.reads) if run.reads else set()
    problems = bounded(rules.config_problems(read, settings.free_knobs))
    if problems:
        return Evaluation(False, problems, isolation=run.isolation, replayed=run.replayed)
    evaluation = Evaluation(True, [], isolation=run.isolation, replayed=run.replayed)
    for s, store in enumerate(stores):
        for k, beta in enumerate(settings.betas):
            outcomes = run.outcomes[(s, k)]
            key = (store.name, beta)
            evaluation.correct[key] = score(outcomes, store)
            evaluation.outcomes[key] = outcomes
            evaluation.sweep.append(
                SweepPoint(
                    store.name,
                    beta,
                    float(evaluation.correct[key].mean()),
                    float(outcomes.tokens.mean()),
                    float(outcomes.seq_tokens.mean()),
                )
            )
            evaluation.replay.append(
                {
                    "store": store.name,
                    "beta": beta,
                    "traces": [_cap(row[0]) for row in outcomes.traces],
                }
            )
    evaluation.errors = _monotone_errors(evaluation.sweep, settings.tolerance)
    evaluation.ok = not evaluation.errors
    return evaluation


def _cap(trace: dict[str, Any]) -> dict[str, Any]:
    """Keep the head and the tail of a long episode's actions, and every answer it saw."""
    actions = trace["actions"]
    seen = set()
    for action in actions:  # a batch call's record reveals a list (one answer per branch)
        revealed = action["revealed"]
        seen.update(revealed if isinstance(revealed, list) else [revealed])
    seen.discard(None)
    trace = {**trace, "seen": sorted(seen)}
    if len(actions) > MAX_TRACE_HEAD + MAX_TRACE_TAIL:
        omitted = len(actions) - MAX_TRACE_HEAD - MAX_TRACE_TAIL
        trace = {
            **trace,
            "actions": actions[:MAX_TRACE_HEAD] + actions[-MAX_TRACE_TAIL:],
            "omitted": {"after": MAX_TRACE_HEAD, "count": omitted},
        }
    return trace


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
