"""The `claude-code` proposer: Claude Code headless in the candidate's folder.

Runs `claude -p --output-format json` (through `cli_agent.run_agent`: the data folder hidden,
a timeout that kills its process group) with the round's message on stdin and the fixed part
appended to Claude Code's system prompt, tools limited to reading and editing files (no
shell, no web) and `--max-budget-usd` set to its share of the dollars left. Its reported
`total_cost_usd` is recorded; a run cut off by the timeout reports no cost, which is then
recorded as unknown (0, `cost_known: false`).
"""

from __future__ import annotations

import math

from tts_gym_agents.discovery.pricing import is_amount
from tts_gym_agents.discovery.proposers import Proposal, RoundTask
from tts_gym_agents.discovery.proposers.cli_agent import CliProposer, last_json_object

ALLOWED_TOOLS = "Read,Edit,Write,Glob,Grep"
DISALLOWED_TOOLS = "Bash,WebFetch,WebSearch,Task,NotebookEdit"
MIN_BUDGET = 0.01


class ClaudeCodeProposer(CliProposer):
    name = "claude-code"
    command = "claude"
    install = "npm install -g @anthropic-ai/claude-code"
    login = ("auth", "status")
    key_vars = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")

    def reserve(self, system: str) -> float:
        """`--max-budget-usd` takes cents: a round needs at least one."""
        return MIN_BUDGET

    def propose(self, task: RoundTask) -> Proposal:
        budget = math.floor(min(task.portion, task.budget.left()) * 100) / 100
        if budget < MIN_BUDGET or not task.budget.reserve(budget):
            return Proposal(stop_reason="dollar cap")
        command = [
            self.executable,
            "-p",
            "--output-format",
            "json",
            "--model",
            self.settings.model,
            "--max-turns",
            str(self.settings.max_turns),
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
        run = self.run(command, task, task.message)
        result = last_json_object(run.stdout)
        if run.timed_out:
            reason = f"timed out after {self.settings.agent_timeout:g} s (cost unknown)"
        elif result is None:
            reason = f"no JSON result (exit status {run.returncode})"
        else:
            reason = str(result.get("subtype") or "done")
            if result.get("is_error"):
                reason = f"error: {reason}"
        reported = (result or {}).get("total_cost_usd")
        known = is_amount(reported)
        cost = float(reported) if known else 0.0
        task.budget.settle(budget, cost)
        entry = {
            "model": self.settings.model,
            "dollars": cost,
            "cost_known": known,
            "usage": (result or {}).get("usage"),
            "turns": (result or {}).get("num_turns"),
        }
        task.record(entry)
        transcript = {
            "command": command[:-1] + ["<system prompt>"],
            "result": result,
            "returncode": run.returncode,
            "stderr_tail": run.stderr_tail,
        }
        return Proposal(stop_reason=reason, dollars=cost, usage=[entry], transcript=transcript)
