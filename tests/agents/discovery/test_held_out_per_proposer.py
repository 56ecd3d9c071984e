"""Held out is held out, for every proposer: each one tries to read a held-out store (by its
absolute path, and by a relative path climbing out of its folder), then writes a controller
that tries the same from inside the sandbox. The proposer's read fails (the API proposers'
tools stay in the candidate's folder; the CLI agents run with the data folder hidden) and the
sandbox rejects the controller."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tts_gym_agents.discovery.proposers import PROPOSERS

from tests.agents.conftest import HELD_OUT
from tests.agents.discovery.conftest import needs_bwrap
from tests.agents.discovery.fixtures import fake_agent
from tests.agents.discovery.fixtures.mock_api import MockAnthropic, MockOpenAI, tool
from tts_gym.cli import main
from tts_gym.store import CATALOG

READER = '''"""Reads a held-out store from inside the sandbox."""

import numpy as np


class Controller:
    def __init__(self, beta: float = 0.5) -> None:
        self.beta = beta

    def solve(self, q):
        raw = np.fromfile("{path}", dtype=np.uint8)
        return "found" if raw.size else q.read()
'''
SMALL = ["--stores", "autotts/qwen3-8b/aime24", "--questions", "2", "--orders", "1"]
SMALL += ["--betas", "0,1", "--rounds", "1", "--time-limit", "12", "--max-dollars", "5"]
CLI_NAMES = {"claude-code": "claude", "codex": "codex"}


@pytest.mark.parametrize(
    "proposer",
    [pytest.param(name, marks=needs_bwrap if name in CLI_NAMES else ()) for name in PROPOSERS],
)
def test_no_proposer_and_no_candidate_reads_a_held_out_store(
    proposer, tmp_path, monkeypatch, shared_replay
) -> None:
    held_out = shared_replay / CATALOG[HELD_OUT].relative_path
    reader = READER.format(path=held_out)
    for key in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "CODEX_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    command = ["discover", "run", "--runs-dir", str(tmp_path), "--proposer", proposer, *SMALL]
    if proposer in CLI_NAMES:
        (tmp_path / "reader.py").write_text(reader)
        folder = fake_agent.install(tmp_path / "bin", CLI_NAMES[proposer])
        monkeypatch.setenv("PATH", fake_agent.on_path(folder))
        monkeypatch.setenv("FAKE_AGENT_LOG", str(tmp_path / "agent.log"))
        monkeypatch.setenv("FAKE_AGENT_CONTROLLER", str(tmp_path / "reader.py"))
        monkeypatch.setenv("FAKE_AGENT_HELD_OUT", str(held_out))
        assert main(command) == 0
        (entry,) = [json.loads(line) for line in (tmp_path / "agent.log").read_text().splitlines()]
        assert (entry["held_out"], entry["data_env"]) == ("FileNotFoundError", False)
    else:
        climb = "../" * 16 + str(held_out).lstrip("/")
        script = {
            (1, 1): [
                [tool("read_file", path=str(held_out)), tool("read_file", path=climb)],
                tool("write_controller", content=reader),
                tool("finish", summary="read the answers"),
            ]
        }
        if proposer == "anthropic":
            server, flags = MockAnthropic(script, failures={}), []
            monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        else:
            server = MockOpenAI(script, failures={})
            flags = ["--model", "local-coder", "--price-in", "0", "--price-out", "0"]
        with server as api:
            url = api.url if proposer == "anthropic" else api.base_url
            assert main([*command, "--base-url", url, *flags]) == 0
        results = _tool_results(tmp_path / "run/round-0001/candidate-1/transcript.json")
        assert len(results) >= 2
        for path, result in zip((str(held_out), climb), results[:2], strict=True):
            assert f"'{path}' is outside your folder" in result
    verdict = json.loads((tmp_path / "run/round-0001/verdict.json").read_text())
    assert not verdict["ok"]
    assert verdict["errors"][0].startswith("the sandbox stopped it: it read")
    assert "aime25" in verdict["errors"][0]


def _tool_results(path: Path) -> list[str]:
    """The tool results of a transcript, in order, in either API's format."""
    results = []
    for message in json.loads(path.read_text())["messages"]:
        if message["role"] == "tool":
            results.append(message["content"])
        elif message["role"] == "user" and isinstance(message["content"], list):
            results += [b["content"] for b in message["content"] if b["type"] == "tool_result"]
    return results
