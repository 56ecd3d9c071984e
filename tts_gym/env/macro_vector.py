"""`TTSControlMacroVectorEnv`: N `TTSControlMacro-v0` episodes, one compiled call per decision.

`gym.make_vec("TTSControlMacro-v0", num_envs=N)` returns it. Each `step` runs every sub-env's
macro, all its primitive actions included, in one call of `tts_gym.env.macro_core`; the same
seed gives the same episodes as `vectorization_mode="sync"` (N `TTSControlMacroEnv`s).
"""

from __future__ import annotations

from collections.abc import Sequence
from inspect import Parameter
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from tts_gym.engine.core.layout import KIND, SEQ_TOKENS, TOKENS
from tts_gym.env.arguments import (
    MAX_SLOTS,
    ConfiguredEnv,
    EnvArgumentError,
    EnvConfig,
    args_section,
    checked_options,
    document,
    is_integer,
    load_env_stores,
)
from tts_gym.env.macro import N_MACROS, WIDEN, Macro, MacroPlanner
from tts_gym.env.macro_core import (
    ANSWER_ID,
    CORRECT,
    ENDED,
    GLOBAL_QUESTION,
    ILLEGAL,
    NEXT_STEP,
    PRIMITIVES,
    MacroBatch,
    answer_text,
)
from tts_gym.env.spaces import observation_space
from tts_gym.env.tts_control import OPTION_KEYS, STOP_REASONS
from tts_gym.env.vector import pinned_episodes, sub_env_generators
from tts_gym.errors import IllegalActionError
from tts_gym.store import ReplayStore


