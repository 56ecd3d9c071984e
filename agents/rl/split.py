"""Which questions training may see: held-out stores never, a validation split of the rest.

Training stores go through the store selector, which refuses held-out stores (by name, and by
content for files that are catalog stores in disguise) before anything is parsed; the envs
check what they loaded again.
The validation split is one of `folds` fixed folds of every training store's questions
(cross-validation: runs on each fold together validate every question once); the
`QuestionSubset` wrapper keeps an env's episodes inside one side of the split.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from tts_gym.errors import TTSGymError
from tts_gym.evaluation.protocols import numpy_orders
from tts_gym.store import ReplayStore, identify_stores, refuse_held_out_stores

Episode = tuple[int, int]  # (store index, question index)


TRAINING = "training"
FOLD_SEED = 0  # the folds and the validation orders are fixed: every run is scored alike


def check_training_stores(specs: Sequence[str], data_dir: str | None = None) -> list[str]:
    """Expand `specs` and refuse any held-out store (by name or content) before one is parsed."""
    return [ref.spec for ref in identify_stores(specs, data_dir, refuse_held_out=TRAINING)]


def assert_not_held_out(stores: Sequence[ReplayStore]) -> None:
    """The last line of defence: what an env actually loaded is no held-out store."""
    refuse_held_out_stores(stores, TRAINING)


def split_questions(
    stores: Sequence[ReplayStore], folds: int, fold: int
) -> tuple[list[Episode], list[Episode]]:
    """(train, validation) questions: fold `fold` of `folds` of every store is validation.

    Each store's questions are cut into `folds` near-equal folds by one fixed permutation
    (`FOLD_SEED`, not the run's seed), so that runs of every seed and setting that validate on
    fold f validate on the same questions, and the folds of a cross-validation cover every
    question once. A store with one question has no validation share.
    """
    if folds < 2 or not 0 <= fold < folds:
        raise TTSGymError(
            f"the validation fold must be in 0..folds-1 with folds >= 2, got "
            f"fold {fold} of {folds}."
        )
    train: list[Episode] = []
    valid: list[Episode] = []
    for s, store in enumerate(stores):
        n = store.n_questions
        permutation = np.random.default_rng([FOLD_SEED, s]).permutation(n)
        chosen = set(np.array_split(permutation, folds)[fold].tolist()) if n > 1 else set()
        for q in range(n):
            (valid if q in chosen else train).append((s, q))
    return train, valid


def validation_orders(store: int, question: int, n: int, n_orders: int) -> list[list[int]]:
    """The branch orders a validation question is played under: the same for every run."""
    return numpy_orders(n, n_orders, [FOLD_SEED, store, question])


class QuestionSubset(gym.Wrapper):
    """Episodes only from `questions`: drawn at random, or in a fixed cycle of given orders.

    Random mode (training) draws a question uniformly and lets the env draw the branch order.
    Cycle mode (validation) replays `questions` x `orders` in a fixed sequence, so that every
    evaluation of `len(episodes)` episodes scores the same episodes.
    """

    def __init__(
        self,
        env: gym.Env,
        questions: Sequence[Episode],
        *,
        cycle_orders: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__(env)
        if not questions:
            raise TTSGymError("the question subset is empty; lower the validation fraction.")
        self.questions = list(questions)
        self._rng = np.random.default_rng(seed)
        self.episodes: list[dict[str, Any]] = []
        if cycle_orders:
            stores = env.unwrapped.stores
            for s, q in self.questions:
                n_branches = stores[s].questions[q].n_branches
                for order in validation_orders(s, q, n_branches, cycle_orders):
                    self.episodes.append({"store": s, "question": q, "order": order})
        self._next = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if options and "question" in options:
            return self.env.reset(seed=seed, options=options)
        if self.episodes:
            options = self.episodes[self._next % len(self.episodes)]
            self._next += 1
        else:
            if seed is not None:
                self._rng = np.random.default_rng(seed)
            s, q = self.questions[self._rng.integers(len(self.questions))]
            options = {"store": s, "question": q}
        return self.env.reset(seed=seed, options=options)
