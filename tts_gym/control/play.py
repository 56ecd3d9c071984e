"""Any controller as one player: every (question, order) episode of a store, played gold-free.

`play(policy, store, orders)` is the one adapter from the kinds of `protocols` to `Outcomes`:

- a `Batched` controller plays the store itself (unless traces are asked for and it cannot
  give them);
- an `EngineController` or `Imperative` one plays each episode on `tts_gym.engine.Episode`
  (through a `QuestionHandle` for `solve`), traced on `TracingEpisode` when asked;
- a `StepPolicy` plays in `TTSControl-v0`: side by side on `TTSControlVectorEnv` (one copy
  of the policy per sub-env, `reset()` at every episode), or one episode at a time in the
  single env when it needs that env (`bind(env)`) or traces are asked for.

The store is replaced by its gold-free copy first: whatever a policy is handed (episodes,
handles, envs) holds no gold answer and no question text. The harness scores the outcomes
against the gold answers afterwards. This keeps honest code honest; it is no boundary
against code that wants the answer (an engine controller holds every branch): untrusted
controllers go through `tts_gym.sandbox`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tts_gym.control.errors import PolicyError
from tts_gym.control.handle import QuestionHandle
from tts_gym.control.outcomes import Orders, Outcomes
from tts_gym.control.protocols import check_answer, is_batched, policy_kind, policy_name
from tts_gym.control.traces import TracingEpisode, action_record, episode_record
from tts_gym.engine import NO_ANSWER, ActionKind, Episode
from tts_gym.env.arguments import is_integer
from tts_gym.errors import brief
from tts_gym.store.replay import Question, ReplayStore

VECTOR_ENVS = 256
"""Sub-envs a step policy plays on side by side."""

Played = tuple[str | None, int, int, dict[str, Any] | None]
"""One episode's answer, tokens, sequential tokens and trace record (None when not traced)."""


def play(
    policy: Any,
    store: ReplayStore,
    orders: Orders,
    *,
    questions: Sequence[int] | None = None,
    trace: bool = False,
    on_question: Callable[[int], None] | None = None,
) -> Outcomes:
    """Play `policy` on each question of `store` (all, or the given indices) under each order.

    Any failure of the policy is a `PolicyError` sentence naming it, the store and where.
    `on_question(index)` is called as each question starts when episodes are played one at a
    time (how a supervisor names the question a stuck policy is on); not when side by side.
    """
    store = store.without_gold()
    indices = list(range(store.n_questions) if questions is None else questions)
    if is_batched(policy) and (not trace or getattr(policy, "play_traces", False)):
        try:
            return policy.play(store, orders, questions=indices)
        except Exception as error:
            raise PolicyError(
                f"policy '{policy_name(policy)}' raised {brief(error)} in play (on {store.name})."
            ) from error
    kind = policy_kind(policy)
    if kind is None:
        raise PolicyError(
            f"policy '{policy_name(policy)}' has none of the methods play(store, orders), "
            "solve(q), run(episode) or act(obs, info)."
        )
    per_question = [_orders(orders, store, q) for q in indices]
    if len({len(rows) for rows in per_question}) > 1:
        raise ValueError("every question must be played under the same number of orders.")
    episodes = [(q, order) for q, rows in zip(indices, per_question, strict=True) for order in rows]
    started = time.process_time()
    if kind == "step" and not trace and not callable(getattr(policy, "bind", None)):
        played = _play_side_by_side(policy, store, episodes)
    else:
        one = _episode_player(policy, kind, store, trace)
        played, current = [], None
        for q, order in episodes:
            if on_question is not None and q != current:
                current = q
                on_question(q)
            try:
                played.append(one(q, order))
            except PolicyError as error:
                raise PolicyError(f"{error} ({_where(store, q, episodes, len(played))}).") from None
            except Exception as error:
                where = _where(store, q, episodes, len(played))
                raise PolicyError(
                    f"policy '{policy_name(policy)}' raised {brief(error)} ({where})."
                ) from error
    return _outcomes(played, len(indices), trace, time.process_time() - started)


def _episode_player(
    policy: Any, kind: str, store: ReplayStore, trace: bool
) -> Callable[[int, Sequence[int]], Played]:
    """How `policy` plays one (question, order) of `store`: on the engine, or in the env."""
    if kind == "step":
        return _step_player(policy, store, trace)
    decide = _play_engine if kind == "engine" else _play_imperative
    episode_type = TracingEpisode if trace else Episode

    def play_one(question_index: int, order: Sequence[int]) -> Played:
        question = store.questions[question_index]
        episode = episode_type(question, order)
        answer = decide(policy, episode, question)
        record = episode.record(answer) if trace else None
        return answer, episode.tokens, episode.seq_tokens, record

    return play_one


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


def _step_player(
    policy: Any, store: ReplayStore, trace: bool
) -> Callable[[int, Sequence[int]], Played]:
    """One episode at a time in `TTSControl-v0` (built with the policy's `env_kwargs`)."""
    from tts_gym.env import TTSControlEnv, decode_action

    env = TTSControlEnv(stores=[store], **_env_arguments(policy))
    if callable(getattr(policy, "bind", None)):
        policy.bind(env)

    def play_one(question_index: int, order: Sequence[int]) -> Played:
        obs, info = env.reset(options={"store": 0, "question": question_index, "order": order})
        _reset(policy)
        actions = []
        terminated = False
        while not terminated:
            action = step_action(policy, policy.act(obs, info), env.action_space.n)
            obs, _, terminated, _, info = env.step(action)
            if trace:
                kind, _ = decode_action(action, env.max_branches)
                record = action_record(
                    kind.name, info["slot"], info["revealed"], info["finished"], info["tokens"],
                    info["seq_tokens"], len(actions),
                )  # fmt: skip
                actions.append(record)
        answer, tokens, seq_tokens = info["answer"], int(info["tokens"]), int(info["seq_tokens"])
        record = (
            episode_record(actions, answer, tokens, seq_tokens, info["stop_reason"])
            if trace
            else None
        )
        return answer, tokens, seq_tokens, record

    return play_one


