"""A coding agent's CLI run headless in the candidate's folder (`claude-code`, `codex`).

The agent gets the message on stdin and runs in the candidate's folder, which holds only the
history copies. Its own permission system keeps its tools to reading and editing files, but
neither Claude Code nor Codex confines *reads* to the folder, so the run is wrapped in
bubblewrap (`bwrap --dev-bind / / --tmpfs DATA ...`): the data folder (where the held-out
stores live) is an empty folder in the agent's view of the disk, and `--die-with-parent`
ends it with the loop. `TTS_GYM_DATA` is left out of its environment. A wall-clock timeout
kills its whole process group. `check_cli` runs before anything is spent: the command
answers `--version`, its login holds (`auth status` / `login status`, unless a key is in the
environment), and bubblewrap can hide the data folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tts_gym_agents.discovery.proposers import ProposerSettings, RoundTask

from tts_gym.errors import TTSGymError
from tts_gym.sandbox.processes import run_group
from tts_gym.store.paths import DATA_ENV_VAR

STDERR_TAIL = 2000
CHECK_TIMEOUT = 60.0
BWRAP = "bwrap"


@dataclass(frozen=True)
class AgentRun:
    stdout: str
    stderr_tail: str
    returncode: int
    timed_out: bool


class CliProposer:
    """What the CLI agents share: their command, found when the proposer is made, the check
    before anything is spent, and a run in the candidate's folder."""

    name: str
    command: str  # its usual name on PATH
    install: str  # how to get it
    login: tuple[str, ...]  # the subcommand that exits 0 when logged in
    key_vars: tuple[str, ...]  # variables whose key makes a login unnecessary
    concurrent = True  # each candidate is its own process in its own folder

    def __init__(self, settings: ProposerSettings) -> None:
        executable = settings.executable or self.command
        found = shutil.which(executable)
        if found is None:
            raise TTSGymError(
                f"the {self.name} proposer needs the '{executable}' command on PATH "
                f"({self.install})."
            )
        self.executable = found
        self.settings = settings

    def check(self) -> None:
        check_cli(
            self.executable,
            self.name,
            list(self.login),
            self.key_vars,
            self.settings.hidden,
            self.settings.run_root,
        )

    def run(self, command: list[str], task: RoundTask, message: str) -> AgentRun:
        return run_agent(
            command,
            workspace=task.workspace,
            message=message,
            timeout=self.settings.agent_timeout,
            hidden=self.settings.hidden,
        )


def hiding(hidden: Sequence[Path]) -> list[str]:
    """The bubblewrap prefix that runs a command with the `hidden` folders empty."""
    prefix = [BWRAP, "--dev-bind", "/", "/"]
    for folder in hidden:
        prefix += ["--tmpfs", str(folder)]
    return [*prefix, "--die-with-parent", "--"]


def run_agent(
    command: list[str], *, workspace: Path, message: str, timeout: float, hidden: Sequence[Path]
) -> AgentRun:
    """Run `command` in `workspace` with `message` on stdin, the `hidden` folders hidden."""
    env = {k: v for k, v in os.environ.items() if k != DATA_ENV_VAR}
    with tempfile.TemporaryDirectory(prefix="tts-gym-agent-") as private_name:
        private = Path(private_name)
        (private / "in").write_text(message, encoding="utf-8")
        with (
            open(private / "in", "rb") as stdin,
            open(private / "out", "wb") as out,
            open(private / "err", "wb") as err,
        ):
            returncode, timed_out = run_group(
                hiding(hidden) + command,
                cwd=workspace,
                env=env,
                timeout=timeout,
                stdout=out,
                stderr=err,
                stdin=stdin,
            )
        stdout = (private / "out").read_text(encoding="utf-8", errors="replace")
        stderr = (private / "err").read_text(encoding="utf-8", errors="replace")
    return AgentRun(stdout, stderr[-STDERR_TAIL:], returncode, timed_out)


def check_cli(
    executable: str,
    proposer: str,
    login: list[str],
    key_vars: Sequence[str],
    hidden: Sequence[Path],
    run_root: Path | None,
) -> None:
    """The agent's command answers, it is logged in (or has a key), and bubblewrap works."""
    version = _quick([executable, "--version"])
    if version is None or version.returncode != 0:
        raise TTSGymError(f"'{executable} --version' failed: is it the {proposer} CLI?")
    if not any(os.environ.get(name) for name in key_vars):
        status = _quick([executable, *login])
        if status is None or status.returncode != 0:
            said = _first_line((status.stdout + status.stderr) if status else "no answer")
            raise TTSGymError(
                f"the {proposer} CLI is not logged in ('{' '.join([executable, *login])}' "
                f"says: {said}); log in or set {' or '.join(key_vars)}."
            )
    for folder in hidden:
        if run_root is not None and run_root.resolve().is_relative_to(folder):
            raise TTSGymError(
                f"the run folder {run_root} lies in the data folder {folder}, which the "
                f"{proposer} proposer must not see; put runs elsewhere (--runs-dir)."
            )
    if shutil.which(BWRAP) is None:
        raise TTSGymError(
            f"the {proposer} proposer hides the data folder from the agent with bubblewrap: "
            "install it (apt-get install bubblewrap)."
        )
    probe = _quick([*hiding(hidden), "true"])
    if probe is None or probe.returncode != 0:
        said = _first_line(probe.stderr if probe else "no answer")
        raise TTSGymError(f"bubblewrap cannot hide the data folder here: {said}")


def last_json_object(text: str) -> dict[str, Any] | None:
    """The last line of `text` that is a JSON object (else `text` as one)."""
    for line in reversed(text.strip().splitlines()):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _quick(command: list[str]) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT,
            stdin=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if k != DATA_ENV_VAR},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0][:200] if lines else "nothing"
