"""The proof that live semantics are replay semantics: a store served as if generated
(`replay:STORE`) gives `tts-gym eval`'s answers, tokens and sequential tokens, question by
question and order by order, for every built-in controller (compiled in eval by default,
and identical there by design, so compared with eval's python engine, which plays the same
Python controllers the live run does).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from tts_gym.cli import main
from tts_gym.control.loading import BUILTINS, load_policy
from tts_gym.evaluation.evaluate import evaluate
from tts_gym.evaluation.protocols import Protocol
from tts_gym.live import QuestionSpec, ReplayEngine, play_question
from tts_gym.store import load_store, write_store
from tts_gym.store.replay import ReplayStore
from tts_gym.store.synthetic import generate_store


def _assert_live_equals_eval(store: ReplayStore, name: str, protocol: Protocol, questions) -> None:
    policy = load_policy(name)
    [cell] = evaluate(policy, store, protocol, engine="python", jobs=1)
    engine = ReplayEngine(store)
    for index in questions:
        q = store.questions[index]
        spec = QuestionSpec(q.index, q.text, q.gold, q.probe_freq, q.n_branches)
        played, _ = play_question(policy, spec, protocol(q.index, q.n_branches), engine)
        assert played.answers == cell.outcomes.answers[index], (name, index)
        assert played.tokens == cell.outcomes.tokens[index].tolist(), (name, index)
        assert played.seq_tokens == cell.outcomes.seq_tokens[index].tolist(), (name, index)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> ReplayStore:
    questions = generate_store(6, 24, seed=1, zero_probe_share=0.1, all_err_questions=1)
    return load_store(write_store(questions, tmp_path_factory.mktemp("s") / "synthetic.json"))


@pytest.mark.parametrize("name", list(BUILTINS))
def test_every_builtin_equals_eval_on_a_synthetic_store(synthetic, name) -> None:
    _assert_live_equals_eval(synthetic, name, Protocol("default", 3, 0), range(6))


@pytest.mark.real_stores
@pytest.mark.parametrize("name", list(BUILTINS))
def test_every_builtin_equals_eval_on_aime24(shared_replay: Path, name) -> None:
    store = load_store("autotts/qwen3-8b/aime24", shared_replay)
    _assert_live_equals_eval(store, name, Protocol("default", 2, 0), range(0, 30, 6))


def _csv(args: list[str], capsys) -> list[dict[str, str]]:
    capsys.readouterr()
    assert main(args) == 0
    return list(csv.DictReader(io.StringIO(capsys.readouterr().out)))


@pytest.mark.real_stores
def test_the_live_command_equals_the_eval_command_on_aime24(shared_replay: Path, capsys) -> None:
    store = "autotts/qwen3-8b/aime24"
    common = ["--orders", "3", "--format", "csv", "--data-dir", str(shared_replay)]
    live = _csv(["live", "--policy", "cmc", "--engine", f"replay:{store}", *common, "-q"], capsys)
    [evaluated] = _csv(
        ["eval", "--policy", "cmc", "--stores", store, "--no-baselines", "--no-fetch", *common],
        capsys,
    )
    [overall] = [row for row in live if row["question"] == "all"]
    for column in ("model", "benchmark", "method", "acc", "tokens_k", "seq_tokens_k", "config"):
        assert overall[column] == evaluated[column], column
    for column in ("acc_lo", "acc_hi", "tokens_k_lo", "seq_tokens_k_hi", "n_questions"):
        assert float(overall[column]) == pytest.approx(float(evaluated[column])), column
    per_question = [row for row in live if row["question"] != "all"]
    assert [int(row["question"]) for row in per_question] == list(range(30))
    tokens = np.mean([float(row["tokens_k"]) for row in per_question])
    assert tokens == pytest.approx(float(evaluated["tokens_k"]))


@pytest.mark.slow
@pytest.mark.real_stores
@pytest.mark.parametrize("name", list(BUILTINS))
def test_every_builtin_equals_eval_on_every_question(shared_replay: Path, name) -> None:
    for spec in ("autotts/qwen3-8b/aime24", "autotts/qwen3-0.6b/hmmt25"):
        store = load_store(spec, shared_replay)
        _assert_live_equals_eval(store, name, Protocol("default", 4, 0), range(store.n_questions))


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (
            ["--temperature", "inf"],
            "argument --temperature: expected a finite number of at least 0",
        ),
        (["--top-p", "0"], "argument --top-p: expected a finite number above 0 and at most 1"),
        (["--timeout", "nan"], "argument --timeout: expected a finite number above 0"),
        (["--branches", "2.5"], "argument --branches: expected a whole number of at least 1"),
        (["--concurrency", "0"], "argument --concurrency: expected a whole number of at least 1"),
    ],
)
def test_bad_settings_are_refused_at_the_door(tmp_path: Path, capsys, extra, says) -> None:
    store = write_store(generate_store(2, 4, seed=0), tmp_path / "s.json")
    assert main(["live", "--policy", "sc", "--engine", f"replay:{store}", *extra]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("tts-gym live: ") and says in line


def test_the_store_written_is_never_the_questions_file(tmp_path: Path, capsys) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "1+1?", "answer": "2"}\n')
    command = ["live", "--policy", "sc", "--engine", "openai", "--model", "m"]
    command += ["--base-url", "http://127.0.0.1:9/v1", "--questions", str(questions)]
    assert main([*command, "--out", str(questions)]) == 1
    assert "would replace the input" in capsys.readouterr().err
    assert questions.read_text() == '{"question": "1+1?", "answer": "2"}\n'
