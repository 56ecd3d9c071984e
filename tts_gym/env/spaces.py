"""Gymnasium spaces of `TTSControl-v0` that know about action masks, and its observation space."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from gymnasium.spaces import Discrete, MultiDiscrete

from tts_gym.env.observation import FEATURE_CAP, GLOBAL_FEATURES, SLOT_FEATURES


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


class MaskedMultiDiscrete(MultiDiscrete):
    """The vector env's actions: `sample()` draws, per sub-env, uniformly among its legal
    actions (`legal` is the live `[N, A]` int8 mask)."""

    def __init__(self, legal: np.ndarray, seed: int | np.random.Generator | None = None) -> None:
        super().__init__(np.full(legal.shape[0], legal.shape[1]), seed=seed)
        self.legal = legal

    def sample(self, mask=None, probability=None) -> np.ndarray:
        if mask is not None or probability is not None:
            return super().sample(mask=mask, probability=probability)
        keys = self.np_random.random(self.legal.shape)
        keys[self.legal == 0] = -1.0
        return keys.argmax(axis=1).astype(self.dtype)


def observation_space(max_branches: int, max_answers: int) -> spaces.Dict:
    """One env's observation space (`tts_gym.env.observation` defines the features)."""
    return spaces.Dict(
        {
            "slots": spaces.Box(0.0, FEATURE_CAP, (max_branches, len(SLOT_FEATURES)), np.float32),
            "globals": spaces.Box(0.0, FEATURE_CAP, (len(GLOBAL_FEATURES),), np.float32),
            "answer_id": spaces.Box(-1.0, max_answers, (max_branches,), np.float32),
        }
    )
