"""Discovery runs shared by the tests that only read them: the `openai` proposer, driven by the
real `openai` client against `MockOpenAI` on 127.0.0.1, two candidates a round.

The script covers what a Chat Completions endpoint may send: two tool calls in one message,
arguments that are not valid JSON, plain text with no tool call, a 429 and a 500 before
success, and a controller that never returns. Stores, questions, orders and betas are cut
down so that a round takes seconds.
"""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.agents.discovery.fixtures.mock_api import (
    FIXTURES,
    MALFORMED,
    MockOpenAI,
    raw_tool,
    text,
    tool,
)
from tts_gym.cli import main

needs_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None,
    reason="the CLI proposers hide the data folder with bubblewrap: apt-get install bubblewrap",
)
GOOD = (FIXTURES / "good_controller.py").read_text()
HANGS = (FIXTURES / "never_returns.py").read_text()
NARROW = ("2 + round(14 * b)", "2 + round(6 * b)")  # an edit that gives a second good controller
OPENAI_ARGS = [
    "--proposer",
    "openai",
    "--model",
    "local-coder",
    "--price-in",
    "1",
    "--price-out",
    "10",
    "--candidates",
    "2",
    "--stores",
    "autotts/qwen3-8b/aime24",
    "--questions",
    "6",
    "--orders",
    "2",
    "--betas",
    "0,1",
    "--rounds",
    "3",
    "--max-dollars",
    "10",
    "--time-limit",
    "12",  # the sweep and its replays in fresh processes, with room for a loaded machine
]


def openai_failures() -> dict[tuple[int, int, int], list[int]]:
    """A 429 before candidate 1's second reply of round 1, a 500 before candidate 2's."""
    return {(1, 1, 1): [429], (1, 2, 1): [500]}


def openai_script() -> dict[tuple[int, int], list[Any]]:
    """(round, candidate) -> replies. Round 1 accepts both, round 2 rejects both (plain text;
    a syntax error), round 3 rejects an endless loop and accepts a good controller again."""
    return {
        (1, 1): [
            [tool("write_controller", content=GOOD), tool("evaluate")],
            tool("finish", summary="v1"),
        ],
        (1, 2): [
            raw_tool("write_controller", '{"content": "class Controller'),
            tool("write_controller", content=GOOD),
            tool("edit_controller", old=NARROW[0], new=NARROW[1]),
            tool("finish", summary="narrower"),
        ],
        (2, 1): [text("I would rather describe the idea than write it.")],
        (2, 2): [
            tool("edit_controller", old="nothing", new="x"),
            tool("write_controller", content=MALFORMED),
            tool("finish", summary="v2"),
        ],
        (3, 1): [tool("write_controller", content=HANGS), tool("finish", summary="patient")],
        (3, 2): [tool("write_controller", content=GOOD), tool("finish", summary="again")],
    }


def discover_openai(runs: Path, name: str, api: MockOpenAI, *extra: str) -> int:
    return main(
        ["discover", name, "--runs-dir", str(runs), "--base-url", api.base_url]
        + OPENAI_ARGS
        + list(extra)
    )


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ledger(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "ledger.jsonl").read_text().splitlines()]


@pytest.fixture(scope="session")
def openai_reference(tmp_path_factory, shared_replay) -> tuple[Path, MockOpenAI]:
    """One uninterrupted 3-round run with two candidates a round and no API key set."""
    runs = tmp_path_factory.mktemp("openai-runs")
    with (
        MockOpenAI(openai_script(), failures=openai_failures()) as api,
        pytest.MonkeyPatch.context() as monkeypatch,
    ):
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
        assert discover_openai(runs, "full", api) == 0
    return runs / "full", api


@pytest.fixture(scope="session")
def scalar_run(tmp_path_factory, shared_replay) -> Path:
    """The ablation: one round of the same script with `--feedback scalar --free-knobs`."""
    runs = tmp_path_factory.mktemp("scalar-runs")
    with (
        MockOpenAI(openai_script(), failures={}) as api,
        pytest.MonkeyPatch.context() as monkeypatch,
    ):
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        extra = ["--feedback", "scalar", "--free-knobs", "--rounds", "1"]
        assert discover_openai(runs, "scalar", api, *extra) == 0
    return runs / "scalar"
