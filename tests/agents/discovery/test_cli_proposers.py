"""The `claude-code` and `codex` proposers end to end, through fake `claude` and `codex`
commands on PATH (`fixtures.fake_agent`): what they are run with, what they can see, what
they cost, and a run cut off by the timeout."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.agents.conftest import HELD_OUT
from tests.agents.discovery.conftest import ledger, needs_bwrap
from tests.agents.discovery.fixtures import fake_agent
from tests.agents.discovery.fixtures.mock_api import FIXTURES
from tts_gym.cli import main
from tts_gym.store import CATALOG

SMALL = [
    "--stores",
    "autotts/qwen3-8b/aime24",
    "--questions",
    "4",
    "--orders",
    "1",
    "--betas",
    "0,1",
    "--time-limit",
    "12",
    "--max-dollars",
    "10",
]
pytestmark = needs_bwrap
CODEX_TOKENS = {"input": 315, "output": 122, "cache_write": 0, "cache_read": 24448}
CODEX_DOLLARS = (315 * 1.25 + 24448 * 0.125 + 122 * 10.0) / 1e6  # gpt-5-codex's list price


def discover(runs: Path, name: str, *extra: str) -> int:
    return main(["discover", name, "--runs-dir", str(runs), "--rounds", "1", *SMALL, *extra])


@pytest.fixture
def fake(tmp_path, monkeypatch, shared_replay):
    """Install a fake agent under `name`; returns its log file."""

    def install(name: str, controller: Path = FIXTURES / "good_controller.py", **env: str):
        folder = fake_agent.install(tmp_path / "bin", name)
        monkeypatch.setenv("PATH", fake_agent.on_path(folder))
        monkeypatch.setenv("FAKE_AGENT_LOG", str(tmp_path / "agent.log"))
        monkeypatch.setenv("FAKE_AGENT_CONTROLLER", str(controller))
        held_out = shared_replay / CATALOG[HELD_OUT].relative_path
        monkeypatch.setenv("FAKE_AGENT_HELD_OUT", str(held_out))
        for key in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CODEX_API_KEY", "OPENAI_API_KEY"):
            monkeypatch.delenv(key, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return tmp_path / "agent.log"

    return install


def entries(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_claude_code_proposer(tmp_path, fake) -> None:
    log = fake("claude")
    assert discover(tmp_path, "cc", "--proposer", "claude-code", "--rounds", "2") == 0
    run = tmp_path / "cc"
    calls = [e for e in ledger(run) if e["event"] == "api_call"]
    assert [c["dollars"] for c in calls] == [fake_agent.CLAUDE_COST] * 2
    first, second = entries(log)
    args = first["args"]
    assert args[args.index("--allowedTools") + 1] == "Read,Edit,Write,Glob,Grep"
    assert "Bash" in args[args.index("--disallowedTools") + 1]
    assert float(args[args.index("--max-budget-usd") + 1]) == 10.0
    assert float(second["args"][second["args"].index("--max-budget-usd") + 1]) == 9.58
    assert "Round 2 of 2" in second["prompt"]
    assert "history/round-0001/feedback.md" in second["files"]
    assert "history/round-0001/candidate-1/controller.py" in second["files"]
    assert json.loads((run / "round-0002/verdict.json").read_text())["ok"]
    assert not (run / "round-0002" / "candidate-1" / "history").exists()
    # the data folder is hidden from the agent, and so is its address
    assert [(e["held_out"], e["data_env"]) for e in (first, second)] == [
        ("FileNotFoundError", False)
    ] * 2


def test_codex_proposer_two_candidates(tmp_path, fake) -> None:
    log = fake("codex")
    assert discover(tmp_path, "cx", "--proposer", "codex", "--candidates", "2") == 0
    run = tmp_path / "cx"
    runs = sorted(entries(log), key=lambda e: e["args"][6])
    for k, entry in enumerate(runs, 1):
        args = entry["args"]
        assert args[:6] == ["exec", "--json", "--skip-git-repo-check", "--sandbox"] + [
            "workspace-write",
            "--cd",
        ]
        assert args[6].endswith(f"round-0001.partial/candidate-{k}.partial")
        assert args[7:] == ["--model", "gpt-5-codex", "-"]
        assert entry["prompt"].startswith("You are the proposer")  # the fixed part first
        assert f"Candidate {k} of 2" in entry["prompt"] and "Round 1 of 1" in entry["prompt"]
        assert (entry["held_out"], entry["data_env"]) == ("FileNotFoundError", False)
    calls = [e for e in ledger(run) if e["event"] == "api_call"]
    assert sorted(c["candidate"] for c in calls) == [1, 2]
    for call in calls:
        assert call["tokens"] == CODEX_TOKENS and call["price_known"]
        assert call["dollars"] == pytest.approx(CODEX_DOLLARS)
    for k in (1, 2):
        folder = run / "round-0001" / f"candidate-{k}"
        assert json.loads((folder / "verdict.json").read_text())["ok"]
        transcript = json.loads((folder / "transcript.json").read_text())
        assert transcript["last_message"] == "Wrote controller.py."


def test_codex_timeout_kills_its_process_group(tmp_path, fake) -> None:
    log = fake("codex", FAKE_AGENT_MODE="hang")
    started = time.monotonic()
    assert discover(tmp_path, "slow", "--proposer", "codex", "--agent-timeout", "3") == 0
    assert time.monotonic() - started < 120
    verdict = json.loads((tmp_path / "slow/round-0001/verdict.json").read_text())
    assert verdict["errors"] == [
        "the proposer left no controller.py (timed out after 3 s (its last turn unpriced))."
    ]
    child = int(Path(str(log) + ".child").read_text())
    assert not _alive(child), "the agent's child process outlived the timeout"
    calls = [e for e in ledger(tmp_path / "slow") if e["event"] == "api_call"]
    assert [c["dollars"] for c in calls] == [0.0]


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, killed and waiting to be reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
