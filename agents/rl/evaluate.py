"""Play a macro policy on many episodes at once: one batched network call per decision.

The autotts protocol on the eight held-out stores is 24,000 episodes; a network forward per
decision of each episode would dominate the run time. Here up to `batch` envs of a
`MacroBatch` (the macros run inside the compiled core), each pinned to one (question, order),
advance in lockstep and share one forward. The schedule (which envs share a forward, in which
order) is the one the Python macro envs had before the core ran them, so a model's decisions
and therefore its recorded numbers are unchanged (tests hold the two paths equal).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from tts_gym.control.outcomes import Orders, Outcomes
from tts_gym.engine.actions import ActionKind
from tts_gym.engine.rules import NO_ANSWER
from tts_gym.env.macro_core import ANSWER_ID, ENDED, SEQ_TOKENS_SPENT, TOKENS_SPENT, MacroBatch
from tts_gym.env.vector import TTSControlVectorEnv
from tts_gym.store import ReplayStore

ChooseBatch = Callable[[dict[str, np.ndarray], np.ndarray], np.ndarray]
"""(stacked policy observations, macro masks [n, n_macros]) -> macros [n]."""
Pinned = tuple[int, Sequence[int]]
"""An episode: (global question of the batch's stores, branch order)."""


def play_episodes(
    choose: ChooseBatch, core: MacroBatch, episodes: Sequence[Pinned]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Play every episode to its end on the envs of `core`: (answer ids, tokens, sequential
    tokens), in order.

    Each round, the running envs (in the order they took their episodes) share one
    `choose`; an env whose episode ends takes the next pending one at once.
    """
    answers = np.full(len(episodes), NO_ANSWER, dtype=np.int64)
    tokens = np.zeros(len(episodes), dtype=np.int64)
    seq_tokens = np.zeros(len(episodes), dtype=np.int64)
    pending = iter(enumerate(episodes))
    running: dict[int, int] = {}  # env -> episode, in the order the envs took them

    def take(envs: Sequence[int]) -> None:
        started = []
        for e in envs:
            item = next(pending, None)
            if item is not None:
                running[e] = item[0]
                core.stage(e, *item[1])
                started.append(e)
        if started:
            core.start(started)

    take(range(core.n))
    acting = np.zeros(core.n, dtype=np.bool_)
    while running:
        order = np.fromiter(running, dtype=np.int64, count=len(running))
        obs = {"globals": core.globals[order], "summary": core.summary[order]}
        macros = np.zeros(core.n, dtype=np.int64)
        macros[order] = choose(obs, core.legal[order])
        acting[:] = False
        acting[order] = True
        refused = core.step(macros, acting)
        if refused >= 0:
            raise ValueError(f"the policy chose a masked macro ({macros[refused]}).")
        ended = [e for e in order.tolist() if core.outcome[e, ENDED]]
        for e in ended:
            index = running.pop(e)
            answers[index] = core.outcome[e, ANSWER_ID]
            tokens[index] = core.outcome[e, TOKENS_SPENT]
            seq_tokens[index] = core.outcome[e, SEQ_TOKENS_SPENT]
        take(ended)
    return answers, tokens, seq_tokens


def play_store(
    choose: ChooseBatch,
    store: ReplayStore,
    orders: Orders,
    *,
    questions: Sequence[int] | None = None,
    max_branches: int = 64,
    widen: int = 4,
    patience: int = 8,
    batch: int = 512,
) -> Outcomes:
    """The harness's `play`, batched: answers and both token counts per (question, order)."""
    started = time.process_time()
    indices, episodes, counts = _episodes(store, orders, questions)
    core = MacroBatch(
        [store], max(1, min(batch, len(episodes))), max_branches=max_branches, widen=widen,
        patience=patience,
    )  # fmt: skip
    answer_ids, tokens, seq_tokens = play_episodes(choose, core, episodes)
    texts = [
        [None if a == NO_ANSWER else store.questions[q].answers[a] for a in row]
        for q, row in zip(indices, _rows(answer_ids.tolist(), counts), strict=True)
    ]
    shape = (len(indices), max(counts, default=0))
    return Outcomes(
        texts,
        np.array(_rows(tokens.tolist(), counts), dtype=np.int64).reshape(shape),
        np.array(_rows(seq_tokens.tolist(), counts), dtype=np.int64).reshape(shape),
        seconds=time.process_time() - started,
    )


def play_primitive_store(
    choose: ChooseBatch,
    store: ReplayStore,
    orders: Orders,
    *,
    questions: Sequence[int] | None = None,
    max_branches: int = 64,
    batch: int = 512,
) -> Outcomes:
    """The harness's `play` for a policy of `TTSControl-v0`'s own actions: rounds of up to
    `batch` pinned episodes on the vector env, one batched `choose` per step; a sub-env
    whose episode has ended answers (its autoreset's drawn episode is not counted) until the
    round's last episode ends."""
    started = time.process_time()
    indices, episodes, counts = _episodes(store, orders, questions)
    n = max(1, min(batch, len(episodes)))
    env = TTSControlVectorEnv(n, stores=[store], max_branches=max_branches, copy=False)
    answers: list[str | None] = []
    tokens, seq_tokens = [], []
    for start in range(0, len(episodes), n):
        pins = [*episodes[start : start + n], *[(None, None)] * (n - len(episodes) + start)]
        obs, info = env.reset(
            options={"question": [q for q, _ in pins], "order": [order for _, order in pins]}
        )
        size = min(n, len(episodes) - start)
        results: list[tuple | None] = [None] * size
        playing = np.zeros(n, dtype=bool)
        playing[:size] = True
        while playing.any():
            actions = np.full(n, int(ActionKind.ANSWER), dtype=np.int64)
            chosen = choose({k: v[playing] for k, v in obs.items()}, env.action_masks()[playing])
            actions[playing] = chosen
            obs, _, terminated, _, info = env.step(actions)
            for i in np.flatnonzero(terminated & playing):
                results[i] = (info["answer"][i], int(info["tokens"][i]), int(info["seq_tokens"][i]))
                playing[i] = False
        for answer, spent, sequential in results:
            answers.append(answer)
            tokens.append(spent)
            seq_tokens.append(sequential)
    shape = (len(indices), max(counts, default=0))
    return Outcomes(
        _rows(answers, counts),
        np.array(_rows(tokens, counts), dtype=np.int64).reshape(shape),
        np.array(_rows(seq_tokens, counts), dtype=np.int64).reshape(shape),
        seconds=time.process_time() - started,
    )


def _episodes(
    store: ReplayStore, orders: Orders, questions: Sequence[int] | None
) -> tuple[list[int], list[Pinned], list[int]]:
    """(the questions played, every (question, order) episode, episodes per question)."""
    indices = list(range(store.n_questions) if questions is None else questions)
    episodes: list[Pinned] = []
    counts = []
    for q in indices:
        question_orders = orders(q, store.questions[q].n_branches) if callable(orders) else orders
        episodes.extend((q, list(order)) for order in question_orders)
        counts.append(len(question_orders))
    return indices, episodes, counts


def _rows(values: list, counts: list[int]) -> list[list]:
    """`values` cut into consecutive rows of `counts[k]` items."""
    rows, start = [], 0
    for count in counts:
        rows.append(values[start : start + count])
        start += count
    return rows
