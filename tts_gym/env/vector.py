"""`TTSControlVectorEnv`: N `TTSControl-v0` episodes stepped together by the compiled core.

`gym.make_vec("TTSControl-v0", num_envs=N, vectorization_mode="vector_entry_point", ...)`
returns it, with the same keyword arguments as `gym.make`. One `step` is one compiled call
over all N episodes (legality, dynamics, observations, rewards, autoresets); the infos are
built with a few numpy operations. Everything per sub-env equals `TTSControl-v0`'s (tests
hold the two, and the Python reference, equal).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from tts_gym.engine.actions import ActionKind, action_name, decode_action, n_actions
from tts_gym.engine.core.batch import BatchEpisodes, EpisodeView
from tts_gym.engine.rules import why_illegal
from tts_gym.env.arguments import (
    ConfiguredEnv,
    EnvArgumentError,
    EnvConfig,
    checked_actions,
    is_integer,
    load_env_stores,
    pinned_order,
    pinned_question,
    store_index,
)
from tts_gym.env.compiled import CompiledEnvs, info_columns
from tts_gym.env.spaces import MaskedDiscrete, MaskedMultiDiscrete, observation_space
from tts_gym.env.tts_control import STOP_REASONS
from tts_gym.errors import IllegalActionError
from tts_gym.store import ReplayStore

_OPTION_KEYS = ("store", "question", "order")


class TTSControlVectorEnv(VectorEnv, ConfiguredEnv):
    """`num_envs` episodes of `TTSControl-v0` as one Gymnasium vector env (compiled core).

    Spaces: `single_action_space` / `single_observation_space` are `TTSControl-v0`'s;
    `action_space` is `MultiDiscrete([n_actions(max_branches)] * num_envs)` (its `sample()`
    draws legal actions) and `observation_space` the batched `Dict` (`slots`
    `[N, max_branches, 13]`, `globals` `[N, 10]`, `answer_id` `[N, max_branches]`).

    Step: `actions` is an integer array of shape `[N]` (anything else: `TypeError`); an
    illegal action of any sub-env raises `IllegalActionError` naming the sub-env and the
    reason, and then no sub-env moves. Rewards, terminations and observations are
    `TTSControl-v0`'s per sub-env; `truncated` is always False.

    Autoreset: Gymnasium's next-step mode (`metadata["autoreset_mode"]`): the step that ends
    a sub-env's episode returns its final observation, reward and info (with `answer`,
    `correct`, `tokens`, `stop_reason`); on the next `step` that sub-env starts a new episode
    (drawn), ignores its action and returns reward 0 with the first observation and info.

    Info: the single env's keys as arrays over sub-envs, each with its `_key` mask
    (Gymnasium's vector convention, as `SyncVectorEnv` builds it): `action_mask` `[N, A]`
    int8, `tokens`, `seq_tokens`, `step_cost`, `slot`, `revealed` (object array of strings /
    None),
    `finished`; when some sub-env ended, `answer`, `correct` and `stop_reason` too, masked
    to those sub-envs. `action_masks()` gives the mask as `[N, A]` bool.

    Seeding: `reset(seed=s)` seeds one random stream per sub-env from `s` (a list of N seeds
    seeds them one by one); each sub-env then draws its question (uniform over all
    questions) and its branch order (one lazy Fisher-Yates swap per opened branch) from its
    own stream, autoresets included: same seed and same actions, same episodes.

    Pinning: `reset(options={"store": [...], "question": [...], "order": [[...], ...]})`, one
    entry per sub-env (a store index or name, a question index, a list of branch indices;
    `None` entries are drawn; `store` defaults to 0). Pins hold for the episodes this reset
    starts; autoresets draw.

    Args: those of `TTSControl-v0` (`stores`, `max_branches`, `token_penalty`, `probe_cost`,
    `reveal_on_continue`, `budget`, `data_dir`, `latency_penalty`, `max_parallel`,
    `confidence`), plus
    `num_envs` and `copy` (True: return
    fresh arrays; False: return the env's own observation and mask buffers, overwritten by
    the next step, which saves a copy of `N * max_branches * 13` floats per step).
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(
        self,
        num_envs: int = 1,
        stores: Sequence[str] | str = ("search",),
        max_branches: int = 64,
        token_penalty: float = 0.5,
        probe_cost: int = 0,
        reveal_on_continue: bool = True,
        budget: int | None = None,
        data_dir: str | None = None,
        copy: bool = True,
        render_mode: str | None = None,
        engine: str = "compiled",
        latency_penalty: float = 0.0,
        max_parallel: int | None = None,
        confidence: str = "group",
    ) -> None:
        if not is_integer(num_envs) or num_envs < 1:
            raise EnvArgumentError(f"num_envs must be an integer >= 1, got {num_envs!r}.")
        if engine != "compiled":
            raise EnvArgumentError(
                f"the vector env runs the compiled core (engine='compiled'), got {engine!r}; "
                "for the Python reference use vectorization_mode='sync'."
            )
        if render_mode is not None:
            raise EnvArgumentError(f"the vector env does not render, got {render_mode!r}.")
        config = EnvConfig.checked(
            max_branches, token_penalty, probe_cost, reveal_on_continue, budget,
            latency_penalty, max_parallel,
        )  # fmt: skip
        self.config = config
        self.num_envs = int(num_envs)
        self.copy = bool(copy)
        self.render_mode = None
        self.stores: tuple[ReplayStore, ...] = load_env_stores(stores, data_dir, confidence)
        self.batch = BatchEpisodes(
            self.stores,
            self.num_envs,
            max_branches=config.max_branches,
            probe_cost=config.probe_cost,
            reveal_on_continue=config.reveal_on_continue,
            budget=config.budget,
            max_parallel=config.max_parallel,
        )
        self.envs = CompiledEnvs(self.batch)
        tables = self.batch.tables
        self.single_observation_space = observation_space(config.max_branches, tables.max_answers)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.single_action_space = MaskedDiscrete(self.batch.mask[0])
        self.action_space = MaskedMultiDiscrete(self.batch.mask)
        self._n_actions = n_actions(config.max_branches)
        # answer strings of every question, flat, for the infos; the last entry is None
        answers = [a for q in self.batch.questions for a in q.answers]
        self._texts = np.array([*answers, None], dtype=object)
        self._text_offsets = np.cumsum(
            [0] + [len(q.answers) for q in self.batch.questions[:-1]], dtype=np.int64
        )
        self._stop_reasons = np.array(  # by kind; the last entry (-1) is None
            [*(STOP_REASONS.get(kind) for kind in ActionKind), None], dtype=object
        )
        self._everyone = np.ones(self.num_envs, dtype=bool)  # the `_key` mask of shared keys
        self._everyone.flags.writeable = False
        self._seeded = False
        self._started = False

    # ---- Gymnasium API -------------------------------------------------------------------
    def reset(
        self,
        *,
        seed: int | Sequence[int] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start a new episode in every sub-env (see the class docstring: seeding, pinning)."""
        if isinstance(seed, (list, tuple, np.ndarray)):
            if len(seed) != self.num_envs:
                raise EnvArgumentError(f"seed lists one seed per sub-env ({self.num_envs}).")
            super().reset(seed=None)
            self.batch.seed_each(seed)
            self._seeded = True
        else:
            super().reset(seed=seed)
            if seed is not None or not self._seeded:
                self.batch.seed(self.np_random)
                self._seeded = True
        questions, orders = self._pinned(options or {})
        self.envs.questions[:] = questions
        self.envs.lengths[:] = 0
        for i, order in enumerate(orders):
            if order is not None:
                self.batch.order[i, : len(order)] = order
                self.envs.lengths[i] = len(order)
        self.envs.reset()
        self._started = True
        return self._observation(), self._info()[1]

    def step(
        self, actions: Any
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        actions = checked_actions(actions, self.num_envs, self._n_actions)
        if not self._started:
            raise RuntimeError("call reset() before step().")
        self.envs.actions[:] = actions
        refused = self.envs.step(self.token_penalty, self.latency_penalty)
        if refused >= 0:
            raise self._refusal(refused, int(actions[refused]))
        terminated, info = self._info()
        return (
            self._observation(),
            self.envs.rewards.copy(),
            terminated,
            np.zeros(self.num_envs, dtype=bool),
            info,
        )

    def action_masks(self) -> np.ndarray:
        """Legal actions of every sub-env, `[N, A]` bool (what MaskablePPO asks for)."""
        return self.batch.mask.astype(bool)

    def episode(self, i: int) -> EpisodeView:
        """Sub-env i's episode, read live in `Episode`'s vocabulary (for tracing and tests)."""
        return self.batch.view(i)

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.single_action_space.legal = self.batch.mask[0]
        self.action_space.legal = self.batch.mask

    # ---- helpers -------------------------------------------------------------------------
    def _observation(self) -> dict[str, np.ndarray]:
        obs = self.envs
        if self.copy:
            return {
                "slots": obs.copied_slots(),
                "globals": obs.globals.copy(),
                "answer_id": obs.answer_id.copy(),
            }
        return {"slots": obs.slots, "globals": obs.globals, "answer_id": obs.answer_id}

    def _info(self) -> tuple[np.ndarray, dict[str, Any]]:
        """(terminated, info) of the episodes' state after a reset or step."""
        n = self.num_envs
        numbers, flags = np.empty((7, n), dtype=np.int64), np.empty((3, n), dtype=bool)
        info_columns(
            self.batch.episodes, self.batch.tables.gold, self._text_offsets, numbers, flags
        )
        tokens, seq_tokens, step_cost, slot, revealed, answer, stop_kind = numbers
        finished, terminated, correct = flags
        everyone = self._everyone
        mask = self.batch.mask
        info: dict[str, Any] = {
            "action_mask": mask.copy() if self.copy else mask,
            "tokens": tokens,
            "seq_tokens": seq_tokens,
            "step_cost": step_cost,
            "slot": slot,
            "revealed": self._texts[revealed],
            "finished": finished,
        }
        for key in list(info):
            info[f"_{key}"] = everyone
        if terminated.any():
            info["answer"] = self._texts[answer]
            info["_answer"] = terminated
            info["correct"] = correct
            info["_correct"] = terminated
            info["stop_reason"] = self._stop_reasons[stop_kind]
            info["_stop_reason"] = terminated
        return terminated, info

    def _refusal(self, i: int, action: int) -> IllegalActionError:
        if not 0 <= action < self._n_actions:
            return IllegalActionError(
                f"sub-env {i}: action {action} is outside 0..{self._n_actions - 1}."
            )
        kind, slot = decode_action(action, self.max_branches)
        reason = why_illegal(self.batch.view(i), kind, slot)
        return IllegalActionError(f"sub-env {i}: {action_name(kind, slot)} is masked: {reason}.")

    def _pinned(self, options: dict[str, Any]) -> tuple[np.ndarray, list[np.ndarray | None]]:
        """Global question per sub-env (-1: drawn) and pinned orders (None: drawn)."""
        unknown = set(options) - set(_OPTION_KEYS)
        if unknown:
            raise EnvArgumentError(
                f"unknown reset options {sorted(unknown)}; known: {list(_OPTION_KEYS)}."
            )
        n = self.num_envs
        for key in options:
            if not isinstance(options[key], (Sequence, np.ndarray)) or len(options[key]) != n:
                raise EnvArgumentError(f"options['{key}'] lists one entry per sub-env ({n}).")
        stores = options.get("store", [None] * n)
        questions = options.get("question", [None] * n)
        orders = options.get("order", [None] * n)
        global_questions = np.full(n, -1, dtype=np.int64)
        pinned: list[np.ndarray | None] = [None] * n
        offsets = self.batch.tables.offsets
        for i in range(n):
            if questions[i] is None:
                if stores[i] is not None:
                    raise EnvArgumentError(
                        f"options['store'][{i}] needs options['question'][{i}] as well."
                    )
                if orders[i] is not None:
                    raise EnvArgumentError(
                        f"options['order'][{i}] needs options['question'][{i}] as well."
                    )
                continue
            s = store_index(
                self.stores, 0 if stores[i] is None else stores[i], f"options['store'][{i}]"
            )
            question = pinned_question(self.stores[s], questions[i], f"options['question'][{i}]")
            global_questions[i] = offsets[s] + question.index
            if orders[i] is not None:
                pinned[i] = pinned_order(orders[i], question, f"options['order'][{i}]")
        return global_questions, pinned
