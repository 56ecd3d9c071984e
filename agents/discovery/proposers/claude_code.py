"""The `claude-code` proposer: Claude Code headless in the round's folder.

Runs `claude -p --output-format json` with the round's message on stdin and the fixed part
appended to Claude Code's system prompt, tools limited to reading and editing files (no
shell, no web), `--max-budget-usd` set to the dollars left and a wall-clock timeout that
kills the whole process group. Its reported `total_cost_usd` is recorded; a run cut off by
the timeout reports no cost, which is then recorded as unknown (0).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from tts_gym_agents.discovery.proposers import Proposal, RoundTask

from tts_gym.errors import TTSGymError
from tts_gym.sandbox.processes import run_group

ALLOWED_TOOLS = "Read,Edit,Write,Glob,Grep"
DISALLOWED_TOOLS = "Bash,WebFetch,WebSearch,Task,NotebookEdit"
STDERR_TAIL = 2000
MIN_BUDGET = 0.01


class ClaudeCodeProposer:
    name = "claude-code"

    def __init__(
        self, model: str, max_turns: int = 30, executable: str = "claude", timeout: float = 1800.0
    ) -> None:
        found = shutil.which(executable)
        if found is None:
            raise TTSGymError(
                f"the claude-code proposer needs Claude Code's '{executable}' command on PATH "
                "(npm install -g @anthropic-ai/claude-code)."
            )
        self.executable = found
        self.model = model
        self.max_turns = max_turns
        self.timeout = timeout

    def reserve(self, system: str) -> float:
        """`--max-budget-usd` takes cents: a round needs at least one."""
        return MIN_BUDGET

    def propose(self, task: RoundTask) -> Proposal:
        budget = math.floor(task.dollars_left * 100) / 100
        if budget < MIN_BUDGET:
            return Proposal(stop_reason="dollar cap")
        command = [
            self.executable,
            "-p",
            "--output-format",
            "json",
            "--model",
            self.model,
            "--max-turns",
            str(self.max_turns),
            "--max-budget-usd",
            f"{budget:.2f}",
            "--allowedTools",
            ALLOWED_TOOLS,
            "--disallowedTools",
            DISALLOWED_TOOLS,
            "--permission-mode",
            "acceptEdits",
            "--append-system-prompt",
            task.system,
        ]
        env = {k: v for k, v in os.environ.items() if k != "TTS_GYM_DATA"}
        with tempfile.TemporaryDirectory(prefix="tts-gym-claude-") as private_name:
            private = Path(private_name)
            (private / "in").write_text(task.message, encoding="utf-8")
            with (
                open(private / "in", "rb") as stdin,
                open(private / "out", "wb") as out,
                open(private / "err", "wb") as err,
            ):
                returncode, timed_out = run_group(
                    command,
                    cwd=task.workspace,
                    env=env,
                    timeout=self.timeout,
                    stdout=out,
                    stderr=err,
                    stdin=stdin,
                )
            stdout = (private / "out").read_text(encoding="utf-8", errors="replace")
            stderr = (private / "err").read_text(encoding="utf-8", errors="replace")[-STDERR_TAIL:]
        result = _last_json_object(stdout)
        transcript = {
            "command": command[:-1] + ["<system prompt>"],
            "result": result,
            "returncode": returncode,
            "stderr_tail": stderr,
        }
        if timed_out:
            reason = f"timed out after {self.timeout:g} s (cost unknown)"
        elif result is None:
            reason = f"no JSON result (exit status {returncode})"
        else:
            reason = str(result.get("subtype") or "done")
            if result.get("is_error"):
                reason = f"error: {reason}"
        cost = float((result or {}).get("total_cost_usd") or 0.0)
        entry = {
            "model": self.model,
            "dollars": cost,
            "usage": (result or {}).get("usage"),
            "turns": (result or {}).get("num_turns"),
        }
        task.record(entry)
        return Proposal(stop_reason=reason, dollars=cost, usage=[entry], transcript=transcript)


def _last_json_object(text: str) -> dict[str, Any] | None:
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
