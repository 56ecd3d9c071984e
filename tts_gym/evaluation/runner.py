"""Run one controller on every (question, order) of a store, without looking at gold answers.

`run_store` plays every episode on `strip_gold(store)`: the episodes, handles and envs a
policy is given hold no gold answer and no question text, and `score` compares what it
answered with the gold answers afterwards, outside the episodes. Engine controllers
(`run(episode)`) and imperative ones (`solve(q)`) run directly on the engine; step policies
(`act(obs, info)`) run through `TTSControl-v0`, or, when they offer
`play_store(store, orders, questions=...)` (trained networks that batch their forwards; or
episodes already played through the sandbox, `tts_gym.evaluation.sandbox`), all at once.

This keeps honest code honest; it is no boundary against code that wants the answer (an
engine controller holds the episode, which holds every branch). Untrusted controllers go
through `tts_gym.evaluation.sandbox`, which runs them in a process that holds only what
their actions revealed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tts_gym.control.base import check_answer, policy_kind, policy_name
from tts_gym.control.errors import PolicyError
from tts_gym.control.handle import QuestionHandle
from tts_gym.engine import NO_ANSWER, Episode
from tts_gym.errors import brief
from tts_gym.evaluation.traces import TracingEpisode, action_record, episode_record
from tts_gym.store.replay import Question, ReplayStore

Orders = Sequence[Sequence[int]] | Callable[[int, int], Sequence[Sequence[int]]]
"""One list of branch orders for every question, or `f(question_index, n_branches) -> orders`."""


@dataclass
class Outcomes:
    """What a controller did on each (question, order): its answer and the tokens it spent."""

    answers: list[list[str | None]]  # [question][order]
    tokens: np.ndarray  # int64 [n_questions, n_orders]
    traces: list[list[dict[str, Any]]] | None = None  # [question][order], when asked for
    seconds: float = 0.0  # CPU time the episodes took (for throughput figures)

    @property
    def n_questions(self) -> int:
        return len(self.answers)

    @property
    def n_orders(self) -> int:
        return int(self.tokens.shape[1]) if self.tokens.ndim == 2 else 0

    @classmethod
    def concat(cls, parts: Sequence[Outcomes]) -> Outcomes:
        """Join outcomes of consecutive question ranges."""
        traces = None
        if parts and all(part.traces is not None for part in parts):
            traces = [row for part in parts for row in part.traces]
        return cls(
            answers=[row for part in parts for row in part.answers],
            tokens=np.concatenate([part.tokens for part in parts], axis=0),
            traces=traces,
            seconds=sum(part.seconds for part in parts),
        )


Played = tuple[str | None, int, dict[str, Any] | None]
"""One episode's answer, tokens spent and trace record (None when not traced)."""
Player = Callable[[int, Sequence[int]], Played]
"""Plays one (question index, order) of a store."""


def run_store(
    policy: Any,
    store: ReplayStore,
    orders: Orders,
    *,
    questions: Sequence[int] | None = None,
    trace: bool = False,
) -> Outcomes:
    """Play `policy` on each question (all, or the given indices) under each order.

    Policies play on the gold-free copy of `store`; `score` the outcomes against `store`.
    """
    store = strip_gold(store)
    batched = callable(getattr(policy, "play_store", None))
    if batched and (not trace or getattr(policy, "play_store_traces", False)):
        try:
            return policy.play_store(store, orders, questions=questions)
        except Exception as error:  # one sentence naming the policy, as for `act`
            raise PolicyError(
                f"policy '{policy_name(policy)}' raised {brief(error)} in play_store "
                f"(on {store.name})."
            ) from error
    started = time.process_time()
    play = player(policy, store, trace)
    answers: list[list[str | None]] = []
    token_rows: list[list[int]] = []
    traces: list[list[dict[str, Any]]] | None = [] if trace else None
    for qi in range(store.n_questions) if questions is None else questions:
        n_branches = store.questions[qi].n_branches
        question_orders = orders(qi, n_branches) if callable(orders) else orders
        row_answers: list[str | None] = []
        row_tokens: list[int] = []
        row_traces: list[dict[str, Any] | None] = []
        try:
            for order in question_orders:
                answer, tokens, record = play(qi, order)
                row_answers.append(answer)
                row_tokens.append(tokens)
                row_traces.append(record)
        except PolicyError as error:
            raise PolicyError(f"{error} ({_where(store, qi, len(row_answers))}).") from None
        except Exception as error:
            where = _where(store, qi, len(row_answers))
            raise PolicyError(
                f"policy '{policy_name(policy)}' raised {brief(error)} ({where})."
            ) from error
        answers.append(row_answers)
        token_rows.append(row_tokens)
        if traces is not None:
            traces.append(row_traces)
    return Outcomes(answers, _token_array(token_rows), traces, time.process_time() - started)


