"""`TTSControlMacro-v0`: `TTSControl-v0` in macro actions, the action space RL controllers learn in.

A primitive episode of `TTSControl-v0` takes hundreds of steps (one CONTINUE per branch per
interval), so the few decisions that matter (how wide, how deep, what to drop, when to stop)
drown in credit assignment over slot-level moves. A macro is one such decision, run as a
sequence of primitive actions that depends on the observations (and the macros' memory, below)
alone:

- ANSWER: the env's ANSWER (majority of the revealed answers of unpruned branches);
- SUBMIT_FINISHED: SUBMIT a slot holding the majority answer of the finished branches;
- WIDEN: BRANCH `widen` times (open new branches, each advanced one interval);
- ADVANCE: rounds until a branch finishes: the next decision comes when there is news, and
  short branches finish first (they are right more often than long ones);
- WIDEN_ONE: BRANCH once (with WIDEN, the agent chooses how much to widen);
- ROUND: one round: ADVANCE_ALL, every alive branch one interval in one wave;
- DEEPEN: CONTINUE once every alive branch that shows the leader (depth where the answers
  agree);
- PRUNE: drop the stragglers, the alive branches that have not shown the leader for the last
  `patience` rounds, the most persistent first, keeping two alive.

The *leader* is the answer most finished branches gave (ties: the lowest slot's); before a
branch finishes there is none (DEEPEN and PRUNE are masked). A *round* is one ADVANCE_ALL
(ROUND plays one, ADVANCE several). The macros' memory (`MacroMemory`) carries what CMC's steps
carry (BASELINES.md section 4): at the start of every round each alive branch's count of
rounds in a row off the leader (0 when it shows the leader), and an exponential moving average
of the finished branches' Beta-majority confidence, updated as CMC updates it (at the round's
start, appended to its history, and again after the round, replacing that entry), whose change
over the last rounds is the confidence's momentum. The policy observation adds those to the
env's globals.

Rewards of the primitive steps are summed, so a macro episode's return is exactly the env's
return. Because macros read only observations, the primitive mask and their memory, a trained
policy also runs on the plain env as a step policy (`MacroStepPolicy`). `MacroEnv` wraps any
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
PATIENCE = Integer(1, 64)
"""The rule of `patience` (rounds off the leader before PRUNE drops a branch)."""


class Macro(IntEnum):
    ANSWER = 0
    SUBMIT_FINISHED = 1
    WIDEN = 2
    ADVANCE = 3
    WIDEN_ONE = 4
    ROUND = 5
    DEEPEN = 6
    PRUNE = 7


N_MACROS = len(Macro)
SUMMARY_FEATURES = (
    "alive",  # alive branches / COUNT_SCALE
    "err",  # share of the alive branches whose answer is 'ERR'
    "agreeing",  # share of the alive branches whose answer is the env's leader
    "leader_is_err",  # the leader of the revealed answers is 'ERR'
    "finished_top1",  # votes of the finished branches' leader / COUNT_SCALE
    "finished_top2",  # votes of the finished runner-up / COUNT_SCALE
    "alive_depth",  # mean intervals explored by the alive branches / DEPTH_SCALE
    "on_leader",  # share of the alive branches showing the macros' leader
    "stragglers",  # branches PRUNE would drop / COUNT_SCALE
    "confidence_ema",  # moving average over rounds of the finished branches' confidence
    "confidence_trend",  # its change over the last TREND_ROUNDS rounds, in [-1, 1]
    "rounds",  # rounds played / ROUND_SCALE (capped at FEATURE_CAP)
)
COUNT_SCALE = 16.0
DEPTH_SCALE = 20.0
ROUND_SCALE = 100.0
EMA_ALPHA = 0.5  # weight of the newest confidence in the moving average
TREND_ROUNDS = 5  # the trend is the average now minus the average TREND_ROUNDS - 1 rounds ago
KEEP_ALIVE = 2  # PRUNE leaves at least this many branches alive (as CMC does)
_S = {name: i for i, name in enumerate(SLOT_FEATURES)}
_G = {name: i for i, name in enumerate(GLOBAL_FEATURES)}
_TREND = SUMMARY_FEATURES.index("confidence_trend")
_OPENED_GLOBAL = _G["opened"]

Observation = dict[str, np.ndarray]
Primitives = Generator[int, tuple[Observation, np.ndarray], None]
"""Yields primitive actions; is sent (observation, primitive mask) after each one runs."""


class MacroMemory:
    """What the macros carry over the rounds of one episode (new for each episode).

    `off[slot]`: rounds in a row the branch in `slot` did not show the leader, counted at the
    start of each round; `ema`: the moving average of the finished branches' confidence;
    `history`: its value at the end of each of the last `TREND_ROUNDS` rounds; `rounds`:
    rounds played.
    """

    def __init__(self, max_branches: int) -> None:
        self.off = np.zeros(max_branches, dtype=np.int64)
        self.ema = 0.0
        self.history: list[float] = []
        self.rounds = 0

    def clear(self) -> None:
        self.off.fill(0)
        self.ema = 0.0
        self.history.clear()
        self.rounds = 0

    @property
    def trend(self) -> float:
        return self.history[-1] - self.history[0] if len(self.history) >= 2 else 0.0


class MacroPlanner:
    """Turns a macro into primitive actions, and says which macros are legal, from the
    observation, the env's primitive mask and the episode's `MacroMemory`."""

    def __init__(self, max_branches: int, widen: int = 4, patience: int = 8) -> None:
        if widen < 1 or patience < 1:
            raise ValueError(f"widen and patience must be at least 1, got {widen}, {patience}.")
        self.max_branches = max_branches
        self.widen = widen
        self.patience = patience
        m = max_branches
        self._answer = encode_action(ActionKind.ANSWER, 0, m)
        self._branch = encode_action(ActionKind.BRANCH, 0, m)
        self._continue = encode_action(ActionKind.CONTINUE, 0, m)
        self._prune = encode_action(ActionKind.PRUNE, 0, m)
        self._submit = encode_action(ActionKind.SUBMIT, 0, m)
        self._advance_all = encode_action(ActionKind.ADVANCE_ALL, 0, m)

    def masks(self, obs: Observation, mask: np.ndarray, memory: MacroMemory) -> np.ndarray:
        """Legal macros (bool) given an observation, the env's primitive mask and the memory."""
        legal = np.zeros(N_MACROS, dtype=bool)
        legal[Macro.ANSWER] = bool(mask[self._answer])
        legal[Macro.SUBMIT_FINISHED] = self._finished_slots(obs).size > 0
        legal[Macro.WIDEN] = legal[Macro.WIDEN_ONE] = bool(mask[self._branch])
        legal[Macro.ADVANCE] = legal[Macro.ROUND] = bool(mask[self._advance_all])
        legal[Macro.DEEPEN] = self._on_leader(obs, mask).size > 0
        legal[Macro.PRUNE] = len(self._stragglers(obs, memory)) > 0
        return legal

    def run(
        self, macro: int, obs: Observation, mask: np.ndarray, memory: MacroMemory
    ) -> Primitives:
        """The primitive actions of a legal `macro`, each legal when it is yielded; the
        memory is updated as the rounds go."""
        macro = Macro(int(macro))
        if macro is Macro.ANSWER:
            yield self._answer
        elif macro is Macro.SUBMIT_FINISHED:
            yield self._submit + self._finished_leader_slot(obs)
        elif macro in (Macro.WIDEN, Macro.WIDEN_ONE):
            for _ in range(self.widen if macro is Macro.WIDEN else 1):
                if not mask[self._branch]:
                    break
                obs, mask = yield self._branch
        elif macro in (Macro.ADVANCE, Macro.ROUND):
            finished = self._n_finished(obs)
            while mask[self._advance_all]:
                self._start_round(obs, memory)
                obs, mask = yield self._advance_all
                self._end_round(obs, memory)
                if macro is Macro.ROUND or self._n_finished(obs) != finished:
                    break
        elif macro is Macro.DEEPEN:
            for slot in self._on_leader(obs, mask):
                if mask[self._continue + slot]:
                    obs, mask = yield self._continue + int(slot)
        else:
            for slot in self._stragglers(obs, memory):
                yield self._prune + slot

    def summary(self, obs: Observation, memory: MacroMemory) -> np.ndarray:
        """What the macros act on (`SUMMARY_FEATURES`) and the env's globals lack."""
        slots = obs["slots"]
        alive = slots[:, _S["alive"]] > 0
        n_alive = int(alive.sum())
        share = 1.0 / n_alive if n_alive else 0.0
        top = self._finished_counts(obs)
        on_leader = alive & self._showing_leader(obs)
        return np.array(
            [
                n_alive / COUNT_SCALE,
                float((alive & (slots[:, _S["err"]] > 0)).sum()) * share,
                float((alive & (slots[:, _S["agrees"]] > 0)).sum()) * share,
                bool((slots[:, _S["agrees"]] * slots[:, _S["err"]]).any()),
                top[0] / COUNT_SCALE,
                top[1] / COUNT_SCALE,
                float(slots[alive, _S["depth"]].sum()) * share * ENV_DEPTH_SCALE / DEPTH_SCALE,
                float(on_leader.sum()) * share,
                len(self._stragglers(obs, memory)) / COUNT_SCALE,
                memory.ema,
                memory.trend,
                min(FEATURE_CAP, memory.rounds / ROUND_SCALE),
            ],
            dtype=np.float32,
        )

    def policy_observation(self, obs: Observation, memory: MacroMemory) -> Observation:
        """What the network sees: the env's globals and the summary of its slots.

        Macros choose the slots, so the policy decides from aggregates: 22 inputs instead of
        the 900-odd of the per-slot rows, which learns faster and generalises better.
        """
        return {"globals": obs["globals"], "summary": self.summary(obs, memory)}

    @staticmethod
    def observation_space(env_space: spaces.Dict) -> spaces.Dict:
        low = np.zeros(len(SUMMARY_FEATURES), dtype=np.float32)
        low[_TREND] = -1.0
        summary = spaces.Box(low, np.float32(FEATURE_CAP), dtype=np.float32)
        return spaces.Dict({"globals": env_space["globals"], "summary": summary})

    # ---- the leader, the stragglers, the rounds ------------------------------------------
    def _showing_leader(self, obs: Observation) -> np.ndarray:
        """Which slots show the leader, the finished branches' majority (bool
        [max_branches]; none before a branch finishes)."""
        if not self._finished_slots(obs).size:
            return np.zeros(self.max_branches, dtype=bool)
        return obs["answer_id"] == obs["answer_id"][self._finished_leader_slot(obs)]

    def _on_leader(self, obs: Observation, mask: np.ndarray) -> np.ndarray:
        """The slots DEEPEN continues: alive, showing the leader, free to continue."""
        continuable = mask[self._continue : self._continue + self.max_branches] > 0
        return np.flatnonzero(continuable & self._showing_leader(obs))

    def _stragglers(self, obs: Observation, memory: MacroMemory) -> list[int]:
        """The slots PRUNE drops: alive and `patience` rounds off the leader, the most rounds
        first (ties: lowest slot first), as many as leave `KEEP_ALIVE` alive."""
        alive = np.flatnonzero(obs["slots"][:, _S["alive"]] > 0)
        late = [int(s) for s in alive if memory.off[s] >= self.patience]
        late.sort(key=lambda s: -memory.off[s])
        return late[: max(0, alive.size - KEEP_ALIVE)]

    def _start_round(self, obs: Observation, memory: MacroMemory) -> None:
        """At a round's start: each alive branch's rounds in a row off the leader, and the
        finished branches' confidence into the moving average (a new history entry)."""
        if self._finished_slots(obs).size:
            alive = obs["slots"][:, _S["alive"]] > 0
            showing = self._showing_leader(obs)
            memory.off[alive & showing] = 0
            memory.off[alive & ~showing] += 1
        memory.history.append(self._average(obs, memory))
        if len(memory.history) > TREND_ROUNDS:
            del memory.history[0]

    def _end_round(self, obs: Observation, memory: MacroMemory) -> None:
        """After a round: the confidence into the average again, replacing the entry."""
        memory.history[-1] = self._average(obs, memory)
        memory.rounds += 1

    @staticmethod
    def _average(obs: Observation, memory: MacroMemory) -> float:
        confidence = float(obs["globals"][_G["finished_confidence"]])
        memory.ema = (1.0 - EMA_ALPHA) * memory.ema + EMA_ALPHA * confidence
        return memory.ema

    # ---- the finished branches -----------------------------------------------------------
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

    @staticmethod
    def _finished_leader_slot(obs: Observation) -> int:
        """First slot holding the most frequent finished answer (ties: the lowest slot's)."""
        finished = MacroPlanner._finished_slots(obs)
        ids = obs["answer_id"][finished].astype(np.int64)
        counts = np.bincount(ids)
        return int(finished[np.flatnonzero(counts[ids] == counts.max())[0]])


