"""The synthetic store generator: loadable, faithful to the real stores' invariants, seeded."""

from __future__ import annotations

import json
import math

import pytest

from tts_gym.store import ERR, load_store, parse_questions, summarize
from tts_gym.store.replay import CONFIDENCE_KEY
from tts_gym.store.synthetic import generate_store, write_store


def branches(store: list[dict]) -> list[tuple[list[str], int, str, int]]:
    return [(*b, q["probe_freq"]) for q in store for b in q["each_branch"]]


def assert_invariants(store: list[dict], max_probes: int = 80) -> None:
    for q in store:
        assert q["final_answers_trace"] == [b[2] for b in q["each_branch"]]
    for probes, tokens, final, freq in branches(store):
        if probes:
            assert 1 <= len(probes) <= min(max_probes, math.ceil(tokens / freq))
            assert probes[-1] == final
        else:
            assert 0 < tokens < freq


EDGE_CASES = {
    "default": {},
    "few branches": {"n_branches": 3},
    "varying branch counts": {"n_branches": (1, 6)},
    "zero-probe branches": {"zero_probe_share": 0.5},
    "all-ERR questions": {"all_err_questions": 2},
    "confidence": {"confidence": True},
    "short interval": {"probe_freq": 100, "max_probes": 500},
    "everything at once": {
        "n_branches": (1, 4),
        "zero_probe_share": 0.3,
        "all_err_questions": 1,
        "confidence": True,
    },
}


@pytest.mark.parametrize("knobs", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_edge_cases_load_and_keep_the_invariants(knobs: dict) -> None:
    knobs = dict(knobs)
    store = generate_store(4, knobs.pop("n_branches", 16), seed=3, **knobs)
    assert_invariants(store, knobs.get("max_probes", 80))
    questions = parse_questions(store, "synthetic")
    assert len(questions) == 4
    assert (questions[0].confidence is not None) == knobs.get("confidence", False)


def test_full_size_store_looks_like_the_real_ones() -> None:
    store = generate_store(seed=0)
    assert_invariants(store)
    assert len(store) == 30 and all(len(q["each_branch"]) == 128 for q in store)
    tokens = [t for _, t, _, _ in branches(store)]
    assert min(tokens) >= 1_000 and max(tokens) <= 41_500
    # probes cover the thinking part only: usually fewer than ceil(tokens / 500), as in real data
    short = sum(len(p) < math.ceil(t / f) for p, t, _, f in branches(store))
    assert 0.5 < short / len(tokens) < 0.95


def test_few_branches_and_zero_probe_branches() -> None:
    store = generate_store(3, 3, seed=1, zero_probe_share=1.0)
    assert all(len(q["each_branch"]) == 3 for q in store)
    assert all(probes == [] for probes, *_ in branches(store))
    assert_invariants(store)


def test_all_err_question_has_err_everywhere() -> None:
    store = generate_store(5, 8, seed=2, all_err_questions=1, err_final=0.0)
    all_err = [q for q in store if all(b[2] == ERR for b in q["each_branch"])]
    assert len(all_err) == 1
    assert all(a == ERR for b in all_err[0]["each_branch"] for a in b[0])
    questions = parse_questions(store, "synthetic")
    assert sum(q.gold_id == -1 for q in questions) >= 1


def test_confidence_is_one_float_per_probe() -> None:
    store = generate_store(3, 5, seed=4, confidence=True, zero_probe_share=0.4)
    for q in store:
        scores = q[CONFIDENCE_KEY]
        assert [len(s) for s in scores] == [len(b[0]) for b in q["each_branch"]]
        assert all(0 < v < 1 for s in scores for v in s)


def test_solve_rate_sets_the_share_of_gold_finals() -> None:
    easy = generate_store(3, 40, seed=5, solve_rate=(1.0, 1.0), err_final=0.0)
    hard = generate_store(3, 40, seed=5, solve_rate=(0.0, 0.0), err_final=0.0)
    assert all(b[2] == q["gold_answer"] for q in easy for b in q["each_branch"])
    assert not any(b[2] == q["gold_answer"] for q in hard for b in q["each_branch"])


def test_same_seed_same_store_other_seed_other_store() -> None:
    knobs = {"n_branches": (2, 9), "zero_probe_share": 0.2, "confidence": True}
    first = json.dumps(generate_store(4, seed=7, **knobs))
    assert first == json.dumps(generate_store(4, seed=7, **knobs))
    assert first != json.dumps(generate_store(4, seed=8, **knobs))


def test_write_store_is_loadable_and_leaves_no_temp_file(tmp_path) -> None:
    store = generate_store(2, 4, seed=0, confidence=True)
    path = write_store(store, tmp_path / "nested" / "syn.json")
    assert [p.name for p in path.parent.iterdir()] == ["syn.json"]
    loaded = load_store(path)
    assert loaded.name == "syn" and loaded.has_confidence
    assert summarize(loaded).branches == 8


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        generate_store(2, 0)
    with pytest.raises(ValueError):
        generate_store(2, 3, all_err_questions=3)
