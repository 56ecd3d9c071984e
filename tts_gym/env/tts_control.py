"""`TTSControl-v0`: width-depth control of test-time scaling as a Gymnasium environment.

Each episode replays one question of a replay store: the agent opens branches, advances,
probes and prunes them, and finally answers. Dynamics, costs and legality come from the engine
(`tts_gym.engine`); this module adds spaces, masks, observations and reward. The env steps the
compiled batch core with one episode (`engine="compiled"`, the default) or the readable
reference, `Episode` with `ObservationBuilder` (`engine="python"`); the two give identical
observations, masks, rewards and infos (tests hold them equal).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from tts_gym.engine import NO_ANSWER, Episode
from tts_gym.engine.actions import BATCH_KINDS, ActionKind, action_name, decode_action, n_actions
from tts_gym.engine.core.layout import (
    ANSWER,
    COST,
    DONE,
    ENDED,
    KIND,
    QUESTION,
    SEQ_TOKENS,
    SHOWN,
    SLOT,
    TOKENS,
)
from tts_gym.engine.core.random import keyed_order, order_key
from tts_gym.engine.rules import (
    refresh_batch_mask,
    refresh_open_mask,
    refresh_slot_mask,
    token_limit,
    why_illegal,
)
from tts_gym.env.arguments import (
    RENDER_MODES,
    ConfiguredEnv,
    EnvArgumentError,
    EnvConfig,
    args_section,
    checked_action,
    checked_options,
    checked_seed,
    document,
    load_env_stores,
    pinned_order,
    pinned_question,
    store_index,
)
from tts_gym.env.observation import ObservationBuilder
from tts_gym.env.render import EpisodePicture, Window
from tts_gym.env.reward import step_reward
from tts_gym.env.spaces import observation_space
from tts_gym.errors import IllegalActionError
from tts_gym.store import Question, ReplayStore

STOP_REASONS = {ActionKind.ANSWER: "answer", ActionKind.SUBMIT: "submit"}
OPTION_KEYS = ("store", "question", "order")

Outcome = tuple[float, int, int, bool, int, int, int, bool, int, int]
"""What an action did: (reward, slot, revealed answer id, finished, step cost, tokens,
sequential tokens, done, answer id, kind)."""


class TTSControlEnv(gym.Env[dict[str, np.ndarray], int], ConfiguredEnv):
    """Replay cached reasoning branches; reward = correct - token_penalty * tokens / 1e6 -
    latency_penalty * seq_tokens / 1e6.

    Action space: `Discrete(3 + 4 * max_branches + 13)`: ANSWER (the majority of the revealed
    answers of unpruned branches, ties to the lowest slot), BRANCH (open the next branch of
    the episode's order and advance it one interval), READ (open the next branch and read it
    whole), then per slot i: CONTINUE(i), PROBE(i), PRUNE(i), SUBMIT(i) (answer with slot i's
    last revealed answer); then the batch actions, each one wave (docs/design.md): ADVANCE_ALL
    (CONTINUE every alive slot once), OPEN_MANY(k) (BRANCH k times) and READ_MANY(k) (READ k
    times) for k in `BATCH_WIDTHS` = (2, 4, 8, 16, 32, 64). `tts_gym.encode_action` /
    `decode_action` convert. The space is static: legality is `tts_gym.engine.rules`, given
    as `info["action_mask"]` (int8) and `action_masks()` (bool, what MaskablePPO reads; through
    `gym.make`'s wrappers: `sb3_contrib.common.maskable.utils.get_action_masks(env)`). A legal
    random action is `action_space.sample(mask=info["action_mask"])`. A masked action does
    nothing with `illegal_actions="ignore"` (the default: reward 0, the same observation,
    `info["illegal"] = True`) and raises `IllegalActionError` (a `ValueError`) saying why with
    `"raise"`; an action outside the space raises `IllegalActionError`, one that is not an
    integer `TypeError`.

    Observation: `Dict` (float32) of
    - `slots` `[max_branches, 13]` in [0, 10]: per slot the `SLOT_FEATURES` (scaled features
      clipped at 10);
    - `globals` `[10]` in [0, 10]: the `GLOBAL_FEATURES`;
    - `answer_id` `[max_branches]` in [-1, max_branches - 1]: per slot its last revealed
      answer as a rank among the distinct answers the slots show, in order of first reveal
      (equal ids: equal answers; -1: none revealed). Answer strings and the gold answer never
      enter it.
    The bounds depend on `max_branches` alone, so every store gives the same space (a model
    trained on some stores loads against an env on others). A batch action's results all
    enter the observation of its step, none before (answers first revealed together are
    numbered in slot order).

    Reward: each action's token cost times `-token_penalty / 1e6` and the sequential tokens
    it added times `-latency_penalty / 1e6` (a single action's wave lasts its cost; a batch
    action's, the largest number of tokens one branch generated in it, or with
    `max_parallel` the sum over its sub-waves; a branch's write-up after its last probe runs
    on past its wave, see docs/env.md), plus 1 on the last step when the answer is correct,
    so an episode's return is `correct - token_penalty * tokens / 1e6 - latency_penalty *
    seq_tokens / 1e6`.

    Episode end: ANSWER or SUBMIT terminates; nothing truncates. `info` has `action_mask`,
    `tokens`, `seq_tokens`, `step_cost`, `slot` (-1 for ANSWER and the batch actions),
    `revealed` (the answer string this action revealed, for tracing; None for a batch
    action), `finished` (it finished a branch), and `illegal` on a step that ignored a masked
    action; at the end also `answer`, `correct`, `is_success` (= `correct`, the key SB3's
    callbacks and loggers read) and `stop_reason` (`"answer"` or `"submit"`).

    Starting state: `reset(seed=...)` (None or an integer >= 0) draws a question uniformly
    over all questions of the stores with `np_random.integers`, then a branch order from
    two more draws (`tts_gym.engine.core.random.order_key`: the same order in both engines
    and every vectorization mode); `reset(options={"store": index_or_name, "question": q, "order":
    [branches]})` pins them (`store` defaults to 0, `order` to a drawn permutation; an order
    may list a subset; other keys are refused).

    Rendering: `"ansi"` gives text; `"rgb_array"` a picture of the episode (one row per slot,
    one cell per interval coloured by the answer revealed there; `tts_gym.env.render`), at
    every step; `"human"` shows that picture in a window (matplotlib; where no window can
    open, a warning says why and nothing is shown).

    Args (all keyword; `tts_gym.env.arguments.EnvConfig` declares them):
        {args}
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 4}

    def __init__(self, **arguments: Any) -> None:
        config = EnvConfig.checked(arguments)
        self.stores: tuple[ReplayStore, ...] = load_env_stores(config)
        self.questions: tuple[tuple[int, Question], ...] = tuple(
            (s, q) for s, store in enumerate(self.stores) for q in store.questions
        )
        self.config = config
        self.render_mode = config.render_mode
        self._run: _CompiledRun | _ReferenceRun = (
            _CompiledRun(self.stores, self.questions, config)
            if config.engine == "compiled"
            else _ReferenceRun(self.questions, config)
        )
        self._n_actions = n_actions(config.max_branches)
        self.action_space = spaces.Discrete(self._n_actions)
        self.observation_space = observation_space(config.max_branches)
        self.store_index = 0
        self._answers: tuple[str, ...] = ()
        self._gold = NO_ANSWER
        self._running: bool | None = None  # None before the first reset
        self._picture: EpisodePicture | None = None
        self._window: Window | None = None
        if config.render_mode in ("rgb_array", "human"):
            cells = 1 + max(max(map(len, q.probes), default=0) for _, q in self.questions)
            self._picture = EpisodePicture(config.max_branches, cells, config.reveal_on_continue)
        if config.render_mode == "human":
            self._window = Window(self.metadata["render_fps"])

    @property
    def episode(self) -> Episode | Any:
        """The episode being played: an `Episode` (python engine) or an `EpisodeView`
        (compiled engine; reads like one); None before the first reset."""
        return None if self._running is None else self._run.episode

    # ---- Gymnasium API -------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Draw a question and a branch order, or pin them with `options`.

        `options={"store": index_or_name, "question": q, "order": [branch indices]}`; each
        key is optional (`store` defaults to 0, `order` to a random permutation).
        """
        super().reset(seed=checked_seed(seed))
        options = checked_options(options, OPTION_KEYS)
        pinned = None
        if "question" in options:
            store = store_index(self.stores, options.get("store", 0), "options['store']")
            pinned = (
                store,
                pinned_question(self.stores[store], options["question"], "options['question']"),
            )
        elif "store" in options:
            raise EnvArgumentError("options['store'] needs options['question'] as well.")
        if "order" in options:
            if pinned is None:
                pinned = self.questions[self.np_random.integers(len(self.questions))]
            order = pinned_order(options["order"], pinned[1], "options['order']")
            self._run.start(*pinned, order)
            self.store_index, question = pinned
        else:  # np_random.integers(n_questions) unless pinned, then the order's key
            self.store_index, question = self._run.start_drawn(self.np_random, pinned)
        self._answers, self._gold = question.answers, question.gold_id
        self._running = True
        info = {
            "action_mask": self._run.mask.copy(),
            "tokens": 0,
            "seq_tokens": 0,
            "step_cost": 0,
            "slot": -1,
            "revealed": None,
            "finished": False,
        }
        if self._picture is not None:
            self._picture.start()
            self._show()
        return self._run.observation(), info

    def step(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        action = checked_action(action, self._n_actions)
        if not self._running:
            raise RuntimeError(
                "call reset() before step()." if self._running is None else
                "the episode has ended; call reset()."
            )  # fmt: skip
        outcome = self._run.act(action, self.config.token_penalty, self.config.latency_penalty)
        if outcome is None:
            if self.config.illegal_actions == "raise":
                raise self._refusal(action)
            return self._ignored()
        reward, slot, shown, ended, cost, tokens, seq_tokens, done, answer, kind = outcome
        answers = self._answers
        info = {
            "action_mask": self._run.mask.copy(),
            "tokens": tokens,
            "seq_tokens": seq_tokens,
            "step_cost": cost,
            "slot": slot,
            "revealed": None if shown == NO_ANSWER else answers[shown],
            "finished": ended,
        }
        if done:
            self._running = False
            info["answer"] = None if answer == NO_ANSWER else answers[answer]
            info["correct"] = info["is_success"] = answer != NO_ANSWER and answer == self._gold
            info["stop_reason"] = STOP_REASONS[kind]
        if self._picture is not None:
            batch_reveals = kind == ActionKind.READ_MANY or self.config.reveal_on_continue
            self._picture.record(self._run.episode, slot, info["revealed"], batch_reveals)
            self._show()
        return self._run.observation(), reward, done, False, info

    def action_masks(self) -> np.ndarray:
        """Legal actions as booleans (what sb3-contrib's MaskablePPO asks for)."""
        return self._run.mask.astype(bool)

    def render(self) -> str | np.ndarray | None:
        """`ansi`: the episode as text; `rgb_array`: its picture, `uint8 [H, W, 3]` (the same
        size for every episode of this env); `human`: shown at every step, returns None."""
        if self.render_mode is None or self.episode is None:
            return None
        if self.render_mode == "ansi":
            return self._text()
        return self._frame() if self.render_mode == "rgb_array" else None

    def close(self) -> None:
        if self._window is not None:
            self._window.close()

    # ---- helpers -------------------------------------------------------------------------
    def _ignored(self) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        """A masked action under `illegal_actions="ignore"`: nothing happened."""
        episode = self._run.episode
        info = {
            "action_mask": self._run.mask.copy(),
            "tokens": episode.tokens,
            "seq_tokens": episode.seq_tokens,
            "step_cost": 0,
            "slot": -1,
            "revealed": None,
            "finished": False,
            "illegal": True,
        }
        if self._picture is not None:
            self._picture.record(episode, -1, None, False)
            self._show()
        return self._run.observation(), 0.0, False, False, info

    def _show(self) -> None:
        if self._window is not None:
            self._window.show(self._frame())

    def _frame(self) -> np.ndarray:
        episode = self.episode
        gold = self._answers[self._gold] if self._gold != NO_ANSWER else ""
        return self._picture.draw(
            episode, not self._running, episode.answer_text(episode.answer), gold
        )

    def _text(self) -> str:
        ep = self.episode
        lines = [
            f"question {ep.question.index} of {self.stores[self.store_index].name}: "
            f"{ep.n_opened} open, {ep.tokens} tokens"
        ]
        for slot, (depth, pruned, finished, revealed) in enumerate(
            zip(ep.depth, ep.pruned, ep.finished, ep.revealed, strict=True)
        ):
            state = "pruned" if pruned else "finished" if finished else "alive"
            answer = ep.answer_text(revealed)
            lines.append(f"  slot {slot:2d} depth {depth:3d} {state:8s} answer {answer}")
        return "\n".join(lines)

    def _refusal(self, action: int) -> IllegalActionError:
        kind, slot = decode_action(action, self.max_branches)
        reason = why_illegal(self._run.episode, kind, slot)
        return IllegalActionError(f"{action_name(kind, slot)} is masked: {reason}.")


TTSControlEnv.__doc__ = TTSControlEnv.__doc__.replace("        {args}", args_section())
document(TTSControlEnv.__init__)


class _CompiledRun:
    """The env's episode on the compiled batch core, N = 1."""

    def __init__(
        self,
        stores: Sequence[ReplayStore],
        questions: Sequence[tuple[int, Question]],
        config: EnvConfig,
    ) -> None:
        from tts_gym.engine.core.batch import BatchEpisodes
        from tts_gym.env.compiled import CompiledEnvs

        batch = BatchEpisodes(
            stores,
            1,
            max_branches=config.max_branches,
            probe_cost=config.probe_cost,
            reveal_on_continue=config.reveal_on_continue,
            budget=config.budget,
            max_parallel=config.max_parallel,
        )
        self.envs = CompiledEnvs(batch)
        self.questions = questions  # (store, question) in the core's global question order
        self._bind()

    def _bind(self) -> None:
        from tts_gym.engine.core.batch import EpisodeView
        from tts_gym.env import compiled

        envs = self.envs
        batch = envs.batch
        self.mask = batch.mask[0]
        self.episode = EpisodeView(batch, 0)
        self._row = batch.episodes[0]
        self._offsets = batch.tables.offsets.tolist()
        self._order = batch.order[0]
        self._table = (envs.table.addresses, envs.table.shapes)
        self._reset_envs, self._step_envs = compiled.reset_envs, compiled.step_envs
        self._actions, self._rewards = envs.actions, envs.rewards
        self._views = (envs.slots[0], envs.globals[0], envs.answer_id[0])

    def __getstate__(self) -> dict:
        return {"envs": self.envs, "questions": self.questions}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._bind()

    def start(self, store: int, question: Question, order: np.ndarray) -> None:
        envs = self.envs
        self._order[: len(order)] = order
        envs.questions[0] = self._offsets[store] + question.index
        envs.lengths[0] = len(order)
        self._reset_envs(*self._table)

    def start_drawn(
        self, rng: np.random.Generator, pinned: tuple[int, Question] | None
    ) -> tuple[int, Question]:
        envs = self.envs
        if rng is not envs.rngs[0]:
            envs.use_generators([rng])
            self._table = (envs.table.addresses, envs.table.shapes)
        envs.questions[0] = -1 if pinned is None else self._offsets[pinned[0]] + pinned[1].index
        envs.lengths[0] = 0
        self._reset_envs(*self._table)
        return pinned or self.questions[int(self._row[QUESTION])]

    def act(self, action: int, token_penalty: float, latency_penalty: float) -> Outcome | None:
        self._actions[0] = action
        if self._step_envs(*self._table, token_penalty, latency_penalty, True) >= 0:
            return None
        row = self._row.tolist()
        return (
            self._rewards.item(), row[SLOT], row[SHOWN], row[ENDED] == 1, row[COST],
            row[TOKENS], row[SEQ_TOKENS], row[DONE] == 1, row[ANSWER], row[KIND],
        )  # fmt: skip

    def observation(self) -> dict[str, np.ndarray]:
        slots, globals_, answer_id = self._views
        return {"slots": slots.copy(), "globals": globals_.copy(), "answer_id": answer_id.copy()}


class _ReferenceRun:
    """The env's episode on the reference engine: `Episode` and `ObservationBuilder`."""

    def __init__(self, questions: Sequence[tuple[int, Question]], config: EnvConfig) -> None:
        self.questions = questions
        self.config = config
        self.mask = np.zeros(n_actions(config.max_branches), dtype=np.int8)
        self._observer = ObservationBuilder(config.max_branches, config.budget)
        self._decoded = [
            decode_action(a, config.max_branches) for a in range(n_actions(config.max_branches))
        ]
        self._limit = token_limit(config.budget)
        self.episode: Episode | None = None

    def start_drawn(
        self, rng: np.random.Generator, pinned: tuple[int, Question] | None
    ) -> tuple[int, Question]:
        """Start on `pinned` (store, question), or one drawn with `rng.integers`, and an order
        drawn from `order_key(rng)` as the compiled core draws it; returns (store, question)."""
        store, question = pinned or self.questions[rng.integers(len(self.questions))]
        self.start(store, question, keyed_order(order_key(rng), question.n_branches))
        return store, question

    def start(self, store: int, question: Question, order: np.ndarray) -> None:
        config = self.config
        self.episode = Episode(
            question,
            order.tolist(),
            probe_cost=config.probe_cost,
            reveal_on_continue=config.reveal_on_continue,
            max_branches=config.max_branches,
            budget=config.budget,
            max_parallel=config.max_parallel,
        )
        self._observer.reset(self.episode)
        self._observer.update(-1, False)
        self.mask.fill(0)
        self.mask[ActionKind.ANSWER] = 1
        self._refresh_mask([], 0)

    def act(self, action: int, token_penalty: float, latency_penalty: float) -> Outcome | None:
        if not self.mask[action]:
            return None
        episode = self.episode
        kind, slot = self._decoded[action]
        tokens_before, seq_before = episode.tokens, episode.seq_tokens
        if kind in BATCH_KINDS:  # one wave: every result lands in this step's observation
            touched = episode.apply_wave(kind, slot)
            slot, revealed = -1, NO_ANSWER
            finished = any(ended for _, _, ended in touched)
        else:
            touched = ()
            slot, revealed, finished = episode.apply(kind, slot)
        cost = episode.tokens - tokens_before
        reward = step_reward(token_penalty, latency_penalty, cost, episode.seq_tokens - seq_before)
        if episode.done:
            reward += float(episode.correct)
        else:
            if touched:
                self._observer.update_wave([(s, shown != NO_ANSWER) for s, shown, _ in touched])
            else:
                self._observer.update(slot, revealed != NO_ANSWER)
            self._refresh_mask([s for s, _, _ in touched] if touched else [slot], tokens_before)
        return (
            reward, slot, revealed, finished, cost, episode.tokens, episode.seq_tokens,
            episode.done, episode.answer, kind,
        )  # fmt: skip

    def observation(self) -> dict[str, np.ndarray]:
        return self._observer.observation()

    def _refresh_mask(self, slots: list[int], tokens_before: int) -> None:
        """After an action on `slots` (-1: none)."""
        episode, config = self.episode, self.config
        for slot in slots:
            if slot >= 0:
                refresh_slot_mask(
                    self.mask, config.max_branches, slot, episode.finished[slot],
                    episode.pruned[slot], episode.revealed[slot], episode.current[slot],
                    episode.tokens, self._limit, config.probe_cost,
                )  # fmt: skip
        n_order = len(episode.order)
        refresh_open_mask(
            self.mask, config.max_branches, episode.n_opened, n_order,
            episode.tokens, tokens_before, self._limit, config.probe_cost,
        )  # fmt: skip
        refresh_batch_mask(
            self.mask, config.max_branches, episode.n_opened, n_order, episode.n_alive,
            episode.tokens, self._limit,
        )  # fmt: skip
