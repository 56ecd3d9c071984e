"""The harness's compiled path: built-in controllers on every store at once, in this process.

One compiled call per controller plays every (question, order) episode of all the stores
(`tts_gym.control.builtin.compiled.play`), so Table 1 needs six calls, about two seconds of
CPU. They run in the calling process, on threads (the kernels release the GIL), which measured
faster than a forked pool that must start its workers and send results back (docs/evaluation.md,
Speed). Answer ids become the store's answer strings here, so the `Outcomes` are the ones
`play` would give, episode by episode.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from tts_gym.control.builtin.compiled import play
from tts_gym.control.outcomes import Orders, Outcomes
from tts_gym.evaluation.protocols import Protocol
from tts_gym.store.replay import ReplayStore
from tts_gym.store.tables import StoreTables


def run_compiled(
    policies: Sequence[Any], stores: Sequence[ReplayStore], orders: Orders, threads: int = 1
) -> list[list[Outcomes]]:
    """`play(policy, store, orders)` for every policy and store: outcomes[policy][store].

    Every policy must have a compiled version (`why_not_compiled(policy) is None`). A
    controller's CPU time (all threads) is shared out over the stores by their episodes.
    """
    tables = StoreTables.build(stores)
    order_array, lengths = order_arrays(stores, orders)
    results = []
    for policy in policies:
        started = time.process_time()
        answers, tokens, seq_tokens = play(policy, tables, order_array, lengths, threads=threads)
        seconds = time.process_time() - started
        per_store = []
        for s, store in enumerate(stores):
            rows = slice(tables.offsets[s], tables.offsets[s + 1])
            share = (rows.stop - rows.start) / max(1, tables.n_questions)
            per_store.append(
                Outcomes(
                    answers=_answer_strings(store, answers[rows]),
                    tokens=tokens[rows],
                    seq_tokens=seq_tokens[rows],
                    seconds=seconds * share,
                )
            )
        results.append(per_store)
    return results


def order_arrays(stores: Sequence[ReplayStore], orders: Orders) -> tuple[np.ndarray, np.ndarray]:
    """Every question's orders as one padded array: (orders int32 [G, O, L], lengths [G, O]).

    Rows follow `StoreTables.build(stores)`. Raises `ValueError` when questions get different
    numbers of orders or an order names a branch the question does not have. A protocol's
    arrays are kept (read-only) for the next call on the same questions.
    """
    branches = tuple(tuple(q.n_branches for q in store.questions) for store in stores)
    names = tuple(store.name for store in stores)
    if isinstance(orders, Protocol):
        return _protocol_arrays(orders, branches, names)
    return _order_arrays(orders, branches, names)


@lru_cache(maxsize=2)
def _protocol_arrays(
    protocol: Protocol, branches: tuple[tuple[int, ...], ...], names: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    arrays = _order_arrays(protocol, branches, names)
    for array in arrays:
        array.flags.writeable = False
    return arrays


def _order_arrays(
    orders: Orders, branches: tuple[tuple[int, ...], ...], names: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    converted: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # autotts: shared order lists
    per_question = []
    for store_branches, name in zip(branches, names, strict=True):
        for q, n_branches in enumerate(store_branches):
            rows = orders(q, n_branches) if callable(orders) else orders
            if id(rows) not in converted:
                converted[id(rows)] = _order_rows(rows, n_branches, name, q)
            per_question.append((rows, *converted[id(rows)]))  # `rows` alive: ids stay unique
    counts = {len(row_lengths) for _, _, row_lengths in per_question}
    if len(counts) > 1:
        raise ValueError("every question must be played under the same number of orders.")
    n_orders = counts.pop() if counts else 0
    width = max((array.shape[1] for _, array, _ in per_question), default=0)
    padded = np.full((len(per_question), n_orders, max(1, width)), -1, dtype=np.int32)
    lengths = np.zeros((len(per_question), n_orders), dtype=np.int32)
    for g, (_, array, row_lengths) in enumerate(per_question):
        padded[g, :, : array.shape[1]] = array
        lengths[g] = row_lengths
    return padded, lengths


def _order_rows(
    rows: Sequence[Sequence[int]], n_branches: int, store: str, question: int
) -> tuple[np.ndarray, np.ndarray]:
    """One question's orders: int32 [O, longest] (-1 after an order's end) and their lengths."""
    row_lengths = np.array([len(order) for order in rows], dtype=np.int32)
    width = int(row_lengths.max(initial=0))
    if (row_lengths == width).all():
        array = np.asarray(rows, dtype=np.int64).reshape(len(rows), width)
    else:
        array = np.full((len(rows), width), -1, dtype=np.int64)
        for o, order in enumerate(rows):
            array[o, : len(order)] = order
    in_order = np.arange(width) < row_lengths[:, None]
    outside = in_order & ((array < 0) | (array >= n_branches))
    if outside.any():
        raise ValueError(
            f"order {int(np.argwhere(outside)[0, 0])} of question {question} of {store} names "
            f"a branch outside 0..{n_branches - 1}."
        )
    return array.astype(np.int32), row_lengths


def _answer_strings(store: ReplayStore, ids: np.ndarray) -> list[list[str | None]]:
    rows = []
    for question, row in zip(store.questions, ids.tolist(), strict=True):
        answers = question.answers
        rows.append([answers[a] if a >= 0 else None for a in row])
    return rows
