"""`tts-gym discover --proposer openai --candidates 2` end to end: the real `openai` client
against a local Chat Completions server (`MockOpenAI`), scripted in `conftest.openai_script`."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.agents.discovery.conftest import (
    GOOD,
    NARROW,
    OPENAI_ARGS,
    discover_openai,
    ledger,
    openai_failures,
    openai_script,
)
from tests.agents.discovery.fixtures.mock_api import MockOpenAI, text, tool
from tts_gym.cli import main

TIME_LIMIT = re.compile(r"the (wall|CPU)-time limit of [\d.]+ s")
CALL_DOLLARS = ((1000 + 3000) * 1 + 200 * 10) / 1e6  # the mock's usage at the given prices
CANDIDATE_FILES = {"controller.py", "prompt.md", "transcript.json", "usage.json", "verdict.json"}
CANDIDATE_FILES |= {"feedback.md"}
PORT = re.compile(r"127\.0\.0\.1:\d+")

REQUESTS = {  # requests per candidate, with each failed attempt
    key: len(steps) + sum(len(v) for k, v in openai_failures().items() if k[:2] == key)
    for key, steps in openai_script().items()
}


def round_verdict(run: Path, number: int) -> dict:
    return json.loads((run / f"round-{number:04d}" / "verdict.json").read_text())


def candidate_verdict(run: Path, number: int, k: int) -> dict:
    return json.loads((run / f"round-{number:04d}" / f"candidate-{k}" / "verdict.json").read_text())


def test_every_candidate_is_archived_and_the_best_kept(openai_reference) -> None:
    run, _ = openai_reference
    for number in (1, 2, 3):
        folder = run / f"round-{number:04d}"
        assert {p.name for p in folder.iterdir()} == {
            "verdict.json",
            "feedback.md",
            "candidate-1",
            "candidate-2",
        }
        for k in (1, 2):
            wrote = (number, k) != (2, 1)  # that one answered in plain text
            files = CANDIDATE_FILES if wrote else CANDIDATE_FILES - {"controller.py"}
            assert {p.name for p in (folder / f"candidate-{k}").iterdir()} >= files
    first, second = candidate_verdict(run, 1, 1), candidate_verdict(run, 1, 2)
    assert first["ok"] and second["ok"] and first["score"] != second["score"]
    assert NARROW[1] in (run / "round-0001/candidate-2/controller.py").read_text()
    kept = 1 if first["score"] > second["score"] else 2
    verdict = round_verdict(run, 1)
    assert verdict["candidate"] == kept and verdict["score"] == max(first["score"], second["score"])
    assert [c["score"] for c in verdict["candidates"]] == [first["score"], second["score"]]

    assert candidate_verdict(run, 2, 1)["errors"] == [
        "the proposer left no controller.py (no tool call (stop))."
    ]
    assert candidate_verdict(run, 2, 2)["errors"] == [
        "controller.py has a syntax error at line 5: expected ':'."
    ]
    assert not round_verdict(run, 2)["ok"] and round_verdict(run, 2)["candidate"] == 1
    assert "time limit" in candidate_verdict(run, 3, 1)["errors"][0]
    assert round_verdict(run, 3)["candidate"] == 2 and round_verdict(run, 3)["ok"]
    best = json.loads((run / "best.json").read_text())
    assert (best["round"], best["candidate"]) == (1, kept)
    assert best["controller"] == f"round-0001/candidate-{kept}/controller.py"


def test_the_ledger_records_every_call_of_every_candidate(openai_reference) -> None:
    run, _ = openai_reference
    events = ledger(run)
    calls = [e for e in events if e["event"] == "api_call"]
    per_candidate = {}
    for call in calls:
        key = (call["round"], call["candidate"])
        per_candidate[key] = per_candidate.get(key, 0) + 1
    assert per_candidate == {(1, 1): 2, (1, 2): 4, (2, 1): 1, (2, 2): 3, (3, 1): 2, (3, 2): 2}
    assert all(c["dollars"] == pytest.approx(CALL_DOLLARS) for c in calls)
    assert calls[0]["tokens"] == {
        "input": 1000,
        "output": 200,
        "cache_write": 0,
        "cache_read": 3000,
    }
    assert all(c["price_known"] for c in calls)
    for number in (1, 2, 3):
        end = next(e for e in events if e["event"] == "round_end" and e["round"] == number)
        assert end["dollars"] == pytest.approx(
            sum(c["dollars"] for c in calls if c["round"] == number)
        )
    ends = [(e["round"], e["candidate"], e["ok"]) for e in events if e["event"] == "candidate_end"]
    assert sorted(ends) == [(1, 1, True), (1, 2, True), (2, 1, False), (2, 2, False)] + [
        (3, 1, False),
        (3, 2, True),
    ]
    assert events[-1]["event"] == "stop" and events[-1]["reason"] == "rounds"


def test_the_wire_parallel_calls_bad_arguments_and_retries(openai_reference) -> None:
    run, api = openai_reference
    # each scripted failure (a 429, a 500) is answered by a retry of the same request
    assert api.statuses.count(429) == 1 and api.statuses.count(500) == 1
    assert len(api.statuses) == len(api.requests) == sum(REQUESTS.values())
    for body in api.requests:
        assert body["model"] == "local-coder" and body["max_tokens"] == 16_000
        assert body["messages"][0]["role"] == "system"
        assert {t["function"]["name"] for t in body["tools"]} == {
            "read_file",
            "write_controller",
            "edit_controller",
            "evaluate",
            "finish",
        }
    messages = json.loads((run / "round-0001/candidate-1/transcript.json").read_text())["messages"]
    assert [call["function"]["name"] for call in messages[1]["tool_calls"]] == [
        "write_controller",
        "evaluate",
    ]
    assert [m["role"] for m in messages[2:4]] == ["tool", "tool"]  # one result per call
    assert messages[2]["content"].startswith("wrote controller.py")
    assert messages[3]["content"].startswith("accepted. Score:")
    bad = json.loads((run / "round-0001/candidate-2/transcript.json").read_text())["messages"]
    assert bad[2]["content"] == (
        "error: write_controller: its arguments are not valid JSON "
        "(Unterminated string starting at); nothing was done."
    )


def test_the_next_round_shows_every_candidates_score(openai_reference) -> None:
    run, api = openai_reference
    message = api.first_messages(2, 1)[0]
    assert "Candidate 1 of 2" in message and "## The round's candidates" in message
    for k in (1, 2):
        assert f"{candidate_verdict(run, 1, k)['score']:+.4f}" in message
    assert "Candidate 2 of 2" in api.first_messages(2, 2)[0]
    assert "syntax error at line 5" in api.first_messages(3, 1)[0]
    assert "no tool call" in (run / "round-0002/feedback.md").read_text()


def test_a_dollar_cap_holds_across_concurrent_candidates(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    script = {
        (1, k): [tool("read_file", path="history")] * 3 + [tool("write_controller", content=GOOD)]
        for k in (1, 2)  # every call costs $0.054, and needs $0.104 (its worst case) to start
    }
    usage = {"input_tokens": 1000, "output_tokens": 500, "cache_read_input_tokens": 3000}
    with MockOpenAI(script, failures={}, usage=usage) as api:
        extra = ["--price-out", "100", "--max-output-tokens", "1000", "--max-dollars", "0.25"]
        assert discover_openai(tmp_path, "capped", api, *extra) == 0
    run = tmp_path / "capped"
    events = ledger(run)
    spent = sum(e["dollars"] for e in events if e["event"] == "api_call")
    assert 0 < spent <= 0.25
    stops = {candidate_verdict(run, 1, k)["proposer_stop"] for k in (1, 2)}
    assert "dollar cap" in stops
    assert not (run / "round-0002").exists() and not (run / "round-0002.partial").exists()
    assert events[-1]["event"] == "stop" and events[-1]["reason"] == "dollars"


def test_a_reply_without_usage_is_priced_on_an_estimate(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    script = {(1, 1): [text("Here is my plan, in words only.")]}
    with MockOpenAI(script, failures={}, report_usage=False) as api:
        assert discover_openai(tmp_path, "quiet", api, "--candidates", "1", "--rounds", "1") == 0
    (call,) = [e for e in ledger(tmp_path / "quiet") if e["event"] == "api_call"]
    assert call["tokens_estimated"] and call["tokens"]["input"] > 1000  # the prompt, in chars / 3
    assert call["dollars"] == pytest.approx(
        (call["tokens"]["input"] * 1 + call["tokens"]["output"] * 10) / 1e6
    )


def _archive(run: Path) -> dict[str, str]:
    """Every file but the ledger (which time limit stops an endless loop first may depend on
    the machine's load, so the limit is normalised)."""
    files = {}
    for path in sorted(run.rglob("*")):
        if path.is_file() and path.name != "ledger.jsonl":
            contents = path.read_text(encoding="utf-8")
            contents = PORT.sub("127.0.0.1:PORT", TIME_LIMIT.sub("a time limit", contents))
            files[str(path.relative_to(run))] = contents
    return files


def test_kill_9_mid_round_loses_no_completed_candidate(
    openai_reference, tmp_path, monkeypatch
) -> None:
    runs = tmp_path / "runs"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    with MockOpenAI(openai_script(), failures=openai_failures()) as api:
        api.hold_at = (2, 2, 1)  # candidate 2's second request of round 2 hangs
        command = [sys.executable, "-m", "tts_gym.cli", "discover", "full", "--runs-dir"]
        command += [str(runs), "--base-url", api.base_url, *OPENAI_ARGS]
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        run = runs / "full"
        done = run / "round-0002.partial" / "candidate-1"
        try:
            assert api.arrived.wait(120), "round 2 never reached the API"
            deadline = time.monotonic() + 60
            while not done.is_dir() and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        api.release.set()
        assert done.is_dir() and (run / "round-0002.partial" / "candidate-2.partial").is_dir()
        asked = len(api.first_messages(2, 1))

        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        assert main(["discover", "--resume", str(run)]) == 0
        assert len(api.first_messages(2, 1)) == asked  # the completed candidate is kept

    reference, _ = openai_reference
    assert _archive(run) == _archive(reference)
    resumed = [e for e in ledger(run) if e["event"] == "resume"]
    assert resumed[0]["dropped"] == ["round-0002.partial/candidate-2.partial"]

    def ends(folder: Path) -> list[tuple]:
        return [
            (e["round"], e["ok"], e["score"]) for e in ledger(folder) if e["event"] == "round_end"
        ]

    assert ends(run) == ends(reference)


def test_a_resumed_run_keeps_its_settings(openai_reference, tmp_path, capsys) -> None:
    run = tmp_path / "full"
    shutil.copytree(openai_reference[0], run)
    assert main(["discover", "--resume", str(run), "--candidates", "3"]) == 1
    assert "--candidates" in capsys.readouterr().err
