"""The harness's two engines: built-ins compiled by default, everything else on `Episode`."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from tests.support.autotts_controllers import ASCMethod
from tts_gym.control.builtin import AdaptiveConsistency, ConfidenceMomentum, SelfConsistency
from tts_gym.errors import TTSGymError
from tts_gym.evaluation import Protocol, Setting, evaluate, evaluate_settings
from tts_gym.evaluation.compiled import order_arrays
from tts_gym.evaluation.paper import PAPER_TABLE1, agrees, table1_controllers, table1_stores
from tts_gym.store import load_store
from tts_gym.store.synthetic import generate_store, write_store

QWEN3_8B = [f"autotts/qwen3-8b/{b}" for b in ("aime24", "aime25", "hmmt25")]


@pytest.fixture
def no_workers(monkeypatch):
    """Fails a test that hands any episode to the worker pool."""
    harness = importlib.import_module("tts_gym.evaluation.evaluate")  # the module, not evaluate()
    real = harness.run_jobs

    def run_jobs(jobs, *args, **kwargs):
        assert not jobs, "a compiled built-in was sent to the worker pool"
        return real(jobs, *args, **kwargs)

    monkeypatch.setattr(harness, "run_jobs", run_jobs)


def assert_same_cells(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert (x.store.name, x.method) == (y.store.name, y.method)
        assert x.outcomes.answers == y.outcomes.answers, (x.store.name, x.method)
        np.testing.assert_array_equal(x.outcomes.tokens, y.outcomes.tokens)
        assert x.row() == y.row()


@pytest.mark.real_stores
def test_table1_qwen3_8b_on_the_compiled_path(shared_replay, no_workers):
    cells = evaluate(table1_controllers(), QWEN3_8B, protocol="autotts")
    assert len(cells) == 18
    for cell in cells:
        paper_acc, paper_tokens = PAPER_TABLE1[(cell.model, cell.benchmark, cell.method)]
        assert agrees(cell.acc, paper_acc) and agrees(cell.tokens_k, paper_tokens), cell.method


@pytest.mark.real_stores
def test_engines_give_identical_cells(shared_replay):
    controllers = table1_controllers() + [SelfConsistency(8), ConfidenceMomentum(0.3)]
    stores = ["autotts/qwen3-1.7b/hmmt25", "autotts/qwen3-4b/aime24"]
    compiled = evaluate(controllers, stores, n_orders=6, seed=4)
    python = evaluate(controllers, stores, n_orders=6, seed=4, engine="python")
    assert_same_cells(compiled, python)
    assert compiled[0].acc_ci is not None and compiled[0].acc_ci == python[0].acc_ci


@pytest.mark.slow
@pytest.mark.real_stores
def test_engines_give_identical_episodes_on_all_of_table1(shared_replay):
    """All 216,000 episodes of Table 1 (6 controllers x 12 stores x 30 questions x 100 orders)."""
    settings = [Setting(c, c.name) for c in table1_controllers()]
    protocol = Protocol("autotts", 100)
    compiled = evaluate_settings(settings, table1_stores(), protocol, engine="compiled")
    python = evaluate_settings(settings, table1_stores(), protocol, engine="python")
    assert sum(cell.n_episodes for cell in compiled) == 216_000
    assert_same_cells(compiled, python)


def test_other_controllers_run_on_episode_next_to_compiled_ones(tmp_path):
    store = load_store(write_store(generate_store(5, 24, seed=1), tmp_path / "s.json"))
    cells = evaluate([ASCMethod(), AdaptiveConsistency(), ASCMethod()], store, n_orders=5)
    assert [cell.method for cell in cells] == ["asc_autotts", "ASC", "asc_autotts"]
    assert cells[0].outcomes.answers == cells[1].outcomes.answers == cells[2].outcomes.answers
    np.testing.assert_array_equal(cells[0].outcomes.tokens, cells[1].outcomes.tokens)
    traced = evaluate(AdaptiveConsistency(), store, n_orders=2, trace=True)[0]
    assert traced.outcomes.traces is not None  # traced runs take the Python engine


def test_a_builtin_that_cannot_compile_runs_on_python_and_says_so(tmp_path):
    store = load_store(write_store(generate_store(4, 16, seed=2), tmp_path / "s.json"))
    huge = 2**70  # a whole number the settings allow and no int64 kernel argument holds
    with pytest.warns(
        UserWarning, match=rf"SC@{huge} runs on the Python engine: n={huge} is not a 64-bit"
    ):
        (fallback,) = evaluate(SelfConsistency(n=huge), store, n_orders=3, jobs=1)
    (compiled,) = evaluate(SelfConsistency(n=16), store, n_orders=3)  # every branch, as huge
    assert fallback.outcomes.answers == compiled.outcomes.answers
    np.testing.assert_array_equal(fallback.outcomes.tokens, compiled.outcomes.tokens)


def test_unknown_engine_is_one_sentence(tmp_path):
    store = load_store(write_store(generate_store(2, 8, seed=0), tmp_path / "s.json"))
    with pytest.raises(TTSGymError, match="unknown engine 'gpu'; use one of compiled, python"):
        evaluate("sc", store, engine="gpu")


def test_order_arrays_pad_exhausted_orders_and_refuse_bad_ones(tmp_path):
    store = load_store(write_store(generate_store(2, 6, seed=0), tmp_path / "s.json"))
    orders, lengths = order_arrays([store], lambda q, n: [[5, 4, 3], [1], []])
    assert orders.shape == (2, 3, 3) and lengths.tolist() == [[3, 1, 0], [3, 1, 0]]
    assert orders[0, 1].tolist() == [1, -1, -1]
    with pytest.raises(ValueError, match="order 1 of question 0 of s names a branch outside"):
        order_arrays([store], [[0, 1], [6]])
    with pytest.raises(ValueError, match="same number of orders"):
        order_arrays([store], lambda q, n: [[0]] * (q + 1))
    protocol = Protocol("autotts", 4)
    orders, _ = order_arrays([store], protocol)
    assert orders[1].tolist() == [list(order) for order in protocol(1, 6)]
