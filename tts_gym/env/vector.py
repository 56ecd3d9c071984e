"""`TTSControlVectorEnv`: N `TTSControl-v0` episodes stepped together by the compiled core.

`gym.make_vec("TTSControl-v0", num_envs=N, vectorization_mode="vector_entry_point", ...)`
returns it, with the same keyword arguments as `gym.make`. One `step` is one compiled call
over all N episodes (legality, dynamics, observations, rewards, autoresets); the infos are
built with a few numpy operations. Everything per sub-env equals `TTSControl-v0`'s, and the
same seed gives the same episodes as `vectorization_mode="sync"` (tests hold the two, and the
Python reference, equal).
"""

from __future__ import annotations

from collections.abc import Sequence
from inspect import Parameter
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from tts_gym.engine.actions import ActionKind, action_name, decode_action, n_actions
from tts_gym.engine.core.batch import BatchEpisodes, EpisodeView
from tts_gym.engine.core.layout import DONE
from tts_gym.engine.rules import why_illegal
from tts_gym.env.arguments import (
    MAX_SLOTS,
    ConfiguredEnv,
    EnvArgumentError,
    EnvConfig,
    args_section,
    checked_actions,
    checked_options,
    checked_seed,
    document,
    is_integer,
    load_env_stores,
    pinned_order,
    pinned_question,
    store_index,
)
from tts_gym.env.compiled import CompiledEnvs, info_columns
from tts_gym.env.spaces import observation_space
from tts_gym.env.tts_control import OPTION_KEYS, STOP_REASONS
from tts_gym.errors import IllegalActionError
from tts_gym.store import ReplayStore
from tts_gym.store.tables import StoreTables


def sub_env_generators(seed: Any, num_envs: int) -> list[np.random.Generator]:
    """Each sub-env's `np_random` as Gymnasium's `SyncVectorEnv` seeds it: `seed` an integer
    s gives sub-env i the seed s + i; a list gives one seed per sub-env; None, fresh
    entropy."""
    if isinstance(seed, (list, tuple, np.ndarray)):
        if len(seed) != num_envs:
            raise EnvArgumentError(f"seed lists one seed per sub-env ({num_envs}).")
        seeds = [checked_seed(s, f"seed[{i}]") for i, s in enumerate(seed)]
    else:
        first = checked_seed(seed)
        seeds = [None if first is None else first + i for i in range(num_envs)]
    return [seeding.np_random(s)[0] for s in seeds]


def pinned_episodes(
    stores: Sequence[ReplayStore], tables: StoreTables, options: dict[str, Any], n: int
) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """The reset options of a vector env: the global question of each sub-env (-1: drawn)
    and its pinned order (None: drawn)."""
    for key in options:
        if not isinstance(options[key], (Sequence, np.ndarray)) or len(options[key]) != n:
            raise EnvArgumentError(f"options['{key}'] lists one entry per sub-env ({n}).")
    pinned_stores = options.get("store", [None] * n)
    questions = options.get("question", [None] * n)
    orders = options.get("order", [None] * n)
    global_questions = np.full(n, -1, dtype=np.int64)
    pinned: list[np.ndarray | None] = [None] * n
    for i in range(n):
        if questions[i] is None:
            for key, given in (("store", pinned_stores[i]), ("order", orders[i])):
                if given is not None:
                    raise EnvArgumentError(
                        f"options['{key}'][{i}] needs options['question'][{i}] as well."
                    )
            continue
        store = 0 if pinned_stores[i] is None else pinned_stores[i]
        s = store_index(stores, store, f"options['store'][{i}]")
        question = pinned_question(stores[s], questions[i], f"options['question'][{i}]")
        global_questions[i] = tables.global_question(s, question.index)
        if orders[i] is not None:
            pinned[i] = pinned_order(orders[i], question, f"options['order'][{i}]")
    return global_questions, pinned


