"""`tts-gym discover` end to end, driving the real `anthropic` client against a local server.

The Messages API itself is unreachable here: `fixtures.mock_api` speaks enough of it
(tool use, text, usage, a 429 and a 500 before success) with replies scripted per round, so
runs are reproducible: round 1 writes a good controller and evaluates it, round 2 makes a
failing edit and writes a syntax error, round 3 writes a controller that never returns.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tts_gym_agents.discovery.archive import RunArchive

from tests.agents.discovery.fixtures.mock_api import MockAnthropic
from tests.support import allow_missing_layers
from tts_gym.cli import main
from tts_gym.errors import TTSGymError

FIXTURES = Path(__file__).parent / "fixtures"
RUN_ARGS = [
    "--stores",
    "autotts/qwen3-0.6b/aime24",
    "autotts/qwen3-8b/aime24",
    "--orders",
    "2",
    "--questions",
    "10",
    "--rounds",
    "3",
    "--max-dollars",
    "10",
    "--time-limit",
    "20",  # the sweep plus its replays in fresh processes, with room for a loaded machine
    *allow_missing_layers(),
]
TIME_LIMIT = re.compile(r"the (wall|CPU)-time limit of [\d.]+ s")
CALL_DOLLARS = (1000 * 3 + 200 * 15 + 3000 * 0.3) / 1e6  # the mock's usage at Sonnet prices
CANDIDATE_FILES = {"controller.py", "prompt.md", "transcript.json", "usage.json", "verdict.json"}
CANDIDATE_FILES |= {"feedback.md"}


def discover(runs: Path, name: str, *extra: str) -> int:
    return main(["discover", name, "--runs-dir", str(runs), *RUN_ARGS, *extra])


def use_api(monkeypatch: pytest.MonkeyPatch, api: MockAnthropic) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")


def ledger(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "ledger.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, shared_replay) -> tuple[Path, MockAnthropic]:
    """One uninterrupted 3-round run, shared by the tests that only read it."""
    runs = tmp_path_factory.mktemp("runs")
    with MockAnthropic() as api, pytest.MonkeyPatch.context() as monkeypatch:
        use_api(monkeypatch, api)
        assert discover(runs, "ref") == 0
    return runs / "ref", api


def test_three_rounds_are_archived_with_their_costs(reference) -> None:
    run, api = reference
    for number in (1, 2, 3):
        folder = run / f"round-{number:04d}"
        assert {p.name for p in folder.iterdir()} == {"verdict.json", "feedback.md", "candidate-1"}
        assert {p.name for p in (folder / "candidate-1").iterdir()} >= CANDIDATE_FILES
    assert (run / "round-0001" / "candidate-1" / "traces.jsonl").is_file()
    verdicts = [json.loads((run / f"round-{n:04d}/verdict.json").read_text()) for n in (1, 2, 3)]
    assert verdicts[0]["ok"] and verdicts[0]["score"] is not None
    assert verdicts[1]["errors"] == ["controller.py has a syntax error at line 5: expected ':'."]
    assert "time limit" in verdicts[2]["errors"][0]
    assert json.loads((run / "best.json").read_text())["round"] == 1

    events = ledger(run)
    calls = [e for e in events if e["event"] == "api_call"]
    assert [c["round"] for c in calls] == [1, 1, 1, 2, 2, 2, 3, 3]
    assert sum(c["dollars"] for c in calls) == pytest.approx(8 * CALL_DOLLARS)
    assert calls[0]["tokens"] == {
        "input": 1000,
        "output": 200,
        "cache_write": 0,
        "cache_read": 3000,
    }
    ends = [e for e in events if e["event"] == "round_end"]
    assert [(e["round"], e["ok"]) for e in ends] == [(1, True), (2, False), (3, False)]
    assert events[-1]["event"] == "stop" and events[-1]["reason"] == "rounds"
    assert len(json.loads((run / "round-0002/candidate-1/usage.json").read_text())) == 3


def test_the_sdk_retries_and_the_prompt_is_cached(reference) -> None:
    _, api = reference
    # a 429, then a 500, each answered by a retry of the same request
    assert api.statuses[:5] == [200, 429, 200, 500, 200]
    for body in api.requests:
        assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
        assert body["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
        assert {tool["name"] for tool in body["tools"]} == {
            "read_file",
            "write_controller",
            "edit_controller",
            "evaluate",
            "finish",
        }


def test_each_round_reads_the_feedback_of_the_last(reference) -> None:
    run, api = reference
    round_two, round_three = api.first_messages(2)[0], api.first_messages(3)[0]
    assert "Execution traces" in round_two and "Against the baselines" in round_two
    assert "syntax error at line 5" in round_three
    transcript = json.loads((run / "round-0002/candidate-1/transcript.json").read_text())
    results = [
        block
        for message in transcript["messages"]
        if message["role"] == "user" and isinstance(message["content"], list)
        for block in message["content"]
    ]
    assert results[0]["is_error"] and "no controller.py yet" in results[0]["content"]
    evaluated = json.loads((run / "round-0001/candidate-1/transcript.json").read_text())
    evaluated = evaluated["messages"][4]
    assert evaluated["content"][0]["content"].startswith("accepted. Score:")


def test_feedback_shows_sequential_tokens_beside_tokens(reference) -> None:
    run, api = reference
    verdict = json.loads((run / "round-0001/verdict.json").read_text())
    sweep = list(
        csv.DictReader(io.StringIO((run / "round-0001/candidate-1/sweep.csv").read_text()))
    )
    assert len(sweep) == len(verdict["sweep"])
    for row, point in zip(sweep, verdict["sweep"], strict=True):
        assert 0 < point["seq_tokens"] <= point["tokens"]
        assert float(row["seq_tokens"]) == pytest.approx(point["seq_tokens"], abs=0.05 + 1e-6)
    baselines = list(csv.DictReader(io.StringIO((run / "baselines.csv").read_text())))
    assert all(0 < float(b["seq_tokens"]) <= float(b["tokens"]) for b in baselines)
    feedback = (run / "round-0001/feedback.md").read_text()
    assert "| store | beta | accuracy | tokens | seq tokens |" in feedback
    assert re.search(r"k tokens, [\d.]+k seq\) vs beta=", feedback)  # matchups
    assert re.search(r"k tokens \([\d.]+k sequential\), stop:", feedback)  # traces
    traces = [
        json.loads(line)
        for line in (run / "round-0001/candidate-1/traces.jsonl").read_text().splitlines()
    ]
    assert all(0 < t["seq_tokens"] <= t["tokens"] for t in traces)
    round_two = api.first_messages(2)[0]
    assert "| baseline | accuracy | tokens | seq tokens |" in round_two
    assert "seq tokens at beta=1" in round_two


def test_held_out_stores_stay_out_of_the_search(reference) -> None:
    run, api = reference
    for body in api.requests:
        text = json.dumps(body)
        assert "aime25" not in text and "hmmt25" not in text
    for path in run.rglob("*"):
        if path.is_file() and path.suffix != ".png":
            assert "aime25" not in path.read_text() and "hmmt25" not in path.read_text()


def test_scalar_feedback_and_free_knobs(tmp_path, monkeypatch, shared_replay) -> None:
    with MockAnthropic() as api:
        use_api(monkeypatch, api)
        code = discover(tmp_path, "scalar", "--feedback", "scalar", "--free-knobs", "--rounds", "2")
    assert code == 0
    run = tmp_path / "scalar"
    assert not (run / "round-0001" / "candidate-1" / "traces.jsonl").exists()
    feedback = (run / "round-0001" / "feedback.md").read_text()
    assert "Score:" in feedback and "Execution traces" not in feedback
    assert "Against the baselines" not in api.first_messages(2)[0]
    assert "may take other parameters" in (run / "system_prompt.md").read_text()


def test_the_dollar_cap_stops_the_run(tmp_path, monkeypatch, shared_replay) -> None:
    usage = {"input_tokens": 1000, "output_tokens": 5000, "cache_read_input_tokens": 3000}
    with MockAnthropic(usage=usage) as api:
        use_api(monkeypatch, api)
        assert discover(tmp_path, "capped", "--max-dollars", "0.35") == 0
    run = tmp_path / "capped"
    events = ledger(run)
    spent = sum(e["dollars"] for e in events if e["event"] == "api_call")
    assert 0 < spent <= 0.35
    verdict = json.loads((run / "round-0001" / "verdict.json").read_text())
    assert verdict["proposer_stop"] == "dollar cap" and verdict["ok"]  # evaluated what it wrote
    assert not (run / "round-0002").exists()
    assert events[-1]["event"] == "stop" and events[-1]["reason"] == "dollars"


def _archive(run: Path) -> dict[str, str]:
    """Every file but the ledger; which of the two time limits stops an endless loop first may
    depend on the machine's load, so the limit is normalised."""
    files = {}
    for path in sorted(run.rglob("*")):
        if path.is_file() and path.name != "ledger.jsonl":
            text = path.read_text(encoding="utf-8")
            files[str(path.relative_to(run))] = TIME_LIMIT.sub("a time limit", text)
    return files


