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

from tts_gym.engine import NO_ANSWER, Episode
from tts_gym.engine.actions import BATCH_KINDS, ActionKind, action_name, decode_action, n_actions
from tts_gym.engine.core.layout import (
    ANSWER,
    COST,
    DONE,
    ENDED,
    KIND,
    SEQ_TOKENS,
    SHOWN,
    SLOT,
    TOKENS,
)
from tts_gym.engine.rules import (
    refresh_batch_mask,
    refresh_open_mask,
    refresh_slot_mask,
    token_limit,
    why_illegal,
)
from tts_gym.env.arguments import (
    ENGINES,
    ConfiguredEnv,
    EnvArgumentError,
    EnvConfig,
    checked_action,
    load_env_stores,
    pinned_order,
    pinned_question,
    store_index,
)
from tts_gym.env.observation import ObservationBuilder
from tts_gym.env.reward import step_reward
from tts_gym.env.spaces import MaskedDiscrete, observation_space
from tts_gym.errors import IllegalActionError
from tts_gym.store import Question, ReplayStore

STOP_REASONS = {ActionKind.ANSWER: "answer", ActionKind.SUBMIT: "submit"}

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
    last revealed answer); then the batch actions, each one wave (LATENCY.md): ADVANCE_ALL
    (CONTINUE every alive slot once), OPEN_MANY(k) (BRANCH k times) and READ_MANY(k) (READ k
    times) for k in `BATCH_WIDTHS` = (2, 4, 8, 16, 32, 64). `tts_gym.encode_action` /
    `decode_action` convert. Legality is `tts_gym.engine.rules`: `info["action_mask"]` (int8)
    and `action_masks()` (bool) say which actions are legal; an illegal action raises
    `IllegalActionError` (a `ValueError`) saying why, and an action that is not an integer
    raises `TypeError`.

    Observation: `Dict` of `slots` `[max_branches, 13]`, `globals` `[10]` and `answer_id`
    `[max_branches]` (float32; `tts_gym.env.observation` defines every feature). Answer
    strings and the gold answer never enter it. A batch action's results all enter the
    observation of its step, none before (answer ids of answers first revealed together are
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
    action), `finished` (it finished a branch); at the end also `answer`, `correct` and
    `stop_reason` (`"answer"` or `"submit"`).

    Starting state: `reset(seed=...)` draws a question uniformly over all questions of the
    stores, then a branch order (a permutation), from `np_random`;
    `reset(options={"store": index_or_name, "question": q, "order": [branches]})` pins them
    (`store` defaults to 0, `order` to a drawn permutation; an order may list a subset).

    Args:
        stores: catalog names (`autotts/qwen3-8b/aime24`), groups (`search`, `held-out`,
            `all`) or file paths.
        max_branches: slots, i.e. how many branches an episode may open (an integer >= 1).
        token_penalty: reward per million tokens spent (finite, >= 0).
        probe_cost: tokens a PROBE costs (an integer >= 0; meaningful with
            `reveal_on_continue=False`).
        reveal_on_continue: advancing a branch also reveals its new answer (the paper's MDP).
        budget: tokens (an integer > 0 or None); once spent, only actions that cost nothing
            stay legal (ANSWER, SUBMIT, PRUNE, and PROBE when `probe_cost` is 0).
        data_dir: folder holding catalog stores (default `$TTS_GYM_DATA` or the user cache).
        render_mode: None or `"ansi"`.
        engine: `"compiled"` (the batch core, fast) or `"python"` (the readable reference).
        latency_penalty: reward per million sequential tokens (finite, >= 0; default 0).
        max_parallel: how many branches a wave runs at once (an integer >= 1, or None for no
            cap); a wider wave runs as consecutive sub-waves in slot order.
        confidence: which per-segment confidence of the store a slot's `confidence` feature
            carries: "group" (default), "lowest", "bottom10" or "tail" (docs/collect.md).
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        stores: Sequence[str] | str = ("search",),
        max_branches: int = 64,
        token_penalty: float = 0.5,
        probe_cost: int = 0,
        reveal_on_continue: bool = True,
        budget: int | None = None,
        data_dir: str | None = None,
        render_mode: str | None = None,
        engine: str = "compiled",
        latency_penalty: float = 0.0,
        max_parallel: int | None = None,
        confidence: str = "group",
    ) -> None:
        config = EnvConfig.checked(
            max_branches, token_penalty, probe_cost, reveal_on_continue, budget,
            latency_penalty, max_parallel,
        )  # fmt: skip
        if engine not in ENGINES:
            raise EnvArgumentError(f"engine must be one of {ENGINES}, got {engine!r}.")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise EnvArgumentError(f"render_mode must be None or 'ansi', got {render_mode!r}.")
        self.stores: tuple[ReplayStore, ...] = load_env_stores(stores, data_dir, confidence)
        self.questions: tuple[tuple[int, Question], ...] = tuple(
            (s, q) for s, store in enumerate(self.stores) for q in store.questions
        )
        self.config = config
        self.render_mode = render_mode
        self.engine = engine
        self._run: _CompiledRun | _ReferenceRun = (
            _CompiledRun(self.stores, self.questions, config)
            if engine == "compiled"
            else _ReferenceRun(self.questions, config)
        )
        self._n_actions = n_actions(config.max_branches)
        self.action_space = MaskedDiscrete(self._run.mask)
        self.observation_space = observation_space(
            config.max_branches, max(len(q.answers) for _, q in self.questions)
        )
        self.store_index = 0
        self._answers: tuple[str, ...] = ()
        self._gold = NO_ANSWER
        self._running: bool | None = None  # None before the first reset

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
        super().reset(seed=seed)
        options = options or {}
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
        else:  # np_random.integers(n_questions) unless pinned, then np_random.permutation
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
            raise self._refusal(action)
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
            info["correct"] = answer != NO_ANSWER and answer == self._gold
            info["stop_reason"] = STOP_REASONS[kind]
        return self._run.observation(), reward, done, False, info

    def action_masks(self) -> np.ndarray:
        """Legal actions as booleans (what sb3-contrib's MaskablePPO asks for)."""
        return self._run.mask.astype(bool)

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self.episode is None:
            return None
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

    def __setstate__(self, state: dict) -> None:
        # pickled and deep-copied envs sample from their own mask (the compiled mask is a
        # view into the batch arrays, rebuilt on unpickling)
        self.__dict__.update(state)
        self.action_space.legal = self._run.mask

    # ---- helpers -------------------------------------------------------------------------
    def _refusal(self, action: int) -> IllegalActionError:
        kind, slot = decode_action(action, self.max_branches)
        reason = why_illegal(self._run.episode, kind, slot)
        return IllegalActionError(f"{action_name(kind, slot)} is masked: {reason}.")


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
        self._reset_envs, self._reset_drawn = compiled.reset_envs, compiled.reset_env_drawn
        self._step_envs = compiled.step_envs
        self._actions, self._rewards = envs.actions, envs.rewards
        self._views = (envs.slots[0], envs.globals[0], envs.answer_id[0])
        self._rng: np.random.Generator | None = None  # the Generator `_stream` draws from
        self._stream = (0, 0)

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
        if rng is not self._rng:
            from tts_gym.engine.core.random import generator_stream

            self._rng, self._stream = rng, generator_stream(rng)
        question = -1 if pinned is None else self._offsets[pinned[0]] + pinned[1].index
        question = self._reset_drawn(*self._table, 0, self._stream, question)
        return pinned or self.questions[question]

    def act(self, action: int, token_penalty: float, latency_penalty: float) -> Outcome | None:
        self._actions[0] = action
        if self._step_envs(*self._table, token_penalty, latency_penalty) >= 0:
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
        drawn with `rng.permutation`; returns (store, question)."""
        store, question = pinned or self.questions[rng.integers(len(self.questions))]
        self.start(store, question, rng.permutation(question.n_branches))
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
