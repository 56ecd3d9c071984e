"""What a live run prints: `eval`'s columns, per question and overall, plus wall time and
the tokens the engine really generated; paired differences against a compared method.

Accuracy counts the questions that have a gold answer (none: no accuracy); tokens and
sequential tokens are the replay MDP's on the data generated (what the controller spent);
`generated_k` is everything the engine produced for the method (branch tokens, speculation
included, and probes); `wall_s` is the wall time of the method on the question, all orders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tts_gym.evaluation.protocols import Protocol
from tts_gym.evaluation.stats import PairedComparison, bootstrap_ci, paired_difference
from tts_gym.live.runner import LiveResult, Played


@dataclass(frozen=True)
class Labels:
    """What the rows say the run was: the model and benchmark columns, the store column."""

    model: str
    benchmark: str
    store: str


class MethodSummary:
    """One method's arrays over the questions (in question order)."""

    def __init__(self, method: str, results: Sequence[LiveResult]) -> None:
        self.method = method
        played: list[Played] = [r.played[method] for r in results]
        self.ids = [r.spec.index if r.spec.id is None else r.spec.id for r in results]
        self.has_gold = np.array([bool(r.spec.gold) for r in results])
        self.correct = np.array(
            [
                [a is not None and a == r.spec.gold for a in p.answers]
                for r, p in zip(results, played, strict=True)
            ],
            dtype=bool,
        )
        self.tokens = np.array([p.tokens for p in played], dtype=np.int64)
        self.seq_tokens = np.array([p.seq_tokens for p in played], dtype=np.int64)
        self.wall_s = np.array([p.wall_s for p in played])
        self.generated = np.array([p.generated + p.probe_tokens for p in played], dtype=np.int64)

    def acc_per_question(self) -> np.ndarray:
        return 100.0 * self.correct.mean(axis=1)

    def measures(self, rows: np.ndarray) -> np.ndarray:
        """Per question: accuracy (points), tokens and sequential tokens (thousands)."""
        return np.stack(
            [
                self.acc_per_question()[rows],
                self.tokens[rows].mean(axis=1) / 1000.0,
                self.seq_tokens[rows].mean(axis=1) / 1000.0,
            ],
            axis=1,
        )


def rows(
    results: Sequence[LiveResult],
    methods: Sequence[str],
    protocol: Protocol,
    labels: Labels,
    configs: dict[str, str],
) -> list[dict[str, Any]]:
    """Per method: a row per question, then the overall row (`question` "all"); `configs`:
    each method's settings, as `eval` writes them."""
    out = []
    for method in methods:
        s = MethodSummary(method, results)
        n_orders = s.tokens.shape[1]
        common = {"model": labels.model, "benchmark": labels.benchmark, "method": method}
        tail = {"store": labels.store, "config": configs[method], "protocol": protocol.name}
        for q, question_id in enumerate(s.ids):
            out.append(
                {
                    **common,
                    "question": question_id,
                    "acc": float(s.acc_per_question()[q]) if s.has_gold[q] else None,
                    "tokens_k": float(s.tokens[q].mean()) / 1000.0,
                    "seq_tokens_k": float(s.seq_tokens[q].mean()) / 1000.0,
                    "wall_s": float(s.wall_s[q]),
                    "generated_k": float(s.generated[q]) / 1000.0,
                    **dict.fromkeys(_CI_COLUMNS),
                    **tail,
                    "n_questions": 1,
                    "n_orders": n_orders,
                }
            )
        gold = s.has_gold
        acc = 100.0 * float(s.correct[gold].mean()) if gold.any() else None
        ci: dict[str, Any] = dict.fromkeys(_CI_COLUMNS)
        if protocol.reports_intervals:
            per_q = s.measures(np.arange(len(s.ids)))
            if gold.any():
                ci["acc_lo"], ci["acc_hi"] = bootstrap_ci(per_q[gold, 0], seed=protocol.seed)
            ci["tokens_k_lo"], ci["tokens_k_hi"] = bootstrap_ci(per_q[:, 1], seed=protocol.seed)
            ci["seq_tokens_k_lo"], ci["seq_tokens_k_hi"] = bootstrap_ci(
                per_q[:, 2], seed=protocol.seed
            )
        out.append(
            {
                **common,
                "question": "all",
                "acc": acc,
                "tokens_k": float(s.tokens.mean()) / 1000.0,
                "seq_tokens_k": float(s.seq_tokens.mean()) / 1000.0,
                "wall_s": float(s.wall_s.sum()),
                "generated_k": float(s.generated.sum()) / 1000.0,
                **ci,
                **tail,
                "n_questions": len(s.ids),
                "n_orders": n_orders,
            }
        )
    return out


_CI_COLUMNS = (
    "acc_lo",
    "acc_hi",
    "tokens_k_lo",
    "tokens_k_hi",
    "seq_tokens_k_lo",
    "seq_tokens_k_hi",
)


def compare_methods(
    results: Sequence[LiveResult], a: str, b: str, labels: Labels, seed: int
) -> PairedComparison:
    """B - A over the questions (those with a gold answer, when any has one), paired."""
    sa, sb = MethodSummary(a, results), MethodSummary(b, results)
    rows = np.flatnonzero(sa.has_gold) if sa.has_gold.any() else np.arange(len(sa.ids))
    acc, tokens, seq_tokens = paired_difference(sa.measures(rows), sb.measures(rows), seed=seed)
    if not sa.has_gold.any():
        acc = (float("nan"), (float("nan"), float("nan")))
    return PairedComparison(labels.store, a, b, *acc, *tokens, *seq_tokens)
