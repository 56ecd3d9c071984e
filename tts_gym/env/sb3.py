"""`SB3VecEnv`: Stable-Baselines3's `VecEnv` over the compiled vector envs.

SB3 steps a `VecEnv`; wrapping single envs in `DummyVecEnv` steps them one by one in Python
(plus `Monitor` and Gymnasium's wrappers around each). `SB3VecEnv` hands SB3 the compiled
vector env instead: one compiled call per step for every sub-env, and only what SB3 reads
built around it. Importing this module imports SB3; `tts_gym.env.SB3VecEnv` imports it on
first use.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvStepReturn

from tts_gym.env.arguments import EnvArgumentError
from tts_gym.env.vector import CompiledVectorEnv


class SB3VecEnv(VecEnv):
    """`num_envs` sub-envs of `TTSControl-v0` (or `TTSControlMacro-v0`) as an SB3 `VecEnv`.

    `SB3VecEnv("TTSControl-v0", num_envs=8, stores=["search"], token_penalty=0.5)` builds the
    compiled vector env of that id with those keyword arguments (`gym.make_vec`, mode
    `vector_entry_point`); an already built `TTSControlVectorEnv` or
    `TTSControlMacroVectorEnv` may be passed instead of the id.

    SB3's contract, as `DummyVecEnv` over `Monitor`-wrapped single envs keeps it: `reset()`
    returns the observations (seeded by `seed(s)` as s + i per sub-env, like `DummyVecEnv`
    seeds its envs, so both give the same episodes); `step` returns observations (fresh
    arrays: SB3 keeps the previous ones), float32 rewards, dones and one info dict per
    sub-env. A sub-env whose episode ended restarts at once (the returned observation is
    the new episode's first), and its info holds `terminal_observation`, `episode` (`r`
    the return, `l` the length, `t` the seconds since this env was built, as `Monitor`
    writes them; hence `env_is_wrapped(Monitor)` is True), `is_success` (= `correct`),
    `correct`, `answer`, `tokens`, `seq_tokens` and `stop_reason`. The other sub-envs' infos
    are empty: nothing is built that SB3 does not read. `action_masks()` (and
    `env_method("action_masks")`, what sb3-contrib's `get_action_masks` calls) gives the
    legal actions, `[N, A]` bool. Masked actions follow the env's `illegal_actions`
    (ignored by default; MaskablePPO never takes one).
    """

    def __init__(
        self, env: str | CompiledVectorEnv = "TTSControl-v0", num_envs: int = 8, **arguments: Any
    ) -> None:
        if isinstance(env, str):
            env = gym.make_vec(
                env, num_envs=num_envs, vectorization_mode="vector_entry_point", **arguments
            )
        elif arguments:
            raise EnvArgumentError("SB3VecEnv takes env arguments with an env id only.")
        if not isinstance(env, CompiledVectorEnv):
            raise EnvArgumentError(
                "SB3VecEnv runs TTSControl-v0 or TTSControlMacro-v0 (their compiled vector "
                f"envs), got {type(env).__name__}."
            )
        self.vector = env
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
        self._actions = np.zeros(self.num_envs, dtype=np.int64)
        self._returns = np.zeros(self.num_envs, dtype=np.float64)
        self._lengths = np.zeros(self.num_envs, dtype=np.int64)
        self._started = time.time()

    # ---- VecEnv API ----------------------------------------------------------------------
    def reset(self) -> dict[str, np.ndarray]:
        seeds = None if all(seed is None for seed in self._seeds) else list(self._seeds)
        options = None
        if any(self._options):
            keys = {key for option in self._options for key in option}
            options = {key: [option.get(key) for option in self._options] for key in keys}
        self.vector.reset(seed=seeds, options=options)
        self._reset_seeds()
        self._reset_options()
        self._returns[:] = 0.0
        self._lengths[:] = 0
        return self.vector.observation()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions[:] = actions

    def step_wait(self) -> VecEnvStepReturn:
        vector = self.vector
        vector.step_arrays(self._actions)
        rewards = vector.rewards()
        self._returns += rewards
        self._lengths += 1
        dones = vector.terminated()
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if dones.any():
            last = vector.observation()
            for i, final in vector.finals():
                final["terminal_observation"] = {key: value[i] for key, value in last.items()}
                final["episode"] = {
                    "r": round(float(self._returns[i]), 6),
                    "l": int(self._lengths[i]),
                    "t": round(time.time() - self._started, 6),
                }
                infos[i] = final
            self._returns[dones] = 0.0
            self._lengths[dones] = 0
            vector.restart_ended()
        return vector.observation(), rewards.astype(np.float32), dones, infos

    def action_masks(self) -> np.ndarray:
        """The legal actions of every sub-env, `[N, A]` bool."""
        return self.vector.action_masks()

    def close(self) -> None:
        self.vector.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The sub-envs share their settings: each one's value is the vector env's."""
        value = getattr(self.vector, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise EnvArgumentError(
            f"SB3VecEnv's sub-envs share their settings; cannot set {attr_name!r}."
        )

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **kwargs: Any
    ) -> list[Any]:
        if method_name != "action_masks":
            raise AttributeError(f"SB3VecEnv's sub-envs have no method {method_name!r}.")
        masks = self.vector.action_masks()
        return [masks[i] for i in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        """True for `Monitor` only: the infos carry `Monitor`'s episode statistics."""
        return [wrapper_class is Monitor for _ in self._get_indices(indices)]

    def draw_from(self, questions: Sequence[tuple[int, int]]) -> None:
        """Episodes come from these (store index, question index) pairs (a training split)."""
        self.vector.draw_from(questions)
