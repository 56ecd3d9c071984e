"""The evaluation harness: protocols, runner, Table 1, AutoTTS handles, statistics, traces."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from tests.support.autotts_controllers import ASCMethod, CMCMethod, SCMethod
from tts_gym.compat import autotts
from tts_gym.control import play
from tts_gym.control.builtin import (
    AdaptiveConsistency,
    ConfidenceMomentum,
    ParallelProbe,
    SelfConsistency,
)
from tts_gym.control.errors import PolicyError
from tts_gym.evaluation import (
    Protocol,
    autotts_orders,
    compare,
    evaluate,
    numpy_orders,
    pareto_front,
    score,
    write_traces,
)
from tts_gym.evaluation.paper import METHODS, PAPER_TABLE1, agrees, table1_controllers
from tts_gym.evaluation.parallel import Job, run_jobs
from tts_gym.store import load_store

QWEN3_8B = [f"autotts/qwen3-8b/{b}" for b in ("aime24", "aime25", "hmmt25")]


@pytest.fixture(scope="module")
def table1_8b(shared_replay):
    """Table 1's Qwen3-8B cells under the paper's protocol, via the built-in controllers."""
    return evaluate(table1_controllers(), QWEN3_8B, protocol="autotts")


def test_autotts_orders_are_python_random_shuffles():
    orders = autotts_orders(128, 5)
    for s, order in enumerate(orders):
        expected = list(range(128))
        random.Random(s).shuffle(expected)
        assert order == expected


def test_numpy_orders_are_seeded_permutations():
    a, b = numpy_orders(16, 3, seed=(0, 1)), numpy_orders(16, 3, seed=(0, 1))
    assert a == b and all(sorted(order) == list(range(16)) for order in a)
    assert numpy_orders(16, 3, seed=(0, 2)) != a
    protocol = Protocol("default", 3, seed=0)
    assert protocol(0, 16) != protocol(1, 16)  # questions get their own orders


def test_table1_qwen3_8b_reproduces_within_printed_rounding(table1_8b):
    assert [cell.method for cell in table1_8b[:6]] == list(METHODS)
    for cell in table1_8b:
        paper_acc, paper_tokens = PAPER_TABLE1[(cell.model, cell.benchmark, cell.method)]
        assert agrees(cell.acc, paper_acc), (cell.store.name, cell.method, cell.acc)
        assert agrees(cell.tokens_k, paper_tokens), (cell.store.name, cell.method, cell.tokens_k)
        assert cell.n_episodes == 30 * 100
    assert len(table1_8b) == 18


def test_printed_rounding_rule():
    assert agrees(80.3667, 80.4) and agrees(910.813, 910.8)
    assert agrees(406.250492, 406.2)  # the paper's 2-then-1 decimal rounding
    assert not agrees(406.36, 406.2) and not agrees(80.2, 80.4)


def test_autotts_style_controllers_give_identical_episodes(shared_replay):
    orders = autotts_orders(128, 20)
    pairs = [
        (SCMethod(), SelfConsistency()),
        (ASCMethod(), AdaptiveConsistency()),
        (CMCMethod(0.5), ConfidenceMomentum(0.5)),
        (CMCMethod(1.0), ConfidenceMomentum(1.0)),
    ]
    for name in ("autotts/qwen3-8b/aime25", "autotts/qwen3-0.6b/hmmt25"):
        store = load_store(name)
        for theirs, ours in pairs:
            a, b = play(theirs, store, orders), play(ours, store, orders)
            assert a.answers == b.answers, (name, ours.name)
            np.testing.assert_array_equal(a.tokens, b.tokens)


def test_compat_evaluate_matches_the_paper(shared_replay):
    result = autotts.evaluate(CMCMethod(0.5), "autotts/qwen3-8b/aime24")
    assert set(result) == {"method", "accuracy", "avg_tokens"}
    assert agrees(result["accuracy"], 84.3) and agrees(result["avg_tokens"] / 1000, 255.3)


def test_play_needs_no_gold(shared_replay):
    store = load_store("autotts/qwen3-8b/hmmt25")
    stripped = store.without_gold()
    assert all(q.gold == "" for q in stripped.questions)
    orders = autotts_orders(128, 10)
    a = play(ParallelProbe(), store, orders)
    b = play(ParallelProbe(), stripped, orders)
    assert a.answers == b.answers
    np.testing.assert_array_equal(a.tokens, b.tokens)
    assert a.tokens.dtype == np.int64 and a.tokens.shape == (30, 10)
    correct = score(b, store)
    assert correct.shape == (30, 10) and correct.dtype == bool
    assert not score(b, stripped).any()


def test_parallel_equals_serial(shared_replay):
    store = load_store("autotts/qwen3-4b/aime25")
    jobs = [Job(c, store, Protocol("default", 7, seed=3)) for c in table1_controllers()[3:]]
    serial, parallel = run_jobs(jobs, 1), run_jobs(jobs, 2)
    for a, b in zip(serial, parallel, strict=True):
        assert a.answers == b.answers
        np.testing.assert_array_equal(a.tokens, b.tokens)


def test_default_protocol_intervals_and_paired_comparison(shared_replay):
    cells = evaluate(["asc", "cmc"], "autotts/qwen3-8b/aime24", n_orders=10, seed=1)
    again = evaluate(["asc", "cmc"], "autotts/qwen3-8b/aime24", n_orders=10, seed=1)
    asc, cmc = cells
    assert asc.acc_ci == again[0].acc_ci and cmc.tokens_k_ci == again[1].tokens_k_ci
    assert asc.acc_ci[0] <= asc.acc <= asc.acc_ci[1]
    assert cmc.tokens_k_ci[0] <= cmc.tokens_k <= cmc.tokens_k_ci[1]
    diff = compare(asc, cmc)
    assert diff.d_acc == pytest.approx(cmc.acc - asc.acc)
    assert diff.d_tokens_k == pytest.approx(cmc.tokens_k - asc.tokens_k)
    assert diff.d_acc_ci[0] <= diff.d_acc <= diff.d_acc_ci[1]
    assert compare(asc, asc).d_acc_ci == (0.0, 0.0)


def test_sweep_gives_a_pareto_curve(shared_replay):
    cells = evaluate(
        [ConfidenceMomentum(b) for b in (0.0, 0.5, 1.0)], "autotts/qwen3-8b/aime24", n_orders=5
    )
    tokens = [cell.tokens_k for cell in cells]
    assert tokens == sorted(tokens)  # beta buys depth
    front = pareto_front(tokens, [cell.acc for cell in cells])
    assert front[0] == 0
    assert pareto_front([1, 2, 3, 4], [5, 4, 6, 6]) == [0, 2]


def test_traces_record_actions_answers_tokens_and_stop_reason(shared_replay, tmp_path):
    (cell,) = evaluate(ConfidenceMomentum(0.5), "autotts/qwen3-8b/aime24", n_orders=2, trace=True)
    path = write_traces(tmp_path / "traces.jsonl", [cell])
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 60
    for record in records:
        q, o = record["question"], record["order"]
        assert record["tokens"] == cell.outcomes.tokens[q, o]
        assert record["answer"] == cell.outcomes.answers[q][o]
        assert record["correct"] == bool(cell.correct[q, o])
        assert record["actions"][-1]["tokens"] == record["tokens"]
        assert record["actions"][0]["action"] == "BRANCH"
        assert record["stop_reason"] == "answer"
        assert {"action", "slot", "revealed", "finished", "tokens"} <= set(record["actions"][0])


def test_a_raising_controller_is_one_sentence(shared_replay):
    class Broken:
        def solve(self, q):
            q.branch()
            return 1 / 0

    store = load_store("autotts/qwen3-8b/aime24")
    with pytest.raises(PolicyError, match=r"policy 'Broken' raised ZeroDivisionError.*question 0"):
        play(Broken(), store, autotts_orders(128, 2))


def test_a_raising_batched_player_is_one_sentence(shared_replay):
    class BrokenBatch:
        def act(self, obs, info):
            return 0

        def play(self, store, orders, questions=None):
            return 1 / 0

    store = load_store("autotts/qwen3-8b/aime24")
    with pytest.raises(PolicyError, match=r"'BrokenBatch' raised ZeroDivisionError.* in play"):
        play(BrokenBatch(), store, autotts_orders(128, 2))
