"""CMC live against a local HTTP server speaking the completions API (scripted texts and
usage): faults are retried or end the run with one sentence, the store loads in the env, a
`kill -9`'d run resumes to the same result, and a wave's requests are in flight together."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import tts_gym  # noqa: F401  (registers TTSControl-v0)
from tests.support.completions_server import ScriptedServer
from tests.support.killing import kill_9_after_first_shard
from tts_gym.cli import main
from tts_gym.collect.prompt import PromptFormat
from tts_gym.live import GenerationEngine, QuestionSpec, Sampling, play_question
from tts_gym.live.completions import CompletionsClient, CompletionsModel

SETTINGS = ["--interval", "16", "--max-tokens", "96", "--branches", "12", "--seed", "1"]
SETTINGS += ["--timeout", "1", "--format", "json", "-q"]
POLICY = ["--policy", "cmc", "--config", "beta=0.25", "--compare", "sc", "--compare-config", "n=4"]


def _args(server: ScriptedServer, tokenizer_folder: Path, questions: Path) -> list[str]:
    return [
        "live", *POLICY, "--engine", "openai", "--model", "scripted", "--tokenizer",
        str(tokenizer_folder), "--base-url", server.base_url, "--questions", str(questions),
        *SETTINGS,
    ]  # fmt: skip


def _run(capsys, args: list[str]) -> tuple[int, Any, str]:
    capsys.readouterr()
    code = main(args)
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if code == 0 else None, captured.err


def _same_episodes(rows: list[dict[str, Any]]) -> list[tuple]:
    return [(r["method"], r["question"], r["acc"], r["tokens_k"], r["seq_tokens_k"]) for r in rows]


def test_faults_are_retried_and_the_run_completes(
    tokenizer_folder, questions_file, tmp_path, capsys
) -> None:
    with ScriptedServer() as server:
        code, clean, _ = _run(capsys, _args(server, tokenizer_folder, questions_file))
        assert code == 0
    out = tmp_path / "live.json"
    faults = ["429", None, "timeout", None, "drop", "429", "429"]
    with ScriptedServer(faults=faults, hang=2.0) as server:
        code, rows, err = _run(capsys, [*_args(server, tokenizer_folder, questions_file),
                                        "--out", str(out)])  # fmt: skip
        assert code == 0, err
        assert not server.faults  # every fault was met, and outlived
    assert _same_episodes(rows) == _same_episodes(clean)
    overall = rows[len(rows) // 2 - 1]
    assert overall["question"] == "all" and overall["method"] == "CMC(beta=0.25)"
    assert overall["acc"] is not None and overall["generated_k"] > 0
    env = gym.make("TTSControl-v0", stores=[str(out)])
    env.reset(seed=1)
    env.close()


@pytest.mark.parametrize(
    ("faults", "extra", "sentence"),
    [
        (["400"], [], r"answered 400 \(scripted 400\)\.$"),
        (["500"] * 99, ["--attempts", "2"], r"answered 500, 2 times in a row\.$"),
        (["timeout"] * 99, ["--attempts", "2"], r"did not answer within 1 s, 2 times"),
    ],
)
def test_what_cannot_be_retried_ends_the_run_with_one_sentence(
    tokenizer_folder, questions_file, tmp_path, capsys, faults, extra, sentence
) -> None:
    import re

    out = tmp_path / "live.json"
    with ScriptedServer(faults=faults, hang=1.5) as server:
        args = [*_args(server, tokenizer_folder, questions_file), *extra, "--out", str(out)]
        code, _, err = _run(capsys, args)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("tts-gym live: the completions server at http://127.0.0.1:")
    assert re.search(sentence, lines[0]), lines[0]
    assert not out.exists()


def test_an_unreachable_server_is_one_sentence(tokenizer_folder, questions_file, capsys) -> None:
    with ScriptedServer() as server:
        url = server.base_url  # closed once the block ends: nothing listens there any more
    args = ["live", "--policy", "sc", "--engine", "openai", "--model", "m", "--tokenizer",
            str(tokenizer_folder), "--base-url", url, "--questions", str(questions_file),
            "--attempts", "2", *SETTINGS]  # fmt: skip
    code, _, err = _run(capsys, args)
    assert code == 1 and err.count("\n") == 1 and "could not be reached" in err


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_result(
    tokenizer_folder, questions_file, tmp_path, capsys
) -> None:
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    with ScriptedServer() as server:
        args = _args(server, tokenizer_folder, questions_file)
        code, expected, _ = _run(capsys, [*args, "--out", str(tmp_path / "a" / "live.json")])
        assert code == 0
    out = tmp_path / "b" / "live.json"
    with ScriptedServer(delay=0.05) as server:  # slow enough to be killed in the middle
        args = _args(server, tokenizer_folder, questions_file)
        done = kill_9_after_first_shard([*args, "--out", str(out)], out)
        assert 1 <= len(done) < 5 and not out.exists()
        code, resumed, err = _run(capsys, [*args, "--out", str(out), "--resume"])
        assert code == 0, err
    assert _same_episodes(resumed) == _same_episodes(expected)
    stored, reference = (
        json.loads(out.read_text()),
        json.loads((tmp_path / "a" / "live.json").read_text()),
    )
    for entries in (stored, reference):
        for entry in entries:
            for played in entry["live"].values():
                played.pop("wall_s")
    assert stored == reference


def test_a_wave_of_eight_takes_about_as_long_as_one_request(tokenizer_folder) -> None:
    """Each step of a branch is a chunk, then its probe: a wave of 8 new branches is two
    rounds of 8 concurrent requests, so it takes about as long as one branch (two requests),
    not eight branches (generous margins: a shared CPU)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    sampling = Sampling(interval=16, max_tokens=4096, seed=2)

    class Wave:
        def __init__(self, k: int) -> None:
            self.k = k

        def solve(self, q):
            return q.branch_many(self.k)[0][0]

    delay = 0.4
    seconds = {}
    with ScriptedServer(delay=delay) as server:
        client = CompletionsClient(server.base_url, "scripted", concurrency=16)
        model = CompletionsModel(client, tokenizer, PromptFormat.for_tokenizer(tokenizer), sampling)
        engine = GenerationEngine(model, sampling)
        spec = QuestionSpec(0, "What is 3+4?", "", 16, 8)  # no gold: no math-verify import
        client.complete([{"prompt": "warm up", "max_tokens": 1, "temperature": 0.0}])
        for k in (1, 8):
            started = time.perf_counter()
            play_question(Wave(k), spec, [list(range(8))], engine)
            seconds[k] = time.perf_counter() - started
        peak = server.in_flight_peak
        client.close()
    assert peak == 8  # the eight requests of the round were in flight together
    assert seconds[1] >= delay  # one branch: its chunk (then its probe, if it goes on)
    # eight one after another would take at least 8 * delay
    assert seconds[8] < seconds[1] + 2 * delay < 8 * delay, seconds


def test_the_client_sends_what_the_api_asks(tokenizer_folder) -> None:
    with ScriptedServer() as server:
        client = CompletionsClient(server.base_url, "served-name", api_key="sk-test")
        [completion] = client.complete([{"prompt": "Hi", "max_tokens": 16, "seed": 5,
                                         "temperature": 0.7, "top_p": 0.9}])  # fmt: skip
        client.close()
        [body] = server.requests
    assert body == {"model": "served-name", "prompt": "Hi", "max_tokens": 16, "seed": 5,
                    "temperature": 0.7, "top_p": 0.9}  # fmt: skip
    assert completion.tokens == len(completion.text) and completion.stopped in (True, False)