def player(policy: Any, store: ReplayStore, trace: bool = False) -> Player:
    """How `policy` plays one episode of `store` (gold-free): on the engine, or in the env."""
    store = strip_gold(store)
    kind = policy_kind(policy)
    if kind is None:
        raise PolicyError(
            f"policy '{policy_name(policy)}' has none of the methods solve(q), run(episode) "
            "or act(obs, info)."
        )
    if kind == "step":
        return _step_player(policy, store, trace)
    decide = _play_engine if kind == "engine" else _play_imperative
    episode_type = TracingEpisode if trace else Episode
    questions = store.questions

    def play(question_index: int, order: Sequence[int]) -> Played:
        question = questions[question_index]
        episode = episode_type(question, order)
        answer = decide(policy, episode, question)
        return answer, episode.tokens, episode.record(answer) if trace else None

    return play


def score(outcomes: Outcomes, store: ReplayStore) -> np.ndarray:
    """Correctness per (question, order) as a bool array; `.mean(axis=1)` is per question."""
    if outcomes.n_questions != store.n_questions:
        raise ValueError(
            f"outcomes cover {outcomes.n_questions} questions, the store has {store.n_questions}."
        )
    return np.array(
        [
            [answer is not None and answer == question.gold for answer in row]
            for row, question in zip(outcomes.answers, store.questions, strict=True)
        ],
        dtype=bool,
    ).reshape(outcomes.tokens.shape)


def strip_gold(store: ReplayStore) -> ReplayStore:
    """The same store with no gold answer and no question text (idempotent)."""
    if all(q.gold == "" and q.text == "" for q in store.questions):
        return store
    return dataclasses.replace(
        store,
        questions=tuple(dataclasses.replace(q, gold="", text="") for q in store.questions),
    )


def _step_player(policy: Any, store: ReplayStore, trace: bool) -> Player:
    """Plays one (question, order) of `store` in `TTSControl-v0` with a step policy.

    The env is built on the (gold-free) store with `policy.env_kwargs` (if any; e.g.
    `max_branches` for a policy trained with another) and handed to `policy.bind(env)` when
    the policy has that method.
    """
    from tts_gym.env import TTSControlEnv, decode_action

    env = TTSControlEnv(stores=[store], **getattr(policy, "env_kwargs", {}))  # gold-free
    if callable(getattr(policy, "bind", None)):
        policy.bind(env)

    def play(question_index: int, order: Sequence[int]) -> Played:
        obs, info = env.reset(options={"store": 0, "question": question_index, "order": order})
        actions = []
        terminated = False
        while not terminated:
            action = int(policy.act(obs, info))
            obs, _, terminated, _, info = env.step(action)
            if trace:
                kind, _ = decode_action(action, env.max_branches)
                record = action_record(
                    kind.name, info["slot"], info["revealed"], info["finished"], info["tokens"]
                )
                actions.append(record)
        answer, tokens = info["answer"], int(info["tokens"])
        return (
            answer,
            tokens,
            (episode_record(actions, answer, tokens, info["stop_reason"]) if trace else None),
        )

    return play


def _play_engine(policy: Any, episode: Episode, question: Question) -> str | None:
    answer = policy.run(episode)
    if not isinstance(answer, int) or not NO_ANSWER <= answer < len(question.answers):
        raise PolicyError(
            f"policy '{policy_name(policy)}' returned {answer!r} from run(episode), "
            "not an answer id of the question"
        )
    return None if answer == NO_ANSWER else question.answers[answer]


def _play_imperative(policy: Any, episode: Episode, question: Question) -> str | None:
    answer = policy.solve(QuestionHandle(episode, question.probe_freq))
    check_answer(policy_name(policy), answer)
    return answer


def _where(store: ReplayStore, question: int, order: int) -> str:
    return f"on question {question} of {store.name}, order {order}"


def _token_array(rows: list[list[int]]) -> np.ndarray:
    lengths = {len(row) for row in rows}
    if len(lengths) > 1:
        raise ValueError("every question must be played under the same number of orders.")
    return np.array(rows, dtype=np.int64).reshape(len(rows), lengths.pop() if rows else 0)
