"""`TTSControlMacro-v0`: `TTSControl-v0` in macro actions, the action space RL controllers learn in.

A primitive episode of `TTSControl-v0` takes hundreds of steps (one CONTINUE per branch per
interval), so the few decisions that matter (how wide, when to stop) drown in credit
assignment over slot-level moves. A macro is one such decision, run as a sequence of
primitive actions that depends on the observations alone:

- ANSWER: the env's ANSWER (majority of the revealed answers of unpruned branches);
- SUBMIT_FINISHED: SUBMIT a slot holding the majority answer of the finished branches;
- WIDEN: BRANCH `widen` times (open new branches, each advanced one interval);
- ADVANCE: lockstep rounds (CONTINUE every alive branch once) until a branch finishes: the
  next decision comes when there is news, and short branches finish first (they are right
  more often than long ones).

Rewards of the primitive steps are summed, so a macro episode's return is exactly the env's
return. Because macros read only observations and the primitive mask, a trained policy also
runs on the plain env as a step policy (`MacroStepPolicy`). `MacroEnv` wraps any
`TTSControl-v0` env; `TTSControlMacroEnv` is the registered `TTSControlMacro-v0` (the same,
built from the env's arguments); its vector form (`tts_gym.env.macro_vector`) runs each
decision of every sub-env in one compiled call (`tts_gym.env.macro_core`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from enum import IntEnum
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from tts_gym.engine.actions import ActionKind, encode_action
from tts_gym.env.arguments import EnvArgumentError, Integer, args_section, document, is_integer
from tts_gym.env.observation import DEPTH_SCALE as ENV_DEPTH_SCALE
from tts_gym.env.observation import FEATURE_CAP, GLOBAL_FEATURES, SLOT_FEATURES
from tts_gym.env.tts_control import TTSControlEnv
from tts_gym.errors import IllegalActionError

WIDEN = Integer(1, 64)
"""The rule of `widen` (branches a WIDEN opens)."""


class Macro(IntEnum):
    ANSWER = 0
    SUBMIT_FINISHED = 1
    WIDEN = 2
    ADVANCE = 3


N_MACROS = len(Macro)
SUMMARY_FEATURES = (
    "alive",  # alive branches / COUNT_SCALE
    "err",  # share of the alive branches whose answer is 'ERR'
    "agreeing",  # share of the alive branches whose answer is the leader
    "leader_is_err",  # the leader of the revealed answers is 'ERR'
    "finished_top1",  # votes of the finished branches' leader / COUNT_SCALE
    "finished_top2",  # votes of the finished runner-up / COUNT_SCALE
    "alive_depth",  # mean intervals explored by the alive branches / DEPTH_SCALE
)
COUNT_SCALE = 16.0
DEPTH_SCALE = 20.0
_S = {name: i for i, name in enumerate(SLOT_FEATURES)}
_OPENED_GLOBAL = GLOBAL_FEATURES.index("opened")

Observation = dict[str, np.ndarray]
Primitives = Generator[int, tuple[Observation, np.ndarray], None]
"""Yields primitive actions; is sent (observation, primitive mask) after each one runs."""


class MacroPlanner:
    """Turns a macro into primitive actions, and says which macros are legal, from obs alone."""

    def __init__(self, max_branches: int, widen: int = 4) -> None:
        if widen < 1:
            raise ValueError(f"widen must be at least 1, got {widen}.")
        self.max_branches = max_branches
        self.widen = widen
        m = max_branches
        self._answer = encode_action(ActionKind.ANSWER, 0, m)
        self._branch = encode_action(ActionKind.BRANCH, 0, m)
        self._continue = encode_action(ActionKind.CONTINUE, 0, m)
        self._submit = encode_action(ActionKind.SUBMIT, 0, m)

    def masks(self, obs: Observation, mask: np.ndarray) -> np.ndarray:
        """Legal macros (bool) given an observation and the env's primitive mask."""
        m = self.max_branches
        legal = np.zeros(N_MACROS, dtype=bool)
        legal[Macro.ANSWER] = bool(mask[self._answer])
        legal[Macro.SUBMIT_FINISHED] = self._finished_slots(obs).size > 0
        legal[Macro.WIDEN] = bool(mask[self._branch])
        legal[Macro.ADVANCE] = bool(mask[self._continue : self._continue + m].any())
        return legal

    def run(self, macro: int, obs: Observation, mask: np.ndarray) -> Primitives:
        """The primitive actions of a legal `macro`, each legal when it is yielded."""
        macro = Macro(int(macro))
        if macro is Macro.ANSWER:
            yield self._answer
        elif macro is Macro.SUBMIT_FINISHED:
            yield self._submit + self._finished_leader_slot(obs)
        elif macro is Macro.WIDEN:
            for _ in range(self.widen):
                if not mask[self._branch]:
                    break
                obs, mask = yield self._branch
        else:
            finished = self._n_finished(obs)
            while self._n_finished(obs) == finished:
                alive = np.flatnonzero(mask[self._continue : self._continue + self.max_branches])
                if not alive.size:
                    break
                for slot in alive:
                    if mask[self._continue + slot]:
                        obs, mask = yield self._continue + int(slot)

    @staticmethod
    def summary(obs: Observation) -> np.ndarray:
        """What the macros act on (`SUMMARY_FEATURES`) and the env's globals lack."""
        slots = obs["slots"]
        alive = slots[:, _S["alive"]] > 0
        n_alive = int(alive.sum())
        share = 1.0 / n_alive if n_alive else 0.0
        top = MacroPlanner._finished_counts(obs)
        return np.array(
            [
                n_alive / COUNT_SCALE,
                float((alive & (slots[:, _S["err"]] > 0)).sum()) * share,
                float((alive & (slots[:, _S["agrees"]] > 0)).sum()) * share,
                bool((slots[:, _S["agrees"]] * slots[:, _S["err"]]).any()),
                top[0] / COUNT_SCALE,
                top[1] / COUNT_SCALE,
                float(slots[alive, _S["depth"]].sum()) * share * ENV_DEPTH_SCALE / DEPTH_SCALE,
            ],
            dtype=np.float32,
        )

    @staticmethod
    def policy_observation(obs: Observation) -> Observation:
        """What the network sees: the env's globals and the summary of its slots.

        Macros choose the slots, so the policy decides from aggregates: 17 inputs instead of
        the 900-odd of the per-slot rows, which learns faster and generalises better.
        """
        return {"globals": obs["globals"], "summary": MacroPlanner.summary(obs)}

    @staticmethod
    def observation_space(env_space: spaces.Dict) -> spaces.Dict:
        summary = spaces.Box(0.0, FEATURE_CAP, (len(SUMMARY_FEATURES),), np.float32)
        return spaces.Dict({"globals": env_space["globals"], "summary": summary})

    # ---- internals -----------------------------------------------------------------------
    @staticmethod
    def _n_finished(obs: Observation) -> int:
        return int(obs["slots"][:, _S["finished"]].sum())

    @staticmethod
    def _finished_slots(obs: Observation) -> np.ndarray:
        slots = obs["slots"]
        return np.flatnonzero((slots[:, _S["finished"]] > 0) & (slots[:, _S["revealed"]] > 0))

    @staticmethod
    def _finished_counts(obs: Observation) -> list[int]:
        ids = obs["answer_id"][MacroPlanner._finished_slots(obs)].astype(np.int64)
        counts = sorted(np.bincount(ids).tolist(), reverse=True) if ids.size else []
        return [*counts, 0, 0][:2]

    def _finished_leader_slot(self, obs: Observation) -> int:
        """First slot holding the most frequent finished answer (ties: the lowest slot's)."""
        finished = self._finished_slots(obs)
        ids = obs["answer_id"][finished].astype(np.int64)
        counts = np.bincount(ids)
        return int(finished[np.flatnonzero(counts[ids] == counts.max())[0]])