class CompiledVectorEnv(VectorEnv, ConfiguredEnv):
    """What the compiled vector envs share: their arguments' checks, `SyncVectorEnv`'s
    seeding, the Gymnasium `step` built on the steps `SB3VecEnv` calls (`step_arrays`,
    `observation`, `rewards`, `terminated`, `finals`, `restart_ended`) and the mask hooks."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}
    copy = True

    def _configure(self, num_envs: Any, arguments: dict[str, Any]) -> EnvConfig:
        """Check and keep the arguments (one sentence for what is wrong), load the stores."""
        where = type(self).__name__
        config = EnvConfig.checked(arguments, where)
        most = MAX_SLOTS // config.max_branches
        if not is_integer(num_envs) or not 1 <= num_envs <= most:
            raise EnvArgumentError(
                f"num_envs must be an integer in 1..{most} (num_envs x max_branches at most "
                f"{MAX_SLOTS:,}), got {num_envs!r}."
            )
        if config.engine != "compiled":
            raise EnvArgumentError(
                f"{where} runs the compiled core (engine='compiled'), got {config.engine!r}; "
                "for the Python reference use vectorization_mode='sync'."
            )
        if config.render_mode is not None:
            raise EnvArgumentError(
                f"{where} does not render, got render_mode={config.render_mode!r}."
            )
        self.config = config
        self.num_envs = int(num_envs)
        self.render_mode = None
        self.stores: tuple[ReplayStore, ...] = load_env_stores(config)
        self._strict = config.illegal_actions == "raise"
        self._everyone = np.ones(self.num_envs, dtype=bool)  # the `_key` mask of shared keys
        self._everyone.flags.writeable = False
        self._started = False
        return config

    def _spaces(self, observation: spaces.Space, action: spaces.Space) -> None:
        self.single_observation_space, self.single_action_space = observation, action
        self.observation_space = batch_space(observation, self.num_envs)
        self.action_space = batch_space(action, self.num_envs)

    def _reseed(self, seed: Any) -> None:
        """Seed each sub-env's `np_random` as `SyncVectorEnv` does (None after the first
        reset: the streams go on)."""
        if seed is not None or not self._started:
            generators = sub_env_generators(seed, self.num_envs)
            VectorEnv.reset(self, seed=seed if is_integer(seed) else None)
            self._use_generators(generators)

    def reset(
        self,
        *,
        seed: int | Sequence[int] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start a new episode in every sub-env (see the class docstring: seeding, pinning)."""
        self._reseed(seed)
        questions, orders = pinned_episodes(
            self.stores, self.tables, checked_options(options, OPTION_KEYS), self.num_envs
        )
        self._start(questions, orders)
        self._started = True
        return self.observation(self.copy), self._info()[1]

    def step(
        self, actions: Any
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        self.step_arrays(actions)
        terminated, info = self._info()
        return (
            self.observation(self.copy),
            self.rewards().copy(),
            terminated,
            np.zeros(self.num_envs, dtype=bool),
            info,
        )

    def get_wrapper_attr(self, name: str) -> Any:
        """An attribute of this env (it wraps nothing): sb3-contrib's `get_action_masks`
        reads `action_masks` this way."""
        return getattr(self, name)

    def _check_started(self) -> None:
        if not self._started:
            raise RuntimeError("call reset() before step().")

    # each compiled vector env defines these
    tables: StoreTables

    def _use_generators(self, generators: Sequence[np.random.Generator]) -> None:
        raise NotImplementedError

    def _start(self, questions: np.ndarray, orders: list[np.ndarray | None]) -> None:
        """Start every sub-env: on `questions[i]` (-1: drawn) under `orders[i]` (None: drawn)."""
        raise NotImplementedError

    def _info(self) -> tuple[np.ndarray, dict[str, Any]]:
        raise NotImplementedError

    def step_arrays(self, actions: Any) -> None:
        raise NotImplementedError

    def observation(self, copy: bool = True) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def rewards(self) -> np.ndarray:
        raise NotImplementedError


class TTSControlVectorEnv(CompiledVectorEnv):
    """`num_envs` episodes of `TTSControl-v0` as one Gymnasium vector env (compiled core).

    Spaces: `single_action_space` / `single_observation_space` are `TTSControl-v0`'s;
    `action_space` is `MultiDiscrete([n_actions(max_branches)] * num_envs)` and
    `observation_space` the batched `Dict` (`slots` `[N, max_branches, 13]`, `globals`
    `[N, 10]`, `answer_id` `[N, max_branches]`), static as the single env's: legal random
    actions are `action_space.sample(mask=tuple(info["action_mask"]))`.

    Step: `actions` is an integer array of shape `[N]` in the action space (else `TypeError`
    or `IllegalActionError`). A masked action does nothing in its sub-env with
    `illegal_actions="ignore"` (reward 0, `info["illegal"]` set for it) while the others
    step; with `"raise"` it raises `IllegalActionError` naming the sub-env and the reason,
    and then no sub-env moves. Rewards, terminations and observations are `TTSControl-v0`'s
    per sub-env; `truncated` is always False.

    Autoreset: Gymnasium's next-step mode (`metadata["autoreset_mode"]`): the step that ends
    a sub-env's episode returns its final observation, reward and info (with `answer`,
    `correct`, `is_success`, `tokens`, `stop_reason`); on the next `step` that sub-env starts
    a new episode (drawn), ignores its action and returns reward 0 with the first
    observation and info. (`SB3VecEnv` restarts ended episodes at once instead, as SB3
    expects.)

    Info: the single env's keys as arrays over sub-envs, each with its `_key` mask
    (Gymnasium's vector convention, as `SyncVectorEnv` builds it): `action_mask` `[N, A]`
    int8, `tokens`, `seq_tokens`, `step_cost`, `slot`, `revealed` (object array of strings /
    None), `finished`; `illegal` when some sub-env ignored its action; when some sub-env
    ended, `answer`, `correct`, `is_success` and `stop_reason` too, masked to those
    sub-envs. `action_masks()` gives the mask as `[N, A]` bool (also through
    `get_wrapper_attr`, which `sb3_contrib`'s `get_action_masks` calls).

    Seeding, as `SyncVectorEnv` over single envs: `reset(seed=s)` gives sub-env i its own
    `np_random` seeded with s + i (a list of N seeds seeds them one by one; None the first
    time, fresh entropy), and each sub-env draws its questions and branch orders from it as
    `TTSControl-v0` does (`integers`, then the order's key), autoresets included. So the same
    seed and the same actions give the same episodes here, in `sync` mode and in N single
    envs reset with seeds s, s + 1, ...

    Pinning: `reset(options={"store": [...], "question": [...], "order": [[...], ...]})`, one
    entry per sub-env (a store index or name, a question index, a list of branch indices;
    `None` entries are drawn; `store` defaults to 0). Pins hold for the episodes this reset
    starts; autoresets draw (from `draw_from`'s questions when it was called).

    Args: `num_envs` (an integer >= 1, with `num_envs * max_branches` at most 4,194,304),
    `copy` (True: return fresh arrays; False: return the env's own observation and mask
    buffers, overwritten by the next step, which saves a copy of `N * max_branches * 13`
    floats per step), and the keyword arguments of `TTSControl-v0` (`render_mode` None,
    `engine` "compiled"):
        {args}
    """

    def __init__(self, num_envs: int = 1, *, copy: bool = True, **arguments: Any) -> None:
        config = self._configure(num_envs, arguments)
        self.copy = bool(copy)
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
        self.tables = self.batch.tables
        self._n_actions = n_actions(config.max_branches)
        self._spaces(observation_space(config.max_branches), spaces.Discrete(self._n_actions))
        # answer strings of every question, flat, for the infos; the last entry is None
        answers = [a for q in self.batch.questions for a in q.answers]
        self._texts = np.array([*answers, None], dtype=object)
        self._text_offsets = np.cumsum(
            [0] + [len(q.answers) for q in self.batch.questions[:-1]], dtype=np.int64
        )
        self._stop_reasons = np.array(  # by kind; the last entry (-1) is None
            [*(STOP_REASONS.get(kind) for kind in ActionKind), None], dtype=object
        )

    # ---- Gymnasium API -------------------------------------------------------------------
    def action_masks(self) -> np.ndarray:
        """Legal actions of every sub-env, `[N, A]` bool (what MaskablePPO asks for)."""
        return self.batch.mask.astype(bool)

    def episode(self, i: int) -> EpisodeView:
        """Sub-env i's episode, read live in `Episode`'s vocabulary (for tracing and tests)."""
        return self.batch.view(i)

    def draw_from(self, questions: Sequence[tuple[int, int]]) -> None:
        """Drawn episodes (autoresets and unpinned resets) come from these (store index,
        question index) pairs, uniformly, instead of every question (a training split)."""
        tables = self.batch.tables
        self.envs.draw_from([tables.global_question(s, q) for s, q in questions])

    # ---- the steps SB3VecEnv builds on ---------------------------------------------------
    def step_arrays(self, actions: Any) -> None:
        """Step every sub-env (checks, one compiled call, the refusal); rewards and state
        are then in `envs.rewards` and `batch.episodes`."""
        actions = checked_actions(actions, self.num_envs, self._n_actions)
        self._check_started()
        self.envs.actions[:] = actions
        refused = self.envs.step(self.token_penalty, self.latency_penalty, self._strict)
        if refused >= 0:
            raise self._refusal(refused, int(actions[refused]))

    def observation(self, copy: bool = True) -> dict[str, np.ndarray]:
        obs = self.envs
        if copy:
            return {
                "slots": obs.copied_slots(),
                "globals": obs.globals.copy(),
                "answer_id": obs.answer_id.copy(),
            }
        return {"slots": obs.slots, "globals": obs.globals, "answer_id": obs.answer_id}

    def rewards(self) -> np.ndarray:
        """The rewards of the last step (the env's buffer)."""
        return self.envs.rewards

    def terminated(self) -> np.ndarray:
        """Which sub-envs' episodes have ended (and not restarted yet)."""
        return self.batch.episodes[:, DONE] == 1

    def finals(self) -> list[tuple[int, dict[str, Any]]]:
        """(i, the final info of sub-env i) for every sub-env whose episode has ended, as the
        single env gives its last info: `answer`, `correct`, `is_success`, `tokens`,
        `seq_tokens`, `stop_reason`."""
        numbers, flags = self._columns()
        tokens, seq_tokens, _, _, _, answers, stop_kinds = numbers.tolist()
        correct = flags[2].tolist()
        return [
            (
                i,
                {
                    "answer": self._texts[answers[i]],
                    "correct": correct[i],
                    "is_success": correct[i],
                    "tokens": tokens[i],
                    "seq_tokens": seq_tokens[i],
                    "stop_reason": self._stop_reasons[stop_kinds[i]],
                },
            )
            for i in np.flatnonzero(flags[1]).tolist()
        ]

    def restart_ended(self) -> None:
        """Start a new (drawn) episode now in every sub-env whose episode has ended."""
        self.envs.restart_ended()

    # ---- helpers -------------------------------------------------------------------------
    def _use_generators(self, generators: Sequence[np.random.Generator]) -> None:
        self.envs.use_generators(generators)

    def _start(self, questions: np.ndarray, orders: list[np.ndarray | None]) -> None:
        self.envs.questions[:] = questions
        self.envs.lengths[:] = 0
        for i, order in enumerate(orders):
            if order is not None:
                self.batch.order[i, : len(order)] = order
                self.envs.lengths[i] = len(order)
        self.envs.reset()

    def _columns(self) -> tuple[np.ndarray, np.ndarray]:
        """`info_columns` of every sub-env: (numbers [7, N], flags [3, N])."""
        n = self.num_envs
        numbers, flags = np.empty((7, n), dtype=np.int64), np.empty((3, n), dtype=bool)
        info_columns(
            self.batch.episodes, self.batch.tables.gold, self._text_offsets, numbers, flags
        )
        return numbers, flags

    def _info(self) -> tuple[np.ndarray, dict[str, Any]]:
        """(terminated, info) of the episodes' state after a reset or step."""
        numbers, flags = self._columns()
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
        illegal = self.envs.illegal
        if illegal.any():
            info["illegal"] = illegal.copy()
            info["_illegal"] = info["illegal"]
        if terminated.any():
            info["answer"] = self._texts[answer]
            info["correct"] = correct
            info["is_success"] = correct
            info["stop_reason"] = self._stop_reasons[stop_kind]
            for key in ("answer", "correct", "is_success", "stop_reason"):
                info[f"_{key}"] = terminated
        return terminated, info

    def _refusal(self, i: int, action: int) -> IllegalActionError:
        kind, slot = decode_action(action, self.max_branches)
        reason = why_illegal(self.batch.view(i), kind, slot)
        return IllegalActionError(f"sub-env {i}: {action_name(kind, slot)} is masked: {reason}.")


TTSControlVectorEnv.__doc__ = TTSControlVectorEnv.__doc__.replace("        {args}", args_section())
document(
    TTSControlVectorEnv.__init__,
    [
        Parameter("num_envs", Parameter.POSITIONAL_OR_KEYWORD, default=1),
        Parameter("copy", Parameter.KEYWORD_ONLY, default=True),
    ],
)
