"""Play a macro policy on many episodes at once: one batched network call per decision.

The autotts protocol on the eight held-out stores is 24,000 episodes; a network forward per
decision of each episode would dominate the run time. Here up to `batch` envs, each pinned
to one (question, order) with reset options, advance in lockstep and share one forward.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from tts_gym_agents.rl.macro import MacroEnv

from tts_gym.control.outcomes import Orders, Outcomes
from tts_gym.env import TTSControlEnv
from tts_gym.store import ReplayStore

ChooseBatch = Callable[[dict[str, np.ndarray], np.ndarray], np.ndarray]
"""(stacked policy observations, macro masks [n, n_macros]) -> macros [n]."""


def play_episodes(
    choose: ChooseBatch, envs: Sequence[MacroEnv], episodes: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Play every episode (reset options) to its end; the final info of each, in order."""
    finals: list[dict[str, Any]] = [{} for _ in episodes]
    pending = iter(enumerate(episodes))
    running: dict[int, tuple[int, dict[str, np.ndarray]]] = {}  # env -> (episode, obs)

    def start(e: int) -> None:
        item = next(pending, None)
        if item is not None:
            running[e] = (item[0], envs[e].reset(options=item[1])[0])

    for e in range(len(envs)):
        start(e)
    while running:
        order = list(running)
        obs = {key: np.stack([running[e][1][key] for e in order]) for key in running[order[0]][1]}
        masks = np.stack([envs[e].action_masks() for e in order])
        for e, macro in zip(order, choose(obs, masks), strict=True):
            index = running[e][0]
            next_obs, _, terminated, truncated, info = envs[e].step(int(macro))
            if terminated or truncated:
                finals[index] = info
                del running[e]
                start(e)
            else:
                running[e] = (index, next_obs)
    return finals


def play_store(
    choose: ChooseBatch,
    store: ReplayStore,
    orders: Orders,
    *,
    questions: Sequence[int] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    widen: int = 4,
    batch: int = 512,
) -> Outcomes:
    """The harness's `play`, batched: answers and tokens per (question, order)."""
    started = time.process_time()
    env_kwargs = env_kwargs or {}
    indices = list(range(store.n_questions) if questions is None else questions)
    episodes, counts = [], []
    for q in indices:
        n_branches = store.questions[q].n_branches
        question_orders = orders(q, n_branches) if callable(orders) else orders
        episodes.extend({"store": 0, "question": q, "order": list(o)} for o in question_orders)
        counts.append(len(question_orders))
    envs = [
        MacroEnv(TTSControlEnv(stores=[str(store.path)], **env_kwargs), widen)
        for _ in range(max(1, min(batch, len(episodes))))
    ]
    finals = play_episodes(choose, envs, episodes)
    answers: list[list[str | None]] = []
    tokens: list[list[int]] = []
    start = 0
    for count in counts:
        answers.append([info["answer"] for info in finals[start : start + count]])
        tokens.append([info["tokens"] for info in finals[start : start + count]])
        start += count
    return Outcomes(
        answers,
        np.array(tokens, dtype=np.int64).reshape(len(indices), max(counts, default=0)),
        seconds=time.process_time() - started,
    )
