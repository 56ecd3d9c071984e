"""Ctrl-C, SIGTERM and kill -9 in the middle of a sandboxed run, of each command that runs
one (`check-controller`, `eval --isolate`, a `discover` round with a mock proposer): no
sandboxed process survives and no file is left in the temp folder.

The sandbox's processes die with their parent (bubblewrap's `--die-with-parent`, the PID
namespace, `PR_SET_PDEATHSIG`); its files live in a tmpfs of its mount namespace, and its
source goes over an unnamed file. SIGINT and SIGTERM interrupt the run, which removes what it
made on the way out; after a kill -9 on a machine without namespaces, the folder left behind
is removed by the next run. One signal per command runs by default, the rest with `-m slow`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.agents.discovery.fixtures.mock_api import MockAnthropic, tool
from tests.sandbox.support import small_store
from tests.support import REPO_ROOT, allow_missing_layers, default_sigint, signal_mid_run
from tts_gym.sandbox import remove_stale_folders
from tts_gym.sandbox.namespaces import missing_reason
from tts_gym.sandbox.processes import PREFIX

NEVER_RETURNS = REPO_ROOT / "tests" / "agents" / "discovery" / "fixtures" / "never_returns.py"
COMMANDS = ("check-controller", "eval --isolate", "discover")
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "kill -9": signal.SIGKILL}
DEFAULT = {("check-controller", "SIGINT"), ("eval --isolate", "SIGTERM"), ("discover", "kill -9")}
CASES = [
    pytest.param(command, name, marks=() if (command, name) in DEFAULT else pytest.mark.slow)
    for command in COMMANDS
    for name in SIGNALS
]
# Ctrl-C while two discovery candidates run their controllers at once
CASES.append(pytest.param("discover --candidates 2", "SIGINT", marks=pytest.mark.slow))


def arguments(command: str, store: Path, runs: Path) -> list[str]:
    spec = f"{NEVER_RETURNS}:Controller"
    quick = ["--stores", str(store), "--orders", "1", *allow_missing_layers()]
    if command == "check-controller":
        return ["check-controller", spec, *quick, "--questions", "2", "--time-limit", "120"]
    if command == "eval --isolate":
        return ["eval", "--isolate", "--policy", spec, *quick, "--no-baselines"]
    candidates = ["--candidates", "2"] if command.endswith("--candidates 2") else []
    return ["discover", "run", "--runs-dir", str(runs), *quick, "--questions", "2", *candidates,
            "--rounds"]  # fmt: skip


@pytest.mark.parametrize(("command", "name"), CASES)
def test_a_signal_mid_run_leaves_no_process_and_no_file(tmp_path, command: str, name: str):
    temp = tmp_path / "temp"
    temp.mkdir()
    store = small_store(tmp_path).path
    args = arguments(command, store, tmp_path / "runs")
    if command.startswith("discover"):  # round 1 writes a controller that never returns, runs it
        args += ["1", "--time-limit", "120"]
    never = tool("write_controller", content=NEVER_RETURNS.read_text())
    script = {(1, c): [never, tool("evaluate")] for c in (1, 2)}  # round 1, candidates 1 and 2
    with MockAnthropic(script=script) as api:
        env = {**os.environ, "TMPDIR": str(temp), "ANTHROPIC_BASE_URL": api.url}
        env["ANTHROPIC_API_KEY"] = "test-key"
        owner = subprocess.Popen(
            [sys.executable, "-m", "tts_gym.cli", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=default_sigint,  # Ctrl-C's own action, as in a terminal
        )
        signal_mid_run(owner, SIGNALS[name], sandboxes=2 if "--candidates" in args else 1)
    left = list(temp.iterdir())
    if name != "kill -9":
        assert owner.returncode == 130, owner.stderr.read()
        assert owner.stderr.read().endswith("interrupted.\n")
    if name == "kill -9" and missing_reason() is not None:  # a folder of its own: removed next
        assert [folder.name.startswith(PREFIX) for folder in left] == [True]
        assert remove_stale_folders(temp) == left
    else:
        assert left == []
