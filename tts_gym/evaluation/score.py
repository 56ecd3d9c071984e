"""Correctness of what a controller answered: the one place gold answers meet outcomes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tts_gym.control.outcomes import Outcomes
from tts_gym.store.replay import ReplayStore


def score(
    outcomes: Outcomes, store: ReplayStore, questions: Sequence[int] | None = None
) -> np.ndarray:
    """Correct per (question, order) as a bool array; `.mean(axis=1)` is per question.

    `questions`: the store's questions the outcomes cover, in order (default: all of them).
    """
    indices = range(store.n_questions) if questions is None else questions
    if outcomes.n_questions != len(indices):
        raise ValueError(
            f"outcomes cover {outcomes.n_questions} questions, {len(indices)} were expected."
        )
    golds = [store.questions[q].gold for q in indices]
    return np.array(
        [
            [answer is not None and answer == gold for answer in row]
            for row, gold in zip(outcomes.answers, golds, strict=True)
        ],
        dtype=bool,
    ).reshape(outcomes.tokens.shape)
