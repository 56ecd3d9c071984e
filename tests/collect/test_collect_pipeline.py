"""`tts-gym collect`: question files, confidence, prompts, the shared pipeline, the CLI, resume.

The end-to-end tests run the tiny causal LM of `tests.support.tiny_lm` (built on the fly, no
download), so that real probes and final answers come out of real generation.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.collect.test_collect_confidence import deepconf_reference
from tests.support.tiny_lm import one_thread_env
from tts_gym.cli import main
from tts_gym.collect import (
    CollectConfig,
    CollectError,
    collect,
    metadata_path,
    read_questions,
    shard_folder,
)
from tts_gym.collect.backends import (
    Generation,
    GenerationRequest,
    Sample,
    SampleRequest,
    SamplingConfig,
)
from tts_gym.collect.backends.transformers import TransformersBackend
from tts_gym.collect.confidence import segment_mean_logprob, segment_statistics
from tts_gym.collect.prompt import INSTRUCTION, PLAIN_SUFFIX, THINKING_SUFFIX, PromptFormat
from tts_gym.collect.records import QuestionCollector, question_seed
from tts_gym.engine import Episode
from tts_gym.store import load_store, write_store
from tts_gym.store.replay import CONFIDENCE_STATISTICS
from tts_gym.store.writer import store_text

# n=3 traces of at most 40 tokens, probed every 8 tokens: a few intervals per trace
RUN_ARGS = ["--backend", "transformers", "--n", "3", "--interval", "8", "--max-tokens", "40"]
RUN_ARGS += ["--probe-tokens", "8", "--top-logprobs", "5", "--confidence-window", "12"]
RUN_ARGS += ["--seed", "7"]


def _cli(*args: str | os.PathLike) -> int:
    return main(["collect", *map(str, args)])


def _one_line_error(capsys: pytest.CaptureFixture[str], *fragments: str) -> None:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tts-gym collect: ") and "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


# ---- question files -----------------------------------------------------------------------


def test_read_questions(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    lines = [
        '{"question": "a?", "answer": " 12 ", "id": "x"}',
        "",
        '{"question": "b?", "answer": 3}',
    ]
    path.write_text("\n".join(lines) + "\n")
    items = read_questions(path)
    assert [(i.question, i.answer, i.id) for i in items] == [("a?", "12", "x"), ("b?", "3", None)]


@pytest.mark.parametrize(
    ("line", "fragments"),
    [
        ("not json", ["line 2", "not valid JSON"]),
        ("[1, 2]", ["line 2", "expected a JSON object"]),
        ('{"answer": "1"}', ["line 2", "field 'question' is missing"]),
        ('{"question": "q"}', ["line 2", "field 'answer' is missing"]),
        ('{"question": " ", "answer": "1"}', ["line 2", "field 'question' must be"]),
        ('{"question": "q", "answer": 1.5}', ["line 2", "field 'answer' must be"]),
        ('{"question": "q", "answer": true}', ["line 2", "field 'answer' must be"]),
        ('{"question": "q", "answer": "1", "id": [1]}', ["line 2", "field 'id' must be"]),
        ('{"question": "q", "answer": "1", "id": "a"}', ["line 2", "'id' repeats 'a'", "line 1"]),
    ],
)
def test_malformed_question_line(tmp_path: Path, line: str, fragments: list[str]) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "ok?", "answer": "1", "id": "a"}\n' + line + "\n")
    with pytest.raises(CollectError) as error:
        read_questions(path)
    assert str(path) in str(error.value)
    for fragment in fragments:
        assert fragment in str(error.value)


def test_empty_or_missing_question_file(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(CollectError, match="holds no questions"):
        read_questions(tmp_path / "empty.jsonl")
    with pytest.raises(CollectError, match="does not exist"):
        read_questions(tmp_path / "missing.jsonl")


# ---- prompt ---------------------------------------------------------------------------------


def test_prompt_format_of_a_thinking_model(tokenizer) -> None:
    fmt = PromptFormat.for_tokenizer(tokenizer)
    assert fmt.thinking and fmt.suffix == THINKING_SUFFIX
    assert tokenizer.decode(list(fmt.suffix_ids)) == THINKING_SUFFIX
    prompt = tokenizer.decode(fmt.prompt_ids(tokenizer, "What is 3+4?"))
    assert prompt == f"<|user|>What is 3+4?\n{INSTRUCTION}<|end|><|assistant|><think>\n"


class _StubTokenizer:
    name_or_path = "stub"

    def __init__(self, template: str | None, vocab: dict[str, int]) -> None:
        self.chat_template = template
        self._vocab = vocab

    def get_vocab(self) -> dict[str, int]:
        return self._vocab

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [ord(c) for c in text]


def test_prompt_format_without_thinking_or_template() -> None:
    assert PromptFormat.for_tokenizer(_StubTokenizer("{{ x }}", {"a": 0})).suffix == PLAIN_SUFFIX
    with pytest.raises(CollectError, match="has no chat template"):
        PromptFormat.for_tokenizer(_StubTokenizer(None, {}))


# ---- the shared pipeline, on a scripted backend --------------------------------------------


class ScriptedBackend:
    """Traces given as text (the same for every question); a probe's answer depends on how
    many trace tokens it saw."""

    def __init__(self, tokenizer, traces: list[str], probe_texts: dict[int, str]) -> None:
        self.tokenizer = tokenizer
        self.traces = traces
        self.probe_texts = probe_texts
        self.requests: list[SampleRequest] = []
        self.prefixes: list[list[int]] = []

    def sample(
        self, requests: Sequence[SampleRequest], config: SamplingConfig
    ) -> list[list[Sample]]:
        self.requests = list(requests)
        return [[self._sample(text) for text in self.traces[: config.n]] for _ in requests]

    def _sample(self, text: str) -> Sample:
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        logprobs = -(np.arange(len(ids)) + 1.0) / 10
        top = np.stack([logprobs, logprobs - 1, logprobs - 2], axis=1)
        return Sample(ids, logprobs, top)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        self.prefixes = [r.prefix_ids for r in requests]
        assert all(r.temperature == 0 for r in requests)  # probes are greedy
        prompt = len(self.requests[0].prompt_ids)
        suffix_len = len(PromptFormat.for_tokenizer(self.tokenizer).suffix_ids)
        seen = [len(r.prefix_ids) - prompt - suffix_len for r in requests]
        texts = [self.probe_texts.get(k, "7}") for k in seen]
        return [
            Generation(self.tokenizer.encode(t, add_special_tokens=False)[: r.max_tokens], True)
            for t, r in zip(texts, requests, strict=True)
        ]


def test_pipeline_cuts_probes_and_matches(tokenizer, tmp_path: Path) -> None:
    from tts_gym.collect.questions import QuestionItem

    traces = [
        "abcdefghijk so \\boxed{\\dfrac{1}{2}}<|end|>",  # 36 tokens: probes at 8..32, final
        "0123456789abcdef",  # exactly 2 intervals, no box: one probe then ERR
        "short",  # under one interval: only the final answer
        "x is 1/3 so \\boxed{1/3}<|end|>",  # 24 tokens, 3 intervals: probes at 8, 16, final
    ]
    probe_texts = {8: "0.5} and so on", 16: "\\frac{1}{3}}", 24: "no closing brace"}
    backend = ScriptedBackend(tokenizer, traces, probe_texts)
    config = CollectConfig(model="tiny", n=4, interval=8, top_logprobs=3, confidence_window=5)
    fmt = PromptFormat.for_tokenizer(tokenizer)
    item = QuestionItem("Half of one?", "\\frac{1}{2}", id="h")
    [record] = QuestionCollector(backend, tokenizer, fmt, config).collect([(3, item)])

    [request] = backend.requests
    assert request.seed == question_seed(config.seed, 3)
    ids = [tokenizer.encode(t, add_special_tokens=False) for t in traces]
    expected_prefixes = [
        request.prompt_ids + trace[:cut] + list(fmt.suffix_ids)
        for trace in ids
        for cut in range(8, len(trace), 8)
    ]
    assert backend.prefixes == expected_prefixes
    half, third = "\\frac{1}{2}", "1/3"
    assert [len(t) for t in ids] == [36, 16, 5, 24]
    assert record["each_branch"] == [
        [[half, "\\frac{1}{3}", "ERR", "7", half], 36, half],
        [[half, "ERR"], 16, "ERR"],
        [["ERR"], 5, "ERR"],
        [[half, "\\frac{1}{3}", third], 24, third],
    ]
    assert record["raw_probe_answers"][0] == ["0.5", "\\frac{1}{3}", "ERR", "7", "\\dfrac{1}{2}"]
    assert record["raw_final_answers"] == ["\\dfrac{1}{2}", "ERR", "ERR", third]
    assert record["final_answers_trace"] == [half, "ERR", "ERR", third]
    assert (record["id"], record["probe_freq"], record["gold_answer"]) == ("h", 8, half)
    assert record["prompt_tokens"] == len(request.prompt_ids)
    for b, trace in enumerate(ids):
        logprobs = -(np.arange(len(trace)) + 1.0) / 10
        top = np.stack([logprobs, logprobs - 1, logprobs - 2], axis=1)
        statistics = segment_statistics(top, 8, 5, config.tail_window)
        for name, key in CONFIDENCE_STATISTICS.items():
            np.testing.assert_allclose(record[key][b], statistics[name], atol=1e-6)
        np.testing.assert_allclose(
            record["segment_mean_logprob"][b], segment_mean_logprob(logprobs, 8), atol=1e-6
        )
    question = load_store(write_store([record], tmp_path / "store.json")).questions[0]
    assert question.confidence is not None and question.tokens == (36, 16, 5, 24)
    assert set(question.confidences) == set(CONFIDENCE_STATISTICS)


# ---- bad input on the command line ---------------------------------------------------------


def test_bad_question_line_is_one_sentence_and_writes_nothing(
    tiny_model: Path, tmp_path: Path, capsys
) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "a?", "answer": "1"}\n{"question": "b?"}\n')
    out = tmp_path / "out" / "store.json"
    out.parent.mkdir()
    assert _cli("--model", tiny_model, "--questions", questions, "--out", out, *RUN_ARGS) == 1
    _one_line_error(capsys, str(questions), "line 2", "'answer'")
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (["--n", "0"], ["argument --n: expected a whole number of at least 1, got '0'"]),
        (["--n", "2.5"], ["argument --n: expected a whole number"]),
        (["--top-p", "1.5"], ["argument --top-p: expected a finite number above 0 and at most 1"]),
        (["--temperature", "-1"], ["argument --temperature: expected a finite number of at least"]),
        (["--temperature", "nan"], ["argument --temperature: expected a finite number"]),
        (["--seed", "-1"], ["argument --seed: expected a whole number from 0"]),
        (
            ["--ray", "--workers", "0"],
            ["argument --workers: expected a whole number of at least 1"],
        ),
        (["--ray", "--gpus-per-worker", "inf"], ["argument --gpus-per-worker: expected a finite"]),
    ],
)
def test_bad_settings_are_refused_at_the_door(
    tiny_model: Path, questions_file: Path, tmp_path: Path, capsys, extra, fragments
) -> None:
    out = tmp_path / "store.json"
    args = ["--model", tiny_model, "--questions", questions_file, "--out", out, *RUN_ARGS, *extra]
    assert _cli(*args) == 2
    _one_line_error(capsys, *fragments)
    assert not out.exists() and not metadata_path(out).exists()


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"n": 0}, "--n must be at least 1"),
        ({"top_p": 1.5}, "--top-p must be in (0, 1]"),
        ({"temperature": float("nan")}, "--temperature must be non-negative"),
    ],
)
def test_bad_settings_from_python(change, says) -> None:
    with pytest.raises(CollectError, match=re.escape(says)):
        dataclasses.replace(CollectConfig(model="m"), **change).check()


def test_the_store_written_is_never_the_questions_file(
    tiny_model: Path, questions_file: Path, capsys
) -> None:
    before = questions_file.read_bytes()
    assert _cli("--model", tiny_model, "--questions", questions_file, "--out", questions_file) == 1
    _one_line_error(capsys, "would replace the input")
    assert questions_file.read_bytes() == before


def test_ray_options_without_ray(tiny_model: Path, questions_file: Path, tmp_path: Path, capsys):
    out = tmp_path / "store.json"
    args = ["--model", tiny_model, "--questions", questions_file, "--out", out, *RUN_ARGS]
    assert _cli(*args, "--workers", "2") == 1
    _one_line_error(capsys, "--workers and --gpus-per-worker go with --ray")
    assert not out.exists() and not metadata_path(out).exists()


def test_bad_model_and_output_paths(questions_file: Path, tiny_model: Path, tmp_path: Path, capsys):
    out = tmp_path / "store.json"
    missing = tmp_path / "no-such-model"
    assert _cli("--model", missing, "--questions", questions_file, "--out", out, *RUN_ARGS) == 1
    _one_line_error(capsys, "model folder", str(missing), "does not exist")
    nowhere = tmp_path / "no-such-folder" / "store.json"
    assert _cli("--model", tiny_model, "--questions", questions_file, "--out", nowhere) == 1
    _one_line_error(capsys, "does not exist")
    out.write_text("[]")
    assert _cli("--model", tiny_model, "--questions", questions_file, "--out", out) == 1
    _one_line_error(capsys, "already exists", "--resume")
    assert out.read_text() == "[]"
    assert not list(tmp_path.glob("*.meta.json"))


def test_an_unreachable_hub_fails_fast_with_one_sentence(
    questions_file: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    out = tmp_path / "store.json"
    started = time.monotonic()
    assert _cli("--model", "nobody/tiny", "--questions", questions_file, "--out", out) == 1
    assert time.monotonic() - started < 10  # no minute of retries
    _one_line_error(capsys, "'nobody/tiny'", "cannot be reached", "hf download nobody/tiny")
    assert not out.exists() and not metadata_path(out).exists()


# ---- end to end on the tiny model ----------------------------------------------------------


class RecordingBackend:
    """Wraps the real backend and keeps every question's generated ids and probe prefixes
    (one question per call: the default `--batch-questions 1`)."""

    def __init__(self, inner: TransformersBackend) -> None:
        self.inner = inner
        self.calls: list[dict[str, Any]] = []

    def sample(
        self, requests: Sequence[SampleRequest], config: SamplingConfig
    ) -> list[list[Sample]]:
        [request] = requests
        sampled = self.inner.sample(requests, config)
        self.calls.append({"prompt": request.prompt_ids, "samples": sampled[0], "prefixes": []})
        return sampled

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        self.calls[-1]["prefixes"] = [r.prefix_ids for r in requests]
        return self.inner.generate(requests)


def test_collect_end_to_end(
    tiny_model: Path, tokenizer, questions_file: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    from tts_gym.collect import collector

    recorders: list[RecordingBackend] = []

    def recording_backend(*args: Any, **kwargs: Any) -> RecordingBackend:
        recorders.append(RecordingBackend(TransformersBackend(str(tiny_model))))
        return recorders[-1]

    monkeypatch.setattr(collector, "load_backend", recording_backend)
    out = tmp_path / "store.json"
    assert _cli("--model", tiny_model, "--questions", questions_file, "--out", out, *RUN_ARGS) == 0
    assert "3 of 3 questions" in capsys.readouterr().out

    store = load_store(out)
    raw = json.loads(out.read_text())
    calls = recorders[0].calls
    suffix = list(PromptFormat.for_tokenizer(tokenizer).suffix_ids)
    assert store.n_questions == len(calls) == 3 and store.has_confidence
    mapped = 0
    for question, record, call in zip(store.questions, raw, calls, strict=True):
        lengths = [len(s.token_ids) for s in call["samples"]]
        assert question.probe_freq == 8 and question.n_branches == 3
        assert list(question.tokens) == lengths
        assert all(0 < t <= 40 for t in lengths)
        assert [len(p) for p in question.probes] == [math.ceil(t / 8) for t in lengths]
        assert [len(c) for c in question.confidence] == [math.ceil(t / 8) for t in lengths]
        assert record["prompt_tokens"] == len(call["prompt"])
        assert call["prefixes"] == [
            call["prompt"] + s.token_ids[:cut] + suffix
            for s in call["samples"]
            for cut in range(8, len(s.token_ids), 8)
        ]
        for b, sample in enumerate(call["samples"]):
            probes, length, final = record["each_branch"][b]
            assert probes[-1] == final == record["final_answers_trace"][b]
            np.testing.assert_allclose(
                record["segment_mean_logprob"][b],
                segment_mean_logprob(sample.logprobs, 8),
                atol=1e-5,
            )
            direct = deepconf_reference(sample.top_logprobs, 8, window=12, tail=2048)
            for name, key in CONFIDENCE_STATISTICS.items():
                np.testing.assert_allclose(record[key][b], direct[name], atol=1e-5)
            assert sample.top_logprobs.shape == (length, 5)
        mapped += sum(
            a != r
            for branch, raws in zip(record["each_branch"], record["raw_probe_answers"], strict=True)
            for a, r in zip(branch[0], raws, strict=True)
        )
        # cost accounting through the engine: READing every branch charges every token
        episode = Episode(question, list(range(question.n_branches)))
        for _ in range(question.n_branches):
            episode.read()
        assert episode.tokens == sum(lengths)
    assert mapped > 0  # the model says "7": mapped onto the gold strings "07" and "\frac{14}{2}"

    meta = json.loads(metadata_path(out).read_text())
    assert meta["completed_questions"] == meta["total_questions"] == 3
    assert meta["settings"]["n"] == 3 and meta["settings"]["seed"] == 7
    assert meta["settings"]["suffix"] == THINKING_SUFFIX and meta["settings"]["thinking"]
    assert meta["versions"]["transformers"] and meta["created"] <= meta["updated"]


def _console_script() -> list[str]:
    script = shutil.which("tts-gym", path=str(Path(sys.executable).parent))
    if script:
        return [script]
    return [sys.executable, "-c", "import sys; from tts_gym.cli import main; sys.exit(main())"]


def test_resumed_run_equals_uninterrupted_run(
    tiny_model: Path, questions_file: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    reference = tmp_path / "reference.json"
    env = one_thread_env()
    args = ["--model", tiny_model, "--questions", questions_file, *RUN_ARGS]
    done = subprocess.run(
        [*_console_script(), "collect", *map(str, args), "--out", str(reference)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr

    out = tmp_path / "store.json"
    real_sample = TransformersBackend.sample
    calls = []

    def interrupted_sample(self, *a: Any, **k: Any) -> list[Sample]:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_sample(self, *a, **k)

    monkeypatch.setattr(TransformersBackend, "sample", interrupted_sample)
    assert _cli(*args, "--out", out) == 130
    _one_line_error(capsys, "interrupted")
    # no store until it is whole: the two finished questions wait in the work folder
    assert not out.exists()
    assert sorted(p.name for p in shard_folder(out).iterdir()) == ["q000000.json", "q000001.json"]
    assert json.loads(metadata_path(out).read_text())["completed_questions"] == 2
    assert _cli(*args, "--out", out) == 1
    _one_line_error(capsys, "interrupted run", "--resume")

    monkeypatch.setattr(TransformersBackend, "sample", real_sample)
    changed = [*args[:-2], "--seed", "8"]
    assert _cli(*changed, "--out", out, "--resume") == 1
    _one_line_error(capsys, "cannot resume", "seed=7", "seed=8")

    assert _cli(*args, "--out", out, "--resume") == 0
    assert out.read_bytes() == reference.read_bytes()
    assert json.loads(metadata_path(out).read_text())["completed_questions"] == 3
    assert not shard_folder(out).exists() and not list(tmp_path.glob(".*.part"))

    capsys.readouterr()
    assert _cli(*args, "--out", out, "--resume") == 0
    assert "already complete" in capsys.readouterr().out
    assert out.read_bytes() == reference.read_bytes()


def test_collect_library_call_with_an_injected_backend(
    tiny_model: Path, tokenizer, questions_file: Path, tmp_path: Path
) -> None:
    traces = ["\\boxed{7}<|end|>", "I think it is 7 and \\boxed{07}"]
    backend = ScriptedBackend(tokenizer, traces, {})
    config = CollectConfig(model=str(tiny_model), backend="transformers", n=2, interval=8)
    result = collect(questions_file, tmp_path / "s.json", config, backend=backend, progress=False)
    assert (result.questions, result.total, result.collected) == (3, 3, 3)
    finals = [q.answers[f] for q in load_store(result.store).questions for f in q.finals]
    assert finals == ["07", "07", "\\frac{14}{2}", "\\frac{14}{2}", "7", "07"]
    text = result.store.read_text(encoding="utf-8")
    assert text == store_text(json.loads(text))  # written by the one store writer
    assert result.final_accuracy == pytest.approx(4 / 6)