def _play_side_by_side(
    policy: Any, store: ReplayStore, episodes: Sequence[tuple[int, Sequence[int]]]
) -> list[Played]:
    """Every episode on `TTSControlVectorEnv`, `VECTOR_ENVS` at a time, one policy copy each.

    Each round pins the next episodes to the sub-envs; a sub-env whose episode has ended
    answers at once (its action is ignored by the autoreset, then ends the drawn episode)
    until the round's last episode ends.
    """
    from tts_gym.env import TTSControlVectorEnv

    n = max(1, min(VECTOR_ENVS, len(episodes)))
    env = TTSControlVectorEnv(n, stores=[store], **_env_arguments(policy))
    copies = [copy.deepcopy(policy) for _ in range(n)]
    played: list[Played] = []
    for start in range(0, len(episodes), n):
        batch = episodes[start : start + n]
        pins = [*batch, *[(None, None)] * (n - len(batch))]
        obs, info = env.reset(
            options={
                "store": [0] * n,
                "question": [q for q, _ in pins],
                "order": [None if order is None else list(order) for _, order in pins],
            }
        )
        results: list[Played | None] = [None] * len(batch)
        for i in range(len(batch)):
            _reset(copies[i])
        while any(result is None for result in results):
            actions = np.full(n, int(ActionKind.ANSWER), dtype=np.int64)
            for i in range(len(batch)):
                if results[i] is None:
                    actions[i] = _act(copies[i], obs, info, i, store, batch[i][0])
            obs, _, terminated, _, info = env.step(actions)
            for i in np.flatnonzero(terminated[: len(batch)]):
                if results[i] is None:
                    tokens, seq_tokens = int(info["tokens"][i]), int(info["seq_tokens"][i])
                    results[i] = (info["answer"][i], tokens, seq_tokens, None)
        played.extend(results)
    env.close()
    return played


def _act(policy: Any, obs: dict, info: dict, i: int, store: ReplayStore, question: int) -> int:
    """Sub-env `i`'s observation and info, as the single env gives them, to `policy.act`."""
    one_obs = {key: value[i] for key, value in obs.items()}
    one_info = {
        key: value[i]
        for key, value in info.items()
        if not key.startswith("_") and info[f"_{key}"][i]
    }
    try:
        return step_action(policy, policy.act(one_obs, one_info), len(one_info["action_mask"]))
    except PolicyError as error:
        raise PolicyError(f"{error} (on question {question} of {store.name}).") from None
    except Exception as error:
        raise PolicyError(
            f"policy '{policy_name(policy)}' raised {brief(error)} "
            f"(on question {question} of {store.name})."
        ) from error


def step_action(policy: Any, action: Any, n_actions: int) -> int:
    """A step policy's return as an action: an integer (Python or numpy, or a 0-d integer
    array) in the action space. 0.7, "2" or True are refused, not truncated, parsed or
    counted as 1."""
    if isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in "iu":
        action = action.item()
    if not is_integer(action) or not 0 <= action < n_actions:
        shown = repr(action) if len(repr(action)) <= 40 else f"{repr(action)[:37]}..."
        raise PolicyError(
            f"policy '{policy_name(policy)}' returned {shown} from act(obs, info), not an "
            f"action (an integer in 0..{n_actions - 1})"
        )
    return int(action)


def _env_arguments(policy: Any) -> dict[str, Any]:
    """The env a step policy plays in: its `env_kwargs`, and masked actions refused (a
    policy that picks one is wrong, not ignored)."""
    return {**getattr(policy, "env_kwargs", {}), "illegal_actions": "raise"}


def _reset(policy: Any) -> None:
    reset = getattr(policy, "reset", None)
    if callable(reset):
        reset()


def _orders(orders: Orders, store: ReplayStore, question: int) -> Sequence[Sequence[int]]:
    return orders(question, store.questions[question].n_branches) if callable(orders) else orders


def _where(
    store: ReplayStore, question: int, episodes: Sequence[tuple[int, Any]], done: int
) -> str:
    order = sum(1 for q, _ in episodes[:done] if q == question)
    return f"on question {question} of {store.name}, order {order}"


def _outcomes(played: list[Played], n_questions: int, trace: bool, seconds: float) -> Outcomes:
    n_orders = len(played) // n_questions if n_questions else 0
    rows = [played[q * n_orders : (q + 1) * n_orders] for q in range(n_questions)]

    def column(k: int) -> np.ndarray:
        values = [[episode[k] for episode in row] for row in rows]
        return np.array(values, dtype=np.int64).reshape(n_questions, n_orders)

    return Outcomes(
        answers=[[episode[0] for episode in row] for row in rows],
        tokens=column(1),
        seq_tokens=column(2),
        traces=[[episode[3] for episode in row] for row in rows] if trace else None,
        seconds=seconds,
    )
