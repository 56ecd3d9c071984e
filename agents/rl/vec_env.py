"""An SB3 `VecEnv` of macro episodes on the compiled core: one call per agent decision.

`MacroVecEnv` is what `tts-gym train` trains and validates on by default (`vec_env="core"`):
N episodes of `TTSControlMacro-v0` in one process, each `step` one compiled call that runs
every env's macro (`tts_gym.env.macro_core`). Beyond `tts_gym.env.SB3VecEnv` over the macro
vector env, it plays a training split's questions in the order `QuestionSubset` gives them
and cycles the validation split's fixed episodes. Wrap it in SB3's `VecMonitor` for episode
statistics (`macro_vec_env` does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv, VecMonitor
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvStepReturn
from tts_gym_agents.rl.split import validation_orders

from tts_gym.env.macro import N_MACROS, Macro, MacroPlanner
from tts_gym.env.macro_core import (
    ANSWER_ID,
    CORRECT,
    ENDED,
    GLOBAL_QUESTION,
    SAME_STEP,
    TOKENS_SPENT,
    MacroBatch,
    answer_text,
)
from tts_gym.env.spaces import observation_space
from tts_gym.errors import IllegalActionError, TTSGymError
from tts_gym.store import ReplayStore

Question = tuple[int, int]  # (store index, question index)


class MacroVecEnv(VecEnv):
    """`num_envs` episodes of `TTSControl-v0` seen through macros, stepped in one compiled call.

    Action space: `Discrete(8)` per env (`Macro`); `action_masks()` (and
    `env_method("action_masks")`, what sb3-contrib's MaskablePPO calls) gives the legal
    macros, `[N, 8]` bool. A masked macro raises
    `IllegalActionError` naming the env, and then no env moves.

    Observation: `Dict` of `globals` `[N, 10]` (the env's) and `summary` `[N, 12]`
    (`SUMMARY_FEATURES`), float32: `MacroPlanner.policy_observation`, bit for bit.

    Reward: the env's rewards summed over the macro's primitive actions, so an episode's
    return is `correct - (token_penalty * tokens + latency_penalty * seq_tokens) / 1e6`.
    Episode end: ANSWER or SUBMIT_FINISHED; nothing truncates. SB3's autoreset: the step
    that ends an episode returns the next episode's first observation; its info holds
    `terminal_observation`, `answer` (string or None), `correct`, `is_success` (= correct)
    and `tokens`. Other infos are empty.

    Episodes: `questions` lists the (store index, question index) pairs episodes are drawn
    from. Without `cycle_orders`, each env draws a question uniformly from them and its
    branch order as it opens branches, from its own random stream: env i is seeded with
    `seed + i`, and `seed(s)` (SB3's) reseeds it with `s + i` at the next `reset()`. With
    `cycle_orders = K`, the envs replay the fixed episodes `questions x K orders` (the orders
    of `QuestionSubset`'s cycle mode), env i a block of `(E + i) // N` of the E episodes in
    turn, which is how SB3's `evaluate_policy` counts them: an evaluation of E episodes after
    `reset()` plays every fixed episode once.

    Args: `stores` (loaded; an env over held-out stores is refused by the training code,
    not here), `questions`, `num_envs`, `max_branches`, `token_penalty`,
    `latency_penalty`, `widen` (branches a WIDEN opens), `patience` (rounds off the leader
    before PRUNE drops a branch), `cycle_orders`, `seed`.
    """

    def __init__(
        self,
        stores: Sequence[ReplayStore],
        questions: Sequence[Question],
        num_envs: int,
        *,
        max_branches: int = 64,
        token_penalty: float = 0.5,
        latency_penalty: float = 0.0,
        widen: int = 4,
        patience: int = 8,
        cycle_orders: int = 0,
        seed: int = 0,
    ) -> None:
        if not questions:
            raise TTSGymError("the question subset is empty; lower the validation fraction.")
        self.core = MacroBatch(
            stores, num_envs, max_branches=max_branches, widen=widen, patience=patience
        )
        self.token_penalty = float(token_penalty)
        self.latency_penalty = float(latency_penalty)
        self.render_mode = None
        tables = self.core.batch.tables
        global_questions = [tables.global_question(s, q) for s, q in questions]
        self._blocks: list[list[tuple[int, list[int]]]] = []
        if cycle_orders:
            episodes = [
                (g, order)
                for (s, q), g in zip(questions, global_questions, strict=True)
                for order in validation_orders(
                    s, q, stores[s].questions[q].n_branches, cycle_orders
                )
            ]
            if num_envs > len(episodes):
                raise TTSGymError(
                    f"{num_envs} envs cannot share {len(episodes)} fixed episodes; use fewer."
                )
            first = 0
            for i in range(num_envs):
                size = (len(episodes) + i) // num_envs
                self._blocks.append(episodes[first : first + size])
                first += size
        else:
            self.core.draw_from(global_questions)
        self._cursors = [0] * num_envs
        self.core.seed_each([seed + i for i in range(num_envs)])
        env_space = observation_space(max_branches)
        super().__init__(
            num_envs, MacroPlanner.observation_space(env_space), spaces.Discrete(N_MACROS)
        )
        self._actions = np.zeros(num_envs, dtype=np.int64)

    # ---- VecEnv API ----------------------------------------------------------------------
    def reset(self) -> dict[str, np.ndarray]:
        if any(seed is not None for seed in self._seeds):
            self.core.seed_each([0 if seed is None else seed for seed in self._seeds])
        if any(self._options):
            raise TTSGymError(
                "MacroVecEnv takes no reset options: its episodes are drawn or cycled."
            )
        self._reset_seeds()
        self._cursors = [0] * self.num_envs
        everyone = np.arange(self.num_envs)
        for i in everyone:
            self._stage(i)
        self.core.start(everyone)
        for i in everyone:
            self._stage(i)
        return self._observation()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions[:] = actions

    def step_wait(self) -> VecEnvStepReturn:
        core = self.core
        refused = core.step(
            self._actions,
            token_penalty=self.token_penalty,
            latency_penalty=self.latency_penalty,
            autoreset=SAME_STEP,
        )
        if refused >= 0:
            macro = Macro(int(self._actions[refused])).name
            raise IllegalActionError(f"sub-env {refused}: macro {macro} is masked in this state.")
        ended = core.outcome[:, ENDED] == 1
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i in np.flatnonzero(ended):
            outcome = core.outcome[i]
            correct = bool(outcome[CORRECT])
            infos[i] = {
                "terminal_observation": {
                    "globals": core.terminal_globals[i].copy(),
                    "summary": core.terminal_summary[i].copy(),
                },
                "answer": answer_text(core, int(outcome[GLOBAL_QUESTION]), int(outcome[ANSWER_ID])),
                "correct": correct,
                "is_success": correct,  # SB3's eval callback reports it as its success rate
                "tokens": int(outcome[TOKENS_SPENT]),
            }
            self._stage(i)
        return self._observation(), core.returns.astype(np.float32), ended, infos

    def action_masks(self) -> np.ndarray:
        """Legal macros of every env, `[N, 4]` bool."""
        return self.core.legal.copy()

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The envs share their settings: every env's value is this object's attribute."""
        value = getattr(self, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise TTSGymError(f"MacroVecEnv's envs share their settings; cannot set '{attr_name}'.")

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **kwargs: Any
    ) -> list[Any]:
        if method_name != "action_masks":
            raise AttributeError(f"MacroVecEnv's envs have no method '{method_name}'.")
        masks = self.core.legal
        return [masks[i].copy() for i in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    # ---- helpers -------------------------------------------------------------------------
    def _stage(self, i: int) -> None:
        """Env i's next episode: drawn, or the next of its block."""
        if self._blocks:
            block = self._blocks[i]
            question, order = block[self._cursors[i] % len(block)]
            self._cursors[i] += 1
            self.core.stage(i, question, order)

    def _observation(self) -> dict[str, np.ndarray]:
        return {"globals": self.core.globals.copy(), "summary": self.core.summary.copy()}


def macro_vec_env(
    stores: Sequence[ReplayStore], questions: Sequence[Question], num_envs: int, **kwargs: Any
) -> VecMonitor:
    """A `MacroVecEnv` in SB3's `VecMonitor` (episode return and length in the final infos)."""
    return VecMonitor(MacroVecEnv(stores, questions, num_envs, **kwargs))
