"""CMC live on the tiny model in this process (transformers): it completes, its store loads
in the env and replays to the same episodes (an audit), and an interrupted run resumes to
the same result; the vLLM engine's requests, against a fake `vllm` module."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import tts_gym  # noqa: F401  (registers TTSControl-v0)
from tests.collect.test_collect_vllm import FakeLLM, fake_vllm  # noqa: F401  (a fixture)
from tts_gym.cli import main
from tts_gym.collect import shard_folder
from tts_gym.control.loading import load_policy
from tts_gym.engine import Episode
from tts_gym.evaluation.protocols import Protocol
from tts_gym.live import GenerationEngine
from tts_gym.store import load_store

RUN = ["--engine", "transformers", "--interval", "8", "--max-tokens", "40", "--branches", "6"]
RUN += ["--probe-tokens", "6", "--seed", "3", "--format", "json", "-q"]
POLICY = ["--policy", "cmc", "--config", "beta=0"]


def _live(capsys, *args: Any) -> tuple[int, list[dict[str, Any]]]:
    capsys.readouterr()
    code = main(["live", *map(str, args)])
    out = capsys.readouterr().out
    return code, json.loads(out) if code == 0 else []


def _without_wall(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "wall_s"} for row in rows]


def _stored_without_wall(path: Path) -> list[dict[str, Any]]:
    entries = json.loads(path.read_text())
    for entry in entries:
        for played in entry["live"].values():
            played.pop("wall_s")
    return entries


def test_cmc_live_on_the_tiny_model(tiny_model, questions_file, tmp_path, capsys) -> None:
    out = tmp_path / "live.json"
    code, rows = _live(capsys, *POLICY, "--model", tiny_model, "--questions", questions_file,
                       *RUN, "--out", out)  # fmt: skip
    assert code == 0
    overall = rows[-1]
    assert overall["question"] == "all" and overall["n_questions"] == 5
    assert overall["acc"] is not None and overall["tokens_k"] > 0 and overall["wall_s"] > 0
    assert [row["question"] for row in rows[:-1]] == ["q0", "q1", "q2", "q3", "no-gold"]
    assert rows[-2]["acc"] is None  # no gold answer, no accuracy
    # every branch the controller consumed was generated (plus the probes)
    assert overall["generated_k"] >= overall["tokens_k"] * overall["n_questions"]

    store = load_store(out)
    env = gym.make("TTSControl-v0", stores=[str(out)])
    env.reset(seed=0)
    env.close()
    # the audit: replaying the store under the live order gives the live episodes
    policy = load_policy("cmc", {"beta": 0})
    entries = json.loads(out.read_text())
    for question, entry in zip(store.questions, entries, strict=True):
        index = int(entry["id"][1:]) if entry["id"] != "no-gold" else 4
        [order] = Protocol("default", 1, 3)(index, 6)
        position = {b: i for i, b in enumerate(entry["branch_ids"])}
        episode = Episode(question, [position[b] for b in order if b in position])
        answer = episode.answer_text(policy.run(episode))
        played = entry["live"]["CMC(beta=0)"]
        assert (answer, episode.tokens, episode.seq_tokens) == (
            played["answers"][0],
            played["tokens"][0],
            played["seq_tokens"][0],
        )


def test_an_interrupted_run_resumes_to_the_same_result(
    tiny_model, questions_file, tmp_path, capsys, monkeypatch
) -> None:
    args = [*POLICY, "--model", tiny_model, "--questions", questions_file, *RUN]
    args += ["--compare", "sc", "--compare-config", "n=3"]
    real = GenerationEngine.fulfil
    calls: list[int] = []

    def counted(self, question, needs) -> None:
        calls.append(question.index)
        if len(calls) == stop_at:
            raise KeyboardInterrupt
        real(self, question, needs)

    monkeypatch.setattr(GenerationEngine, "fulfil", counted)
    stop_at = 0
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    reference = tmp_path / "a" / "live.json"
    code, expected = _live(capsys, *args, "--out", reference)
    assert code == 0
    stop_at, calls = calls.index(2) + 1, []  # on question 2, with 0 and 1 done

    out = tmp_path / "b" / "live.json"
    assert main(["live", *map(str, args), "--out", str(out)]) == 130
    finished = sorted(p.name for p in shard_folder(out).glob("q*.json"))
    assert finished == ["q000000.json", "q000001.json"] and not out.exists()
    assert main(["live", *map(str, args), "--out", str(out)]) == 1  # no silent restart
    assert "--resume" in capsys.readouterr().err
    monkeypatch.setattr(GenerationEngine, "fulfil", real)
    code, resumed = _live(capsys, *args, "--out", out, "--resume")
    assert code == 0
    for got, want in zip(_without_wall(resumed), _without_wall(expected), strict=True):
        assert got == want, {k: (got[k], want[k]) for k in got if got[k] != want[k]}
    assert _stored_without_wall(out) == _stored_without_wall(reference)


@pytest.mark.usefixtures("fake_vllm")
def test_the_vllm_engine_continues_branches_with_their_seeds(
    tiny_model,
    questions_file,
    tmp_path,
    capsys,  # noqa: F811
) -> None:
    code, rows = _live(capsys, "--policy", "sc", "--config", "n=2", "--model", tiny_model,
                       "--questions", questions_file, *RUN, "--engine", "vllm")  # fmt: skip
    assert code == 0 and rows[-1]["n_questions"] == 5
    [llm] = FakeLLM.instances
    assert llm.kwargs["enable_prefix_caching"] is True
    sampled = [
        (p, s) for prompts, params, _ in llm.requests for p, s in zip(prompts, params, strict=True)
    ]
    seeds = {s.kwargs["seed"] for _, s in sampled if s.kwargs["temperature"] > 0}
    assert len(seeds) == 10  # SC@2 reads two branches of five questions, each its own seed
    for prompt, params in sampled:
        if params.kwargs["temperature"] > 0:  # a branch, read to its end (the fake stops at 3)
            assert params.kwargs["max_tokens"] == 40 and params.kwargs["top_p"] == 0.95
        else:
            pytest.fail("SC reads whole branches: it never probes")
        assert prompt["prompt_token_ids"]
