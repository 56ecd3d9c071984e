"""Compiled built-ins == their Python references, episode by episode (answer, tokens and
sequential tokens).

The reference is `controller.run(Episode(question, order))`; the compiled version plays the
same (question, order) episodes in one call. Synthetic edge stores cover few branches,
branches without probes, all-'ERR' questions, ties, branches that outlast every step limit and
exhausted or empty orders; the real stores are sampled (`real_stores`).
`tests/evaluation/test_engines.py` compares all 216,000 Table 1 episodes (`pytest -m slow`).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest

from tts_gym.control.builtin import (
    AdaptiveConsistency,
    ConfidenceMomentum,
    EarlyStoppingConsistency,
    ParallelProbe,
    SelfConsistency,
    SelfConsistencySAC,
)
from tts_gym.control.builtin.compiled import COMPILED_TYPES, play, why_not_compiled
from tts_gym.engine import NO_ANSWER, Episode, majority
from tts_gym.evaluation import Protocol, autotts_orders
from tts_gym.evaluation.compiled import order_arrays
from tts_gym.evaluation.paper import table1_controllers, table1_stores
from tts_gym.store import ReplayStore, load_store
from tts_gym.store.replay import parse_questions
from tts_gym.store.synthetic import generate_store
from tts_gym.store.tables import StoreTables

KNOB_VARIANTS = [  # every edge a built-in's settings allow (settings.py refuses the rest)
    *(SelfConsistency(n) for n in (1, 2, 3, 7, 64, 200)),
    *(
        AdaptiveConsistency(m, t)
        for m, t in [
            (64, 0.95),
            (2, 0.95),
            (10, 0.5),
            (64, 0.0),
            (64, 0.999),
            (64, 1.0),
            (1, 0.95),
        ]
    ),  # fmt: skip
    *(
        EarlyStoppingConsistency(m, w)
        for m, w in [(64, 8), (64, 1), (10, 3), (3, 8), (64, 64), (1, 2), (7, 2)]
    ),
    ParallelProbe(),
    ParallelProbe(num_chains=4),
    ParallelProbe(num_chains=1),
    ParallelProbe(stable_steps=1),
    ParallelProbe(stable_steps=5, prune_patience=1, warm_up=0),
    ParallelProbe(prune_patience=2, warm_up=3, max_steps=30),
    ParallelProbe(max_steps=1),
    ParallelProbe(max_steps=3),
    ParallelProbe(warm_up=0, prune_patience=1),
    *(
        ConfidenceMomentum(beta)
        for beta in (0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 1.0)
    ),
    ConfidenceMomentum(1),
    *(SelfConsistencySAC(n, p) for n, p in [(64, 14), (4, 14), (64, 1), (7, 3), (1, 1)]),
]


def synthetic(questions: list[dict], name: str) -> ReplayStore:
    return ReplayStore(name, Path(f"{name}.json"), parse_questions(questions, name))


def long_branches() -> list[dict]:
    """Branches that outlast CMC's 500 steps and Parallel-Probe's 100 and keep flipping."""
    branches = []
    for b in range(4):
        probes = [str((k // (b + 1)) % 3) for k in range(1600)]
        branches.append([probes, 1600 * 500 + 7, str(b % 2)])
    return [{"question": "long", "gold_answer": "1", "probe_freq": 500, "each_branch": branches}]


EDGE_STORES = {
    # 1-6 branches, 30% without a probe, two questions all 'ERR'
    "few": lambda: generate_store(8, (1, 6), seed=3, zero_probe_share=0.3, all_err_questions=2),
    # short branches: many finish early, some charge nothing at the end
    "short": lambda: generate_store(6, (20, 70), seed=5, max_probes=6, tokens=(100, 4000)),
    # two answers at even odds: ties everywhere
    "ties": lambda: generate_store(6, 40, seed=7, solve_rate=(0.45, 0.55)),
    "plain": lambda: generate_store(4, 128, seed=11, probe_freq=300),
    "long": long_branches,
}


def edge_orders(store: ReplayStore, seed: int) -> list[list[list[int]]]:
    """Per question: full permutations, exhausted ones (cut short) and an empty one."""
    rng = np.random.default_rng(seed)
    per_question = []
    for question in store.questions:
        n = question.n_branches
        rows = [rng.permutation(n).tolist() for _ in range(4)]
        rows += [rng.permutation(n)[: int(rng.integers(0, n + 1))].tolist() for _ in range(3)]
        rows += [rng.permutation(n)[:1].tolist(), []]
        per_question.append(rows)
    return per_question


def reference(controller, store: ReplayStore, orders) -> tuple[np.ndarray, ...]:
    """(answer ids, tokens, sequential tokens) of the Python version, [question, order]."""
    answers, tokens, seq_tokens = [], [], []
    for q, question in enumerate(store.questions):
        rows = orders(q, question.n_branches) if callable(orders) else orders[q]
        episodes = [Episode(question, order) for order in rows]
        answers.append([controller.run(episode) for episode in episodes])
        tokens.append([episode.tokens for episode in episodes])
        seq_tokens.append([episode.seq_tokens for episode in episodes])
    return np.array(answers), np.array(tokens), np.array(seq_tokens)


def compiled(controller, stores, orders, threads=1) -> tuple[np.ndarray, ...]:
    if isinstance(orders, list):  # per question of the one store
        order_array, lengths = order_arrays(stores, lambda q, n: orders[q])
    else:
        order_array, lengths = order_arrays(stores, orders)
    return play(controller, StoreTables.build(stores), order_array, lengths, threads=threads)


def assert_same(controller, store, orders, where=""):
    assert why_not_compiled(controller) is None
    want = reference(controller, store, orders)
    got = compiled(controller, [store], orders)
    for g in range(len(want[0])):
        for o in range(len(want[0][g])):
            assert tuple(part[g, o] for part in got) == tuple(part[g][o] for part in want), (
                f"{controller} on {store.name}{where}, question {g}, order {o}"
            )


@pytest.mark.parametrize("store_name", sorted(EDGE_STORES))
def test_compiled_equals_python_on_edge_stores(store_name):
    store = synthetic(EDGE_STORES[store_name](), store_name)
    orders = edge_orders(store, seed=len(store_name))
    for controller in KNOB_VARIANTS:
        assert_same(controller, store, orders)


def test_edge_stores_reach_the_edges():
    """The edge cases above happen: no answer, all 'ERR', CMC past its step limit."""
    few = synthetic(EDGE_STORES["few"](), "few")
    answers, tokens, _ = compiled(SelfConsistency(), [few], edge_orders(few, 3))
    assert (answers[:, -1] == NO_ANSWER).all() and (tokens[:, -1] == 0).all()  # empty order
    all_err = [q for q in few.questions if {q.answers[f] for f in q.finals} == {"ERR"}]
    assert len(all_err) >= 2
    assert any(0 in (len(p) for p in q.probes) for q in few.questions)
    long = synthetic(long_branches(), "long")
    answers, tokens, _ = compiled(ConfidenceMomentum(0.5), [long], [[[0, 1, 2, 3]]])
    # 4 branches opened, then advanced once in each of the 500 steps; none finished, so the
    # majority of the latest answers (ties to the first) is the answer
    assert tokens[0, 0] == 4 * 501 * 500
    latest = [long.questions[0].probes[b][500] for b in range(4)]
    assert answers[0, 0] == majority(latest)


def test_several_stores_in_one_call_and_threads_change_nothing():
    stores = [synthetic(EDGE_STORES[name](), name) for name in ("few", "short", "ties")]
    protocol = Protocol("default", 7, seed=2)
    for controller in (SelfConsistency(5), ParallelProbe(), ConfidenceMomentum(0.7)):
        one, two = compiled(controller, stores, protocol), compiled(controller, stores, protocol, 3)
        for got, got_threaded in zip(one, two, strict=True):
            np.testing.assert_array_equal(got, got_threaded)
        first = 0
        for store in stores:
            rows = slice(first, first + store.n_questions)
            for got, want in zip(one, reference(controller, store, protocol), strict=True):
                np.testing.assert_array_equal(got[rows], want)
            first += store.n_questions


class TwiceAsPatient(ParallelProbe):
    """A subclass may change anything: it runs on `Episode`."""


@pytest.mark.parametrize(
    ("controller", "reason"),
    [
        (SelfConsistency(n=2**70), "is not a 64-bit integer"),  # the rest: settings.py
        (TwiceAsPatient(), "only the built-in classes"),
        (object(), "only the built-in classes"),
    ],
)
def test_what_is_not_compiled_says_why(controller, reason):
    assert reason in why_not_compiled(controller)
    with pytest.raises(ValueError, match="has no compiled version"):
        play(controller, StoreTables.build([]), np.zeros((0, 1, 1), np.int32), np.zeros((0, 1)))


def test_play_refuses_orders_the_kernels_cannot_replay():
    store = synthetic(EDGE_STORES["few"](), "few")
    tables = StoreTables.build([store])
    orders, lengths = order_arrays([store], lambda q, n: [list(range(n))])
    outside = orders.copy()
    outside[2, 0, 0] = store.questions[2].n_branches
    too_long = lengths.copy()
    too_long[1, 0] = orders.shape[2] + 1
    for bad_orders, bad_lengths in (
        (outside, lengths),
        (orders, too_long),
        (orders[:3], lengths[:3]),
    ):
        with pytest.raises(ValueError, match="an order is longer|orders cover 3 questions"):
            play(SelfConsistency(), tables, bad_orders, bad_lengths)


def test_compiled_types_are_the_six_builtins():
    assert {cls.__name__ for cls in COMPILED_TYPES} == {
        "SelfConsistency", "AdaptiveConsistency", "EarlyStoppingConsistency", "ParallelProbe",
        "ConfidenceMomentum", "SelfConsistencySAC",
    }  # fmt: skip
    assert all(why_not_compiled(controller) is None for controller in KNOB_VARIANTS)


@pytest.mark.real_stores
@pytest.mark.parametrize("store_name", table1_stores())
def test_compiled_equals_python_on_a_sample_of_every_store(shared_replay, store_name):
    """Table 1's controllers, SC@64+SAC and some knob variants, 3 autotts and 3 numpy orders a
    question."""
    store = load_store(store_name)
    autotts = autotts_orders(store.max_branches, 100)[::40]
    numpy_orders = Protocol("default", 3, seed=zlib.crc32(store_name.encode()))
    variants = [SelfConsistency(16), AdaptiveConsistency(32, 0.9), EarlyStoppingConsistency(48, 4)]
    variants += [ParallelProbe(num_chains=16, stable_steps=10), ConfidenceMomentum(0.25)]
    variants += [SelfConsistencySAC(), SelfConsistencySAC(16, 5)]
    for controller in table1_controllers() + variants:
        assert_same(controller, store, [autotts] * store.n_questions, " (autotts orders)")
        assert_same(controller, store, numpy_orders, " (numpy orders)")