def test_kill_9_mid_round_then_resume_gives_the_same_archive(
    reference, tmp_path, monkeypatch
) -> None:
    runs = tmp_path / "runs"
    with MockAnthropic() as api:
        api.hold_at = (2, 1, 1)  # round 2's second request hangs until the client is killed
        env = {**os.environ, "ANTHROPIC_BASE_URL": api.url, "ANTHROPIC_API_KEY": "test-key"}
        command = [sys.executable, "-m", "tts_gym.cli", "discover", "ref", "--runs-dir", str(runs)]
        process = subprocess.Popen(
            command + RUN_ARGS, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            assert api.arrived.wait(90), "round 2 never reached the API"
        finally:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        api.release.set()
        run = runs / "ref"
        assert (run / "round-0001").is_dir() and (run / "round-0002.partial").is_dir()
        assert not (run / "round-0002").exists()

        use_api(monkeypatch, api)
        assert main(["discover", "--resume", str(run)]) == 0

    reference_run, _ = reference
    assert _archive(run) == _archive(reference_run)

    def round_ends(folder: Path) -> list[tuple]:
        ends = [e for e in ledger(folder) if e["event"] == "round_end"]
        return [(e["round"], e["ok"], e["score"]) for e in ends]

    assert round_ends(run) == round_ends(reference_run)
    resumed = [e for e in ledger(run) if e["event"] == "resume"]
    assert resumed[0]["dropped"] == ["round-0002.partial/candidate-1.partial"]
    # the killed attempt's call was paid for and stays on the books
    calls = [e for e in ledger(run) if e["event"] == "api_call"]
    assert len(calls) == len([e for e in ledger(reference_run) if e["event"] == "api_call"]) + 1


def test_final_report_once_on_held_out_stores(reference, tmp_path, capsys) -> None:
    run = tmp_path / "ref"
    shutil.copytree(reference[0], run)
    args = ["discover", "--final", str(run), "--held-out", "autotts/qwen3-8b/aime25"]
    assert main([*args, "--final-orders", "2"]) == 0
    final = run / "final"
    assert {p.name for p in final.iterdir()} == {
        "report.md",
        "heldout.csv",
        "verdict.json",
        "pareto.png",
        "trajectory.png",
    }
    report = (final / "report.md").read_text()
    assert "round 1" in report and "CMC(beta=1)" in report and "## Trajectory" in report
    assert "| controller | accuracy | tokens | seq tokens |" in report and "sequential)" in report
    held_out = (final / "heldout.csv").read_text().splitlines()
    assert held_out[0] == "store,controller,accuracy,tokens,seq_tokens"
    assert [e["event"] for e in ledger(run)][-2:] == ["final_start", "final"]
    capsys.readouterr()
    assert main(args) == 1
    assert "already evaluated" in capsys.readouterr().err
    assert main(["discover", "--resume", str(run)]) == 1
    assert "held-out" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--stores", "autotts/qwen3-8b/aime25"], "held-out store"),
        (["--betas", "0.5"], "--betas needs at least two values"),
        (["--rounds", "0"], "rounds must be positive"),
    ],
)
@pytest.mark.real_stores
def test_bad_input_leaves_no_run_folder(tmp_path, monkeypatch, capsys, extra, message) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    assert discover(tmp_path, "bad", *extra) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "bad").exists()


@pytest.mark.real_stores
def test_missing_key_or_run_is_one_sentence(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    assert discover(tmp_path, "nokey") == 1
    assert "ANTHROPIC_API_KEY" in capsys.readouterr().err
    assert not (tmp_path / "nokey").exists()
    assert main(["discover", "--resume", str(tmp_path / "nothing")]) == 1
    assert "no run folder" in capsys.readouterr().err


def test_a_run_folder_is_used_by_one_process_at_a_time(reference, tmp_path) -> None:
    run = tmp_path / "ref"
    shutil.copytree(reference[0], run)
    with (
        RunArchive.open(run),
        pytest.raises(TTSGymError, match="another tts-gym process is using"),
    ):
        RunArchive.open(run)
    RunArchive.open(run).close()
