"""The `codex` proposer: OpenAI's Codex CLI headless in the candidate's folder.

Runs `codex exec --json --skip-git-repo-check --sandbox workspace-write --cd FOLDER --model M -`
(through `cli_agent.run_agent`: the data folder hidden, a timeout that kills its process
group). The prompt (the fixed part, then the round's message) goes on stdin (`-`). Codex's
`workspace-write` sandbox lets its commands write only in the folder, with no network; its
reads are not confined, which is what the hidden data folder is for. `--json` streams JSONL
events; each `turn.completed` carries `usage` (`input_tokens`, of which
`cached_input_tokens`, and `output_tokens`), priced here like the `openai` proposer's (the
table, or `--price-in/--price-out`). Codex reports no dollars and takes no budget, so the
dollar cap can only refuse to start it: the timeout is what bounds one run.
"""

from __future__ import annotations

import json
from typing import Any

from tts_gym_agents.discovery.pricing import dollars, openai_tokens, resolve_price
from tts_gym_agents.discovery.proposers import Proposal, ProposerSettings, RoundTask
from tts_gym_agents.discovery.proposers.cli_agent import CliProposer

MIN_LEFT = 0.01


class CodexProposer(CliProposer):
    name = "codex"
    command = "codex"
    install = "npm install -g @openai/codex"
    login = ("login", "status")
    key_vars = ("CODEX_API_KEY", "OPENAI_API_KEY")

    def __init__(self, settings: ProposerSettings) -> None:
        super().__init__(settings)
        self.price, self.price_known = resolve_price(
            settings.model, settings.price_in, settings.price_out, fallback=False
        )

    def reserve(self, system: str) -> float:
        return MIN_LEFT

    def propose(self, task: RoundTask) -> Proposal:
        if task.budget.left() < MIN_LEFT:
            return Proposal(stop_reason="dollar cap")
        command = [
            self.executable,
            "exec",
            "--json",
            "--skip-git-repo-check",
            "--sandbox",
            "workspace-write",
            "--cd",
            str(task.workspace),
            "--model",
            self.settings.model,
            "-",
        ]
        run = self.run(command, task, task.system + "\n\n" + task.message)
        events = _events(run.stdout)
        usage = [e.get("usage") for e in events if e.get("type") == "turn.completed"]
        tokens = openai_tokens(
            sum(_count(u, "input_tokens") for u in usage),
            sum(_count(u, "cached_input_tokens") for u in usage),
            sum(_count(u, "output_tokens") for u in usage),
        )
        cost = dollars(self.price, tokens)
        task.budget.settle(0.0, cost)
        failures = [e for e in events if e.get("type") in ("turn.failed", "error")]
        if run.timed_out:
            reason = f"timed out after {self.settings.agent_timeout:g} s (its last turn unpriced)"
        elif failures:
            reason = f"error: {_failure(failures[-1])}"
        elif not usage:
            reason = f"no completed turn (exit status {run.returncode})"
        else:
            reason = "done"
        entry = {
            "model": self.settings.model,
            "tokens": tokens,
            "dollars": cost,
            "price_known": self.price_known,
            "turns": len(usage),
        }
        task.record(entry)
        messages = [
            e["item"].get("text")
            for e in events
            if e.get("type") == "item.completed"
            and isinstance(e.get("item"), dict)
            and e["item"].get("type") == "agent_message"
        ]
        transcript = {
            "command": command,
            "events": events,
            "last_message": messages[-1] if messages else None,
            "returncode": run.returncode,
            "stderr_tail": run.stderr_tail,
        }
        return Proposal(stop_reason=reason, dollars=cost, usage=[entry], transcript=transcript)


def _events(stdout: str) -> list[dict[str, Any]]:
    events = []
    for line in stdout.splitlines():
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            events.append(value)
    return events


def _count(usage: Any, key: str) -> int:
    value = usage.get(key) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _failure(event: dict[str, Any]) -> str:
    error = event.get("error")
    text = error.get("message") if isinstance(error, dict) else event.get("message")
    return str(text or event.get("type"))[:200]