class MacroEnv(gym.Wrapper):
    """A `TTSControl-v0` env seen through macros: `Discrete(4)` actions, the same return.

    Observation: `Dict` of the env's `globals` `[10]` and `summary` `[7]`
    (`SUMMARY_FEATURES`), float32 in [0, 10] (`MacroPlanner.policy_observation`).
    Actions: `Macro` (ANSWER, SUBMIT_FINISHED, WIDEN, ADVANCE), a static space; the legal
    macros are `info["action_mask"]` (int8 [4]) and `action_masks()` (bool). A masked macro
    is ignored or refused as the env's `illegal_actions` says (ignored: nothing happens,
    reward 0, `info["illegal"] = True`). Reward: the env's, summed over the macro's
    primitive actions. Info: `action_mask`, `tokens`, `seq_tokens`, `primitive_steps` (how
    many primitive actions the macro took), and at the end the env's `answer`, `correct`,
    `is_success` and `stop_reason`.
    """

    def __init__(self, env: gym.Env, widen: int = 4) -> None:
        super().__init__(env)
        base: TTSControlEnv = env.unwrapped
        if not base.reveal_on_continue:
            raise EnvArgumentError(
                "macro actions need reveal_on_continue=True (ADVANCE must reveal)."
            )
        self.planner = MacroPlanner(base.max_branches, WIDEN.check("widen", widen))
        self.action_space = spaces.Discrete(N_MACROS)
        self.observation_space = self.planner.observation_space(env.observation_space)
        self._strict = base.illegal_actions == "raise"
        self._obs: Observation = {}
        self._mask = np.zeros(0, dtype=np.int8)
        self._legal = np.zeros(N_MACROS, dtype=bool)

    def reset(self, **kwargs: Any) -> tuple[Observation, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._obs, self._mask = obs, info["action_mask"]
        self._legal = self.planner.masks(obs, self._mask)
        return self.planner.policy_observation(obs), self._info(info, 0)

    def step(self, action: int) -> tuple[Observation, float, bool, bool, dict]:
        action = checked_macro(action)
        if not self._legal[action]:
            if self._strict:
                raise IllegalActionError(f"macro {Macro(action).name} is masked in this state.")
            info = self._info({"tokens": self._tokens(), "seq_tokens": self._seq_tokens()}, 0)
            info["illegal"] = True
            return self.planner.policy_observation(self._obs), 0.0, False, False, info
        total, terminated, truncated, info, steps = 0.0, False, False, {}, 0
        primitives = self.planner.run(action, self._obs, self._mask)
        primitive = next(primitives)
        while True:
            obs, reward, terminated, truncated, info = self.env.step(primitive)
            self._obs, self._mask = obs, info["action_mask"]
            total += reward
            steps += 1
            if terminated or truncated:
                break
            try:
                primitive = primitives.send((obs, self._mask))
            except StopIteration:
                break
        self._legal = (
            np.zeros(N_MACROS, dtype=bool)
            if terminated
            else self.planner.masks(self._obs, self._mask)
        )
        return (
            self.planner.policy_observation(self._obs),
            total,
            terminated,
            truncated,
            self._info(info, steps),
        )

    def action_masks(self) -> np.ndarray:
        """Legal macros, bool [4] (what MaskablePPO reads)."""
        return self._legal.copy()

    def _info(self, info: dict[str, Any], steps: int) -> dict[str, Any]:
        out = {
            "action_mask": self._legal.astype(np.int8),
            "tokens": info["tokens"],
            "seq_tokens": info["seq_tokens"],
            "primitive_steps": steps,
        }
        for key in ("answer", "correct", "is_success", "stop_reason"):
            if key in info:
                out[key] = info[key]
        return out

    def _tokens(self) -> int:
        return self.env.unwrapped.episode.tokens

    def _seq_tokens(self) -> int:
        return self.env.unwrapped.episode.seq_tokens


class TTSControlMacroEnv(MacroEnv):
    """`TTSControlMacro-v0`: `MacroEnv(TTSControlEnv(**arguments), widen)`, built from the
    env's keyword arguments (see `MacroEnv` for spaces, reward and info).

    Args: `widen` (branches a WIDEN opens; an integer in 1..64, default 4) and the keyword
    arguments of `TTSControl-v0` (`reveal_on_continue` must stay True):
        {args}
    """

    metadata = TTSControlEnv.metadata

    def __init__(self, widen: int = 4, **arguments: Any) -> None:
        super().__init__(TTSControlEnv(**arguments), widen)


TTSControlMacroEnv.__doc__ = TTSControlMacroEnv.__doc__.replace("        {args}", args_section())
document(
    TTSControlMacroEnv.__init__,
    [inspect.Parameter("widen", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=4)],
)


def checked_macro(action: Any) -> int:
    """A macro as a Python int; TypeError if it is not an integer, IllegalActionError if it
    is outside 0..3."""
    if isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in "iu":
        action = action.item()
    if not is_integer(action):
        raise TypeError(f"a macro is an integer (Python or numpy), got {action!r}.")
    if not 0 <= action < N_MACROS:
        raise IllegalActionError(f"macro {action} is outside 0..{N_MACROS - 1}.")
    return int(action)


class MacroStepPolicy:
    """Plays macros chosen by `choose(policy_obs, macro_mask) -> macro` on the plain env.

    `act(obs, info)` returns one primitive action per call, from the current macro, and asks
    `choose` for the next macro when that one is done; a fresh episode (no branch opened yet)
    drops a macro left unfinished.
    """

    def __init__(
        self, planner: MacroPlanner, choose: Callable[[Observation, np.ndarray], int]
    ) -> None:
        self.planner = planner
        self.choose = choose
        self._primitives: Primitives | None = None

    def act(self, obs: Observation, info: dict[str, Any]) -> int:
        mask = info["action_mask"]
        if self._primitives is not None and obs["globals"][_OPENED_GLOBAL] > 0:
            try:
                return self._primitives.send((obs, mask))
            except StopIteration:
                pass
        legal = self.planner.masks(obs, mask)
        macro = self.choose(self.planner.policy_observation(obs), legal)
        self._primitives = self.planner.run(macro, obs, mask)
        return next(self._primitives)