class MacroEnv(gym.Wrapper):
    """A `TTSControl-v0` env seen through macros: `Discrete(8)` actions, the same return.

    Observation: `Dict` of the env's `globals` `[10]` and `summary` `[12]`
    (`SUMMARY_FEATURES`), float32 in [0, 10] (the confidence trend in [-1, 1]):
    `MacroPlanner.policy_observation`. Actions: `Macro` (ANSWER, SUBMIT_FINISHED, WIDEN,
    ADVANCE, WIDEN_ONE, ROUND, DEEPEN, PRUNE), a static space; the legal macros are
    `info["action_mask"]` (int8 [8]) and `action_masks()` (bool). A masked macro
    is ignored or refused as the env's `illegal_actions` says (ignored: nothing happens,
    reward 0, `info["illegal"] = True`). Reward: the env's, summed over the macro's
    primitive actions. Info: `action_mask`, `tokens`, `seq_tokens`, `primitive_steps` (how
    many primitive actions the macro took), and at the end the env's `answer`, `correct`,
    `is_success` and `stop_reason`.
    """

    def __init__(self, env: gym.Env, widen: int = 4, patience: int = 8) -> None:
        super().__init__(env)
        base: TTSControlEnv = env.unwrapped
        if not base.reveal_on_continue:
            raise EnvArgumentError(
                "macro actions need reveal_on_continue=True (ADVANCE must reveal)."
            )
        self.planner = MacroPlanner(
            base.max_branches, WIDEN.check("widen", widen), PATIENCE.check("patience", patience)
        )
        self.memory = MacroMemory(base.max_branches)
        self.action_space = spaces.Discrete(N_MACROS)
        self.observation_space = self.planner.observation_space(env.observation_space)
        self._strict = base.illegal_actions == "raise"
        self._obs: Observation = {}
        self._mask = np.zeros(0, dtype=np.int8)
        self._legal = np.zeros(N_MACROS, dtype=bool)

    def reset(self, **kwargs: Any) -> tuple[Observation, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._obs, self._mask = obs, info["action_mask"]
        self.memory.clear()
        self._legal = self.planner.masks(obs, self._mask, self.memory)
        return self.planner.policy_observation(obs, self.memory), self._info(info, 0)

    def step(self, action: int) -> tuple[Observation, float, bool, bool, dict]:
        action = checked_macro(action)
        if not self._legal[action]:
            if self._strict:
                raise IllegalActionError(f"macro {Macro(action).name} is masked in this state.")
            info = self._info({"tokens": self._tokens(), "seq_tokens": self._seq_tokens()}, 0)
            info["illegal"] = True
            observation = self.planner.policy_observation(self._obs, self.memory)
            return observation, 0.0, False, False, info
        total, terminated, truncated, info, steps = 0.0, False, False, {}, 0
        primitives = self.planner.run(action, self._obs, self._mask, self.memory)
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
            else self.planner.masks(self._obs, self._mask, self.memory)
        )
        return (
            self.planner.policy_observation(self._obs, self.memory),
            total,
            terminated,
            truncated,
            self._info(info, steps),
        )

    def action_masks(self) -> np.ndarray:
        """Legal macros, bool [8] (what MaskablePPO reads)."""
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
    """`TTSControlMacro-v0`: `MacroEnv(TTSControlEnv(**arguments), widen, patience)`, built
    from the env's keyword arguments (see `MacroEnv` for spaces, reward and info).

    Args: `widen` (branches a WIDEN opens; an integer in 1..64, default 4), `patience`
    (rounds off the leader before PRUNE drops a branch; an integer in 1..64, default 8) and
    the keyword arguments of `TTSControl-v0` (`reveal_on_continue` must stay True):
        {args}
    """

    metadata = TTSControlEnv.metadata

    def __init__(self, widen: int = 4, patience: int = 8, **arguments: Any) -> None:
        super().__init__(TTSControlEnv(**arguments), widen, patience)


