"""Gymnasium spaces of `TTSControl-v0` that know about action masks."""

from __future__ import annotations

import numpy as np
from gymnasium.spaces import Discrete


class MaskedDiscrete(Discrete):
    """`Discrete` whose unmasked `sample()` draws among the env's currently legal actions.

    A random agent written as `env.action_space.sample()` (Gymnasium's `check_env` is one)
    then plays legal moves; an explicit `mask` or `probability` argument still wins.
    """

    def __init__(self, legal: np.ndarray, seed: int | np.random.Generator | None = None) -> None:
        super().__init__(len(legal), seed=seed)
        self.legal = legal

    def sample(self, mask: np.ndarray | None = None, probability: np.ndarray | None = None):
        if mask is None and probability is None:
            mask = self.legal
        return super().sample(mask=mask, probability=probability)
