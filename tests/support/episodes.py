"""Synthetic edge stores and random masked policies, shared by the engine and env tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tts_gym.engine.actions import ActionKind, action_index
from tts_gym.store.synthetic import generate_store, write_store

EDGE_STORES = {
    "three_branches": dict(n_questions=4, n_branches=3, seed=1),
    "no_probes": dict(n_questions=4, n_branches=6, zero_probe_share=1.0, seed=2),
    "all_err": dict(n_questions=3, n_branches=8, all_err_questions=3, seed=3),
    "confidence": dict(n_questions=5, n_branches=(2, 20), confidence=True, seed=4),
    "mixed": dict(n_questions=6, n_branches=(1, 40), zero_probe_share=0.2, confidence=True, seed=5),
}
"""What the twelve real stores never show: 3 branches, no probes at all, 'ERR' everywhere,
segment confidence, and a mix of 1 to 40 branches with short ones."""

CONFIGS = [
    dict(max_branches=8),
    dict(max_branches=6, reveal_on_continue=False, probe_cost=7, max_parallel=4),
    dict(max_branches=64, budget=20_000, probe_cost=3, reveal_on_continue=False, max_parallel=5),
    dict(max_branches=3, budget=6_000, max_parallel=1),
]
"""MDP settings every equivalence check runs: reveal on and off, probes that cost, budgets,
waves with and without a width cap (`max_parallel`)."""


def write_edge_stores(folder: Path) -> dict[str, str]:
    return {
        name: str(write_store(generate_store(**spec), folder / f"{name}.json"))
        for name, spec in EDGE_STORES.items()
    }


def random_masked_action(
    mask: np.ndarray, rng: np.random.Generator, max_branches: int, stop_weight: float = 0.02
) -> int:
    """A random legal action; ANSWER and SUBMIT get `stop_weight`, so episodes run long."""
    legal = np.flatnonzero(mask)
    first_submit = action_index(ActionKind.SUBMIT, 0, max_branches)
    submits = (legal >= first_submit) & (legal < first_submit + max_branches)
    stops = (legal == ActionKind.ANSWER) | submits
    cumulative = np.cumsum(np.where(stops, stop_weight, 1.0))
    return int(legal[np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right")])
