"""The validation protocol: how runs are scored and ranked, on the search stores alone.

A run validates on one fold of the training stores' questions (`split_questions`), each
question under the same `valid_orders` branch orders in every run (`validation_orders`), and
CMC, the controller to beat, plays exactly the same episodes. A point's *margin* is its
accuracy minus CMC's curve at its tokens: the line through CMC(beta=0.5) and CMC(beta=1.0) in
log tokens (extended past the two points), in percentage points. Margins compare runs across
folds (a hard fold lowers both) and across cost levels (a cheaper run is not penalised for
being cheap). A cross-validation pools the folds' episodes: with one run per fold, every
question of the training stores is validated once, by a model that never trained on it.
`on_curve` is the issue's acceptance rule on one point. Nothing here reads a held-out store.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from tts_gym_agents.rl.split import Episode, validation_orders

from tts_gym.control.builtin import ConfidenceMomentum
from tts_gym.evaluation.compiled import run_compiled
from tts_gym.evaluation.score import score
from tts_gym.store import ReplayStore

REFERENCE = (ConfidenceMomentum(0.5), ConfidenceMomentum(1.0))
"""CMC's two points that define the curve (low cost, high cost)."""

Summary = dict[str, Any]  # name, episodes, acc (percent), tokens_k, seq_tokens_k[, reward]
Penalties = tuple[float, float]  # (token, latency) per million tokens


def summary(
    name: str,
    correct: np.ndarray,
    tokens: np.ndarray,
    seq_tokens: np.ndarray,
    penalties: Penalties | None = None,
) -> Summary:
    acc, mean_tokens, mean_seq = (
        float(correct.mean()),
        float(tokens.mean()),
        float(seq_tokens.mean()),
    )
    out = {
        "name": name,
        "episodes": int(correct.size),
        "acc": round(100 * acc, 2),  # percent, as in `tts-gym eval`
        "tokens_k": round(mean_tokens / 1000, 1),
        "seq_tokens_k": round(mean_seq / 1000, 1),
    }
    if penalties is not None:
        token_penalty, latency_penalty = penalties
        cost = token_penalty * mean_tokens / 1e6 + latency_penalty * mean_seq / 1e6
        out["reward"] = round(acc - cost, 4)
    return out


def validation_report(
    policy: Any,
    stores: Sequence[ReplayStore],
    questions: Sequence[Episode],
    n_orders: int,
    penalties: Penalties,
) -> dict[str, Any]:
    """`policy` and CMC's reference points on the validation episodes: per store, overall,
    and the overall margin over CMC's curve."""
    played: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    per_store = []
    for s, store in enumerate(stores):
        indices = [q for t, q in questions if t == s]
        if not indices:
            continue

        def orders(q: int, n: int, s: int = s) -> list[list[int]]:
            return validation_orders(s, q, n, n_orders)

        outcomes = policy.play(store, orders, questions=indices)
        rows = (score(outcomes, store, indices), outcomes.tokens, outcomes.seq_tokens)
        played.setdefault("policy", []).append(rows)
        per_store.append(summary(store.name, *rows, penalties))
        for reference, out in zip(REFERENCE, run_compiled(REFERENCE, [store], orders), strict=True):
            every = score(out[0], store)
            played.setdefault(reference.name, []).append(
                (every[indices], out[0].tokens[indices], out[0].seq_tokens[indices])
            )
    overall = summary("validation", *_pool(played["policy"]), penalties)
    references = [summary(r.name, *_pool(played[r.name])) for r in REFERENCE]
    return {
        "overall": overall,
        "stores": per_store,
        "reference": references,
        "margin": round(margin(overall, *references), 2),
        "on_curve": on_curve(overall, *references),
    }


def cross_validation(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pool the validation reports of runs on different folds (episode-weighted means)."""
    overall = _weighted([report["overall"] for report in reports], "cross-validation")
    references = [
        _weighted([report["reference"][k] for report in reports], r.name)
        for k, r in enumerate(REFERENCE)
    ]
    return {
        "overall": overall,
        "reference": references,
        "margin": round(margin(overall, *references), 2),
        "on_curve": on_curve(overall, *references),
    }


def line_accuracy(tokens_k: float, low: Summary, high: Summary) -> float:
    """CMC's curve at `tokens_k`: accuracy (percent) on the line through `low` and `high`
    in log tokens (where both spend the same tokens, the better of the two: a flat curve)."""
    x0, x1 = math.log(low["tokens_k"]), math.log(high["tokens_k"])
    if x1 == x0:
        return max(low["acc"], high["acc"])
    t = (math.log(tokens_k) - x0) / (x1 - x0)
    return low["acc"] + t * (high["acc"] - low["acc"])


def margin(point: Summary, low: Summary, high: Summary) -> float:
    """Percentage points above (> 0) or below CMC's curve at the point's tokens."""
    return point["acc"] - line_accuracy(point["tokens_k"], low, high)


def on_curve(point: Summary, low: Summary, high: Summary) -> bool:
    """The acceptance rule: at least `low`'s accuracy with no more of its tokens, or at
    least `high`'s with no more of its tokens, or between them on or above the line."""
    acc, tokens = point["acc"], point["tokens_k"]
    if acc >= low["acc"] and tokens <= low["tokens_k"]:
        return True
    if acc >= high["acc"] and tokens <= high["tokens_k"]:
        return True
    between = low["tokens_k"] <= tokens <= high["tokens_k"]
    return between and acc >= line_accuracy(tokens, low, high)


def _pool(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    return [np.concatenate([part[k].ravel() for part in parts]) for k in range(3)]


def _weighted(summaries: Sequence[Summary], name: str) -> Summary:
    weights = np.array([s["episodes"] for s in summaries], dtype=float)
    out = {"name": name, "episodes": int(weights.sum())}
    for key, digits in (("acc", 2), ("tokens_k", 1), ("seq_tokens_k", 1)):
        values = np.array([s[key] for s in summaries], dtype=float)
        out[key] = round(float(values @ weights / weights.sum()), digits)
    return out
