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

from tts_gym.engine.core.layout import KIND, SEQ_TOKENS, TOKENS
from tts_gym.env.arguments import (
    EnvArgumentError,
    args_section,
    document,
)
from tts_gym.env.macro import N_MACROS, PATIENCE, WIDEN, Macro, MacroPlanner
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
from tts_gym.env.tts_control import STOP_REASONS
from tts_gym.env.vector import CompiledVectorEnv
from tts_gym.errors import IllegalActionError


class TTSControlMacroVectorEnv(CompiledVectorEnv):
    """`num_envs` episodes of `TTSControlMacro-v0` as one Gymnasium vector env.

    Spaces: `single_*` are `TTSControlMacro-v0`'s (`Discrete(8)`; `Dict` of `globals` [10]
    and `summary` [12]); `action_space` is `MultiDiscrete([8] * N)`, `observation_space` the
    batched `Dict`. Step: one macro per sub-env (an integer array `[N]`); masked macros are
    ignored (reward 0, `info["illegal"]`) or refused with `illegal_actions="raise"` (then no
    sub-env moves). Autoreset, seeding and pinning (`reset(options=...)`, one entry per
    sub-env) are `TTSControlVectorEnv`'s: next-step autoreset; `reset(seed=s)` seeds sub-env
    i with s + i and each draws its episodes from its own `np_random` as the single env does.
    Info: `action_mask` (the legal macros, int8 `[N, 8]`), `tokens`, `seq_tokens`,
    `primitive_steps`, each with its `_key` mask; `illegal` when some sub-env ignored its
    macro; `answer`, `correct`, `is_success`, `stop_reason` masked to the sub-envs that ended.
    `action_masks()` gives the legal macros as `[N, 8]` bool.

    Args: `num_envs`, `widen` (branches a WIDEN opens, 1..64, default 4), `patience` (rounds
    off the leader before PRUNE drops a branch, 1..64, default 8) and the keyword
    arguments of `TTSControl-v0` (`reveal_on_continue` True, `render_mode` None, `engine`
    "compiled"):
        {args}
    """

    def __init__(
        self, num_envs: int = 1, *, widen: int = 4, patience: int = 8, **arguments: Any
    ) -> None:
        config = self._configure(num_envs, arguments)
        if not config.reveal_on_continue:
            raise EnvArgumentError(
                "macro actions need reveal_on_continue=True (ADVANCE must reveal)."
            )
        self.core = MacroBatch(
            self.stores,
            self.num_envs,
            max_branches=config.max_branches,
            widen=WIDEN.check("widen", widen),
            patience=PATIENCE.check("patience", patience),
            probe_cost=config.probe_cost,
            budget=config.budget,
            max_parallel=config.max_parallel,
        )
        self.tables = self.core.batch.tables
        env_space = observation_space(config.max_branches)
        self._spaces(MacroPlanner.observation_space(env_space), spaces.Discrete(N_MACROS))
        self._stop_reasons = {int(kind): reason for kind, reason in STOP_REASONS.items()}

    # ---- Gymnasium API -------------------------------------------------------------------
    def action_masks(self) -> np.ndarray:
        """Legal macros of every sub-env, `[N, 8]` bool."""
        return self.core.legal.copy()

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
        self._check_started()
        if ((array < 0) | (array >= N_MACROS)).any():
            i = int(np.flatnonzero((array < 0) | (array >= N_MACROS))[0])
            raise IllegalActionError(f"sub-env {i}: macro {array[i]} is outside 0..{N_MACROS - 1}.")
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
    def _use_generators(self, generators: Sequence[np.random.Generator]) -> None:
        self.core.use_generators(generators)

    def _start(self, questions: np.ndarray, orders: list[np.ndarray | None]) -> None:
        for i in range(self.num_envs):
            self.core.stage(i, int(questions[i]), orders[i])
        self.core.start(np.arange(self.num_envs))
        for i in range(self.num_envs):
            self.core.stage(i)  # autoresets draw

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
    "        {args}", args_section()
)
document(
    TTSControlMacroVectorEnv.__init__,
    [
        Parameter("num_envs", Parameter.POSITIONAL_OR_KEYWORD, default=1),
        Parameter("widen", Parameter.KEYWORD_ONLY, default=4),
        Parameter("patience", Parameter.KEYWORD_ONLY, default=8),
    ],
)