class TTSControlMacroVectorEnv(VectorEnv, ConfiguredEnv):
    """`num_envs` episodes of `TTSControlMacro-v0` as one Gymnasium vector env.

        Spaces: `single_*` are `TTSControlMacro-v0`'s (`Discrete(4)`; `Dict` of `globals` [10]
        and `summary` [7]); `action_space` is `MultiDiscrete([4] * N)`, `observation_space` the
        batched `Dict`. Step: one macro per sub-env (an integer array `[N]`); masked macros are
        ignored (reward 0, `info["illegal"]`) or refused with `illegal_actions="raise"` (then no
        sub-env moves). Autoreset, seeding and pinning (`reset(options=...)`, one entry per
        sub-env) are `TTSControlVectorEnv`'s: next-step autoreset; `reset(seed=s)` seeds sub-env
        i with s + i and each draws its episodes from its own `np_random` as the single env does.
        Info: `action_mask` (the legal macros, int8 `[N, 4]`), `tokens`, `seq_tokens`,
        `primitive_steps`, each with its `_key` mask; `illegal` when some sub-env ignored its
        macro; `answer`, `correct`, `is_success`, `stop_reason` masked to the sub-envs that ended.
        `action_masks()` gives the legal macros as `[N, 4]` bool.

        Args: `num_envs`, `widen` (branches a WIDEN opens, 1..64, default 4) and the keyword
        arguments of `TTSControl-v0` (`reveal_on_continue` True, `render_mode` None, `engine`
        "compiled"):
    {args}
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, num_envs: int = 1, *, widen: int = 4, **arguments: Any) -> None:
        config = EnvConfig.checked(arguments, "TTSControlMacroVectorEnv")
        if not is_integer(num_envs) or not 1 <= num_envs <= MAX_SLOTS // config.max_branches:
            raise EnvArgumentError(
                f"num_envs must be an integer in 1..{MAX_SLOTS // config.max_branches}, "
                f"got {num_envs!r}."
            )
        for name, wanted in (("reveal_on_continue", True), ("render_mode", None)):
            if getattr(config, name) != wanted:
                raise EnvArgumentError(f"the macro vector env needs {name}={wanted!r}.")
        if config.engine != "compiled":
            raise EnvArgumentError("the macro vector env runs the compiled core only.")
        self.config = config
        self.num_envs = int(num_envs)
        self.render_mode = None
        self.stores: tuple[ReplayStore, ...] = load_env_stores(config)
        self.core = MacroBatch(
            self.stores,
            self.num_envs,
            max_branches=config.max_branches,
            widen=WIDEN.check("widen", widen),
            probe_cost=config.probe_cost,
            budget=config.budget,
            max_parallel=config.max_parallel,
        )
        self._strict = config.illegal_actions == "raise"
        self.single_observation_space = MacroPlanner.observation_space(
            observation_space(config.max_branches)
        )
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.single_action_space = spaces.Discrete(N_MACROS)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._everyone = np.ones(self.num_envs, dtype=bool)
        self._everyone.flags.writeable = False
        self._stop_reasons = {int(kind): reason for kind, reason in STOP_REASONS.items()}
        self._started = False

    # ---- Gymnasium API -------------------------------------------------------------------
    def reset(
        self,
        *,
        seed: int | Sequence[int] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if seed is not None or not self._started:
            generators = sub_env_generators(seed, self.num_envs)
            super().reset(seed=seed if is_integer(seed) else None)
            self.core.use_generators(generators)
        questions, orders = pinned_episodes(
            self.stores,
            self.core.batch.tables,
            checked_options(options, OPTION_KEYS),
            self.num_envs,
        )
        for i in range(self.num_envs):
            self.core.stage(i, int(questions[i]), orders[i])
        self.core.start(np.arange(self.num_envs))
        for i in range(self.num_envs):
            self.core.stage(i)  # autoresets draw
        self._started = True
        return self.observation(), self._info()[1]

    def step(
        self, actions: Any
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        self.step_arrays(actions)
        terminated, info = self._info()
        return (
            self.observation(),
            self.core.returns.copy(),
            terminated,
            np.zeros(self.num_envs, dtype=bool),
            info,
        )

    def action_masks(self) -> np.ndarray:
        """Legal macros of every sub-env, `[N, 4]` bool."""
        return self.core.legal.copy()

    def get_wrapper_attr(self, name: str) -> Any:
        """An attribute of this env (sb3-contrib's `get_action_masks` reads `action_masks`)."""
        return getattr(self, name)

    def draw_from(self, questions: Sequence[tuple[int, int]]) -> None:
        """Drawn episodes come from these (store index, question index) pairs, uniformly."""
        tables = self.core.batch.tables
        self.core.draw_from([tables.global_question(s, q) for s, q in questions])

    # ---- the steps SB3VecEnv builds on ---------------------------------------------------
    def step_arrays(self, actions: Any) -> None:
        """Run every sub-env's macro (checks, one compiled call, the refusal)."""
        array = np.asarray(actions)
        if array.dtype.kind not in "iu" or array.shape != (self.num_envs,):
            raise TypeError(
                f"macros are integers, an int array of shape [{self.num_envs}]; got "
                f"{array.dtype} {array.shape}."
            )
        if not self._started:
            raise RuntimeError("call reset() before step().")
        if ((array < 0) | (array >= N_MACROS)).any():
            i = int(np.flatnonzero((array < 0) | (array >= N_MACROS))[0])
            raise IllegalActionError(f"sub-env {i}: macro {array[i]} is outside 0..3.")
        refused = self.core.step(
            array,
            token_penalty=self.token_penalty,
            latency_penalty=self.latency_penalty,
            autoreset=NEXT_STEP,
            strict=self._strict,
        )
        if refused >= 0:
            macro = Macro(int(array[refused])).name
            raise IllegalActionError(f"sub-env {refused}: macro {macro} is masked in this state.")

    def observation(self, copy: bool = True) -> dict[str, np.ndarray]:
        core = self.core
        if copy:
            return {"globals": core.globals.copy(), "summary": core.summary.copy()}
        return {"globals": core.globals, "summary": core.summary}

    def terminated(self) -> np.ndarray:
        """Which sub-envs' episodes ended on the last step."""
        return self.core.outcome[:, ENDED] == 1

    def finals(self) -> list[tuple[int, dict[str, Any]]]:
        """(i, the final info of sub-env i) for every sub-env whose episode ended."""
        return [(i, self._final(i)) for i in np.flatnonzero(self.terminated()).tolist()]

    def _final(self, i: int) -> dict[str, Any]:
        outcome, episode = self.core.outcome[i], self.core.batch.episodes[i]
        correct = bool(outcome[CORRECT])
        return {
            "answer": answer_text(
                self.core, int(outcome[GLOBAL_QUESTION]), int(outcome[ANSWER_ID])
            ),
            "correct": correct,
            "is_success": correct,
            "tokens": int(episode[TOKENS]),
            "seq_tokens": int(episode[SEQ_TOKENS]),
            "stop_reason": self._stop_reasons.get(int(episode[KIND])),
        }

    def rewards(self) -> np.ndarray:
        """The rewards of the last step (summed over each macro's primitive actions)."""
        return self.core.returns

    def restart_ended(self) -> None:
        """Start a new (drawn) episode now in every sub-env whose episode has ended."""
        self.core.restart_ended()

    # ---- helpers -------------------------------------------------------------------------
    def _info(self) -> tuple[np.ndarray, dict[str, Any]]:
        core = self.core
        episodes, outcome = core.batch.episodes, core.outcome
        terminated = self.terminated()
        everyone = self._everyone
        info: dict[str, Any] = {
            "action_mask": core.legal.astype(np.int8),
            "tokens": episodes[:, TOKENS].copy(),
            "seq_tokens": episodes[:, SEQ_TOKENS].copy(),
            "primitive_steps": outcome[:, PRIMITIVES].copy(),
        }
        for key in list(info):
            info[f"_{key}"] = everyone
        illegal = outcome[:, ILLEGAL] == 1
        if illegal.any():
            info["illegal"], info["_illegal"] = illegal, illegal
        if terminated.any():
            finals = self.finals()
            for key in ("answer", "correct", "is_success", "stop_reason"):
                values = (
                    np.zeros(self.num_envs, dtype=bool)
                    if key in ("correct", "is_success")
                    else np.full(self.num_envs, None, dtype=object)
                )
                for i, final in finals:
                    values[i] = final[key]
                info[key], info[f"_{key}"] = values, terminated
        return terminated, info


TTSControlMacroVectorEnv.__doc__ = TTSControlMacroVectorEnv.__doc__.replace(
    "{args}", args_section()
)
document(
    TTSControlMacroVectorEnv.__init__,
    [
        Parameter("num_envs", Parameter.POSITIONAL_OR_KEYWORD, default=1),
        Parameter("widen", Parameter.KEYWORD_ONLY, default=4),
    ],
)
