"""`TTSControl-v0`: width-depth control of test-time scaling as a Gymnasium environment.

Each episode replays one question of a replay store: the agent opens branches, advances,
probes and prunes them, and finally answers. Dynamics and token costs come from the engine
(`tts_gym.engine.Episode`); this module only adds spaces, masks, observations and reward.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from tts_gym.engine import NO_ANSWER, Episode
from tts_gym.engine.actions import ActionKind, decode_action, encode_action, n_actions
from tts_gym.env.observation import (
    FEATURE_CAP,
    GLOBAL_FEATURES,
    SLOT_FEATURES,
    ObservationBuilder,
)
from tts_gym.env.spaces import MaskedDiscrete
from tts_gym.errors import IllegalActionError
from tts_gym.store import Question, ReplayStore, select_stores

TOKEN_UNIT = 1_000_000  # the reward charges token_penalty per million tokens


class TTSControlEnv(gym.Env[dict[str, np.ndarray], int]):
    """Replay cached reasoning branches; reward = correct - token_penalty * tokens / 1e6.

    Rewards are paid as they are spent (each action's token cost) plus the correctness at the
    end, so an episode's return is exactly the formula above. `info["action_mask"]` and
    `action_masks()` say which actions are legal; a masked action raises `ValueError`.

    Args:
        stores: catalog names (`autotts/qwen3-8b/aime24`), groups (`search`, `held-out`,
            `all`) or file paths. Questions are drawn uniformly over all their questions.
        max_branches: slots, i.e. how many branches an episode may open.
        token_penalty: reward per million tokens spent.
        probe_cost: tokens a PROBE costs (meaningful with `reveal_on_continue=False`).
        reveal_on_continue: advancing a branch also reveals its new answer (the paper's MDP).
        budget: once this many tokens are spent, only ANSWER and SUBMIT remain legal.
        data_dir: folder holding catalog stores (default `$TTS_GYM_DATA` or the user cache).
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
    ) -> None:
        if max_branches < 1:
            raise ValueError(f"max_branches must be at least 1, got {max_branches}.")
        if budget is not None and budget <= 0:
            raise ValueError(f"budget must be positive, got {budget}.")
        if probe_cost < 0:
            raise ValueError(f"probe_cost must be non-negative, got {probe_cost}.")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}.")
        self.stores: tuple[ReplayStore, ...] = tuple(select_stores(stores, data_dir))
        self.questions: tuple[tuple[int, Question], ...] = tuple(
            (s, q) for s, store in enumerate(self.stores) for q in store.questions
        )
        max_answers = max(len(q.answers) for _, q in self.questions)
        self.max_branches = max_branches
        self.token_penalty = float(token_penalty)
        self.probe_cost = probe_cost
        self.reveal_on_continue = reveal_on_continue
        self.budget = budget
        self.render_mode = render_mode

        self._mask = np.zeros(n_actions(max_branches), dtype=np.int8)
        self.action_space = MaskedDiscrete(self._mask)
        self.observation_space = spaces.Dict(
            {
                "slots": spaces.Box(
                    0.0, FEATURE_CAP, (max_branches, len(SLOT_FEATURES)), np.float32
                ),
                "globals": spaces.Box(0.0, FEATURE_CAP, (len(GLOBAL_FEATURES),), np.float32),
                "answer_id": spaces.Box(-1.0, max_answers, (max_branches,), np.float32),
            }
        )
        self._observer = ObservationBuilder(max_branches, budget)
        self._continue = encode_action(ActionKind.CONTINUE, 0, max_branches)
        self._probe = encode_action(ActionKind.PROBE, 0, max_branches)
        self._prune = encode_action(ActionKind.PRUNE, 0, max_branches)
        self._submit = encode_action(ActionKind.SUBMIT, 0, max_branches)
        self._decoded = [decode_action(a, max_branches) for a in range(self.action_space.n)]
        self.episode: Episode | None = None
        self.store_index = 0

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
        if "question" in options:
            self.store_index = self._store_index(options.get("store", 0))
            question = self._pinned_question(options["question"])
        else:
            if "store" in options:
                raise ValueError("options['store'] needs options['question'] as well.")
            self.store_index, question = self.questions[
                self.np_random.integers(len(self.questions))
            ]
        if "order" in options:
            order = self._checked_order(options["order"], question)
        else:
            order = self.np_random.permutation(question.n_branches).tolist()
        self.episode = Episode(
            question,
            order,
            probe_cost=self.probe_cost,
            reveal_on_continue=self.reveal_on_continue,
        )
        self._observer.reset(self.episode)
        self._observer.update(-1, False)
        self._reset_mask()
        return self._observer.observation(), self._info(-1, NO_ANSWER, False, 0)

    def step(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        episode = self.episode
        if episode is None:
            raise RuntimeError("call reset() before step().")
        if episode.done:
            raise RuntimeError("the episode has ended; call reset().")
        action = int(action)
        if not (0 <= action < self.action_space.n and self._mask[action]):
            raise IllegalActionError(self._why_illegal(action))
        kind, slot = self._decoded[action]
        tokens_before = episode.tokens
        revealed: int = NO_ANSWER
        finished = False
        if kind is ActionKind.CONTINUE:
            revealed, finished = episode.advance(slot)
        elif kind is ActionKind.BRANCH:
            revealed, slot, finished = episode.open()
        elif kind is ActionKind.READ:
            revealed, slot, finished = episode.read(), episode.n_opened - 1, True
        elif kind is ActionKind.PROBE:
            revealed = episode.probe(slot)
        elif kind is ActionKind.PRUNE:
            episode.prune(slot)
        elif kind is ActionKind.SUBMIT:
            episode.submit(slot)
        else:
            episode.finish(episode.majority())
            slot = -1
        cost = episode.tokens - tokens_before
        reward = -self.token_penalty * cost / TOKEN_UNIT
        if episode.done:
            reward += float(episode.correct)
        else:
            self._observer.update(slot, revealed != NO_ANSWER)
            self._update_mask(slot)
        info = self._info(slot, revealed, finished, cost)
        if episode.done:
            info.update(
                answer=episode.answer_text(episode.answer),
                correct=episode.correct,
                stop_reason=kind.name.lower(),
            )
        return self._observer.observation(), reward, episode.done, False, info

    def action_masks(self) -> np.ndarray:
        """Legal actions as booleans (what sb3-contrib's MaskablePPO asks for)."""
        return self._mask.astype(bool)

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self.episode is None:
            return None
        ep = self.episode
        lines = [
            f"question {ep.question.index} of {self.stores[self.store_index].name}: "
            f"{ep.n_opened} open, {ep.tokens} tokens"
        ]
        for slot in range(ep.n_opened):
            state = "pruned" if ep.pruned[slot] else "finished" if ep.finished[slot] else "alive"
            answer = ep.answer_text(ep.revealed[slot])
            lines.append(f"  slot {slot:2d} depth {ep.depth[slot]:3d} {state:8s} answer {answer}")
        return "\n".join(lines)

    # ---- helpers -------------------------------------------------------------------------
    def _info(self, slot: int, revealed: int, finished: bool, cost: int) -> dict[str, Any]:
        episode = self.episode
        return {
            "action_mask": self._mask.copy(),
            "tokens": episode.tokens,
            "step_cost": cost,
            "slot": slot,
            "revealed": episode.answer_text(revealed),
            "finished": finished,
        }

    def _reset_mask(self) -> None:
        mask = self._mask
        mask.fill(0)
        mask[ActionKind.ANSWER] = 1
        self._was_over_budget = False
        self._update_mask(-1)

    def _update_mask(self, slot: int) -> None:
        """Refresh the global actions and the per-slot actions of `slot` (-1: none)."""
        episode, mask, m = self.episode, self._mask, self.max_branches
        over_budget = self.budget is not None and episode.tokens >= self.budget
        can_open = episode.can_open and episode.n_opened < m and not over_budget
        mask[ActionKind.BRANCH] = mask[ActionKind.READ] = can_open
        if slot >= 0:
            mask[self._continue + slot] = episode.can_advance(slot) and not over_budget
            mask[self._probe + slot] = episode.can_probe(slot) and not (
                over_budget and self.probe_cost
            )
            mask[self._prune + slot] = episode.can_advance(slot)
            mask[self._submit + slot] = episode.revealed[slot] != NO_ANSWER
        if over_budget and not self._was_over_budget:
            mask[self._continue : self._continue + m] = 0
            if self.probe_cost:
                mask[self._probe : self._probe + m] = 0
        self._was_over_budget = over_budget

    def _why_illegal(self, action: int) -> str:
        if not 0 <= action < self.action_space.n:
            return f"action {action} is outside 0..{self.action_space.n - 1}."
        kind, slot = decode_action(action, self.max_branches)
        name = (
            kind.name
            if kind in (ActionKind.ANSWER, ActionKind.BRANCH, ActionKind.READ)
            else f"{kind.name}({slot})"
        )
        episode = self.episode
        if kind in (ActionKind.BRANCH, ActionKind.READ):
            if self.budget is not None and episode.tokens >= self.budget:
                return f"{name} is masked: the token budget of {self.budget} is spent."
            if episode.n_opened >= self.max_branches:
                return f"{name} is masked: all {self.max_branches} slots are in use."
            return f"{name} is masked: all {len(episode.order)} branches are opened."
        if slot >= episode.n_opened:
            return f"{name} is masked: slot {slot} is not open ({episode.n_opened} branches open)."
        if self.budget is not None and episode.tokens >= self.budget:
            return f"{name} is masked: the token budget of {self.budget} is spent."
        if kind is ActionKind.SUBMIT:
            return f"{name} is masked: slot {slot} has no revealed answer."
        state = (
            "pruned"
            if episode.pruned[slot]
            else "finished"
            if episode.finished[slot]
            else "already revealed at this depth"
        )
        return f"{name} is masked: the branch in slot {slot} is {state}."

    def _store_index(self, store: int | str) -> int:
        if isinstance(store, (int, np.integer)):
            if not 0 <= store < len(self.stores):
                raise ValueError(
                    f"options['store'] = {store} is outside 0..{len(self.stores) - 1}."
                )
            return int(store)
        for index, candidate in enumerate(self.stores):
            if store in (candidate.name, str(candidate.path)):
                return index
        raise ValueError(f"options['store'] = {store!r} is not one of this env's stores.")

    def _pinned_question(self, index: int) -> Question:
        questions = self.stores[self.store_index].questions
        if not 0 <= int(index) < len(questions):
            raise ValueError(f"options['question'] = {index} is outside 0..{len(questions) - 1}.")
        return questions[int(index)]

    @staticmethod
    def _checked_order(order: Sequence[int], question: Question) -> list[int]:
        order = [int(b) for b in order]
        if len(set(order)) != len(order) or not all(0 <= b < question.n_branches for b in order):
            last = question.n_branches - 1
            raise ValueError(f"options['order'] must list distinct branch indices in 0..{last}.")
        return order
