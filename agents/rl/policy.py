"""A saved SB3 model as a controller for `tts-gym eval` and the evaluation harness.

`load_sb3_policy(DIR/model.zip)` gives an object that is a step policy (`act(obs, info)` on
`TTSControl-v0`, built with `env_kwargs`) and that can also play a whole store in batches
(`play`), which is how the 24,000 episodes of a held-out evaluation stay fast.
Actions are deterministic (the most likely legal macro, or primitive action for a model
trained with `actions="primitive"`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tts_gym_agents.rl.config import CONFIG_FILE, TrainConfig
from tts_gym_agents.rl.evaluate import play_primitive_store, play_store

from tts_gym.control.errors import PolicyLoadError
from tts_gym.control.outcomes import Orders, Outcomes
from tts_gym.env.macro import MacroPlanner, MacroStepPolicy
from tts_gym.store import ReplayStore

MODEL_FILE = "model.zip"


class _Model:
    """A loaded MaskablePPO model and the run config it was trained with."""

    label = "MaskablePPO"

    def __init__(self, model: Any, config: TrainConfig, name: str | None = None) -> None:
        self.model = model
        self.config = config
        self.name = name or f"{self.label}(g={config.token_penalty:g})"
        self.env_kwargs = {"max_branches": config.max_branches}

    def choose(self, obs: dict[str, np.ndarray], masks: np.ndarray) -> np.ndarray:
        """Actions for a batch of observations (deterministic, masked)."""
        actions, _ = self.model.predict(obs, action_masks=masks, deterministic=True)
        return np.asarray(actions)


class SB3Policy(_Model):
    """A MaskablePPO model that picks macros; see `tts_gym.env.macro`."""

    def __init__(self, model: Any, config: TrainConfig, name: str | None = None) -> None:
        super().__init__(model, config, name)
        self._planner = MacroPlanner(config.max_branches, widen=config.widen)
        self._stepper = MacroStepPolicy(self._planner, self._choose_one)

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> int:
        return self._stepper.act(obs, info)

    def play(
        self, store: ReplayStore, orders: Orders, *, questions: Sequence[int] | None = None
    ) -> Outcomes:
        """Every (question, order) of `store`, batched, the macros run inside the compiled
        core; same results as stepping `act`."""
        return play_store(
            self.choose,
            store,
            orders,
            questions=questions,
            max_branches=self.config.max_branches,
            widen=self.config.widen,
        )

    def _choose_one(self, obs: dict[str, np.ndarray], legal: np.ndarray) -> int:
        batch = {key: value[None] for key, value in obs.items()}
        return int(self.choose(batch, legal[None])[0])


class PrimitiveSB3Policy(_Model):
    """A MaskablePPO model trained on `TTSControl-v0`'s own actions."""

    label = "MaskablePPO-primitive"

    def act(self, obs: dict[str, np.ndarray], info: dict[str, Any]) -> int:
        batch = {key: value[None] for key, value in obs.items()}
        return int(self.choose(batch, info["action_mask"][None].astype(bool))[0])

    def play(
        self, store: ReplayStore, orders: Orders, *, questions: Sequence[int] | None = None
    ) -> Outcomes:
        """Every (question, order) of `store` on the vector env, one forward per step."""
        return play_primitive_store(
            self.choose, store, orders, questions=questions, max_branches=self.config.max_branches
        )


def sb3_policy(
    model: Any, config: TrainConfig, name: str | None = None
) -> SB3Policy | PrimitiveSB3Policy:
    """The controller of a model trained with `config` (macro or primitive actions)."""
    kind = SB3Policy if config.actions == "macro" else PrimitiveSB3Policy
    return kind(model, config, name)


def load_scheme(path: str, config: dict[str, Any]) -> SB3Policy | PrimitiveSB3Policy:
    """The `sb3:` policy scheme: `sb3:DIR/model.zip` (registered as an entry point)."""
    if config:
        raise PolicyLoadError(f"policy 'sb3:{path}' takes no --config (its run folder fixes it).")
    return load_sb3_policy(path)


def load_sb3_policy(path: str | Path, name: str | None = None) -> SB3Policy | PrimitiveSB3Policy:
    """Load `DIR/model.zip` (or any .zip in a run folder, or the folder itself).

    The run's `config.json` must sit beside the model. Inference runs on one CPU thread:
    the network is small, and a single thread keeps forked evaluation workers safe.
    """
    try:
        import torch
        from sb3_contrib import MaskablePPO
    except ImportError as error:
        raise PolicyLoadError(
            f"policy 'sb3:{path}' needs the RL extra (pip install 'tts-gym[rl]'): {error}."
        ) from None

    path = Path(path)
    model_path = path / MODEL_FILE if path.is_dir() else path
    if not model_path.is_file():
        raise PolicyLoadError(f"policy 'sb3:{path}': there is no model file {model_path}.")
    if not (model_path.parent / CONFIG_FILE).is_file():
        raise PolicyLoadError(
            f"policy 'sb3:{path}': {CONFIG_FILE} is missing beside {model_path.name}."
        )
    config = TrainConfig.load(model_path.parent)
    torch.set_num_threads(1)
    try:
        model = MaskablePPO.load(model_path, device="cpu")
    except Exception as error:  # a truncated or foreign zip: say which file
        raise PolicyLoadError(f"policy 'sb3:{path}': cannot load {model_path} ({error}).") from None
    return sb3_policy(model, config, name)