TTSControlMacroEnv.__doc__ = TTSControlMacroEnv.__doc__.replace("        {args}", args_section())
document(
    TTSControlMacroEnv.__init__,
    [
        inspect.Parameter("widen", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=4),
        inspect.Parameter("patience", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=8),
    ],
)


def checked_macro(action: Any) -> int:
    """A macro as a Python int; TypeError if it is not an integer, IllegalActionError if it
    is outside 0..7."""
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
    drops a macro left unfinished and starts a new memory.
    """

    def __init__(
        self, planner: MacroPlanner, choose: Callable[[Observation, np.ndarray], int]
    ) -> None:
        self.planner = planner
        self.choose = choose
        self.memory = MacroMemory(planner.max_branches)
        self._primitives: Primitives | None = None

    def act(self, obs: Observation, info: dict[str, Any]) -> int:
        mask = info["action_mask"]
        if obs["globals"][_OPENED_GLOBAL] == 0:
            self.memory.clear()
        elif self._primitives is not None:
            try:
                return self._primitives.send((obs, mask))
            except StopIteration:
                pass
        legal = self.planner.masks(obs, mask, self.memory)
        macro = self.choose(self.planner.policy_observation(obs, self.memory), legal)
        self._primitives = self.planner.run(macro, obs, mask, self.memory)
        return next(self._primitives)
