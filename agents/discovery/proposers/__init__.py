"""Proposers write a round's controller. Each one works in its candidate's folder only.

A proposer gets a `RoundTask` (the prompt, the folder, the round's shared dollar `Budget`, an
`evaluate` callback and a `record` callback for the ledger) and returns a `Proposal` (why it
stopped, what it cost, its transcript). It leaves `controller.py` in the folder, or nothing.

- `anthropic`: the Messages API with tool use (`anthropic_api`);
- `openai`: any OpenAI-compatible Chat Completions endpoint with tool calling (`openai_api`);
  both run the one tool loop of `tools` and differ only in the wire format;
- `claude-code`, `codex`: a coding agent's CLI run headless in the folder (`cli_agent`), with
  the data folder hidden from it.

`check()` asks the endpoint (credentials, model, reachability) before anything is spent or
written: the loop calls it before the baselines are scored and before a round folder exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tts_gym_agents.discovery.pricing import Budget

from tts_gym.errors import TTSGymError

PROPOSERS = ("anthropic", "openai", "claude-code", "codex")
DEFAULT_MODELS = {
    "anthropic": "claude-sonnet-4-6",
    "openai": "gpt-5",
    "claude-code": "claude-sonnet-4-6",
    "codex": "gpt-5-codex",
}


@dataclass(frozen=True)
class ProposerSettings:
    """What makes a proposer: the run's settings that concern it."""

    name: str
    model: str
    max_turns: int = 20
    max_tokens: int = 16_000  # output tokens per API call
    base_url: str | None = None
    api_key_env: str | None = None  # None: the SDK's own variable
    price_in: float | None = None
    price_out: float | None = None
    executable: str | None = None  # a CLI agent's command; None: its usual name
    agent_timeout: float = 1800.0  # wall seconds of a CLI agent's run
    hidden: tuple[Path, ...] = ()  # folders a CLI agent must not see (the data folder)
    run_root: Path | None = None  # the run folder (a CLI agent's folders lie in it)


@dataclass
class RoundTask:
    number: int
    workspace: Path  # the candidate's folder: controller.py goes here, history/ is readable
    system: str  # the fixed part of the prompt
    message: str  # this round's part
    budget: Budget  # the dollars the round may still spend, shared by its candidates
    evaluate: Callable[[Path], str]  # score a draft; a short summary
    record: Callable[[dict[str, Any]], None]  # one priced response, for the ledger
    candidate: int = 1
    portion: float = float("inf")  # what a budget-taking agent may plan on: the dollars left
    # when the round's candidates started, split evenly among them


@dataclass
class Proposal:
    stop_reason: str
    dollars: float = 0.0
    usage: list[dict[str, Any]] = field(default_factory=list)
    transcript: dict[str, Any] = field(default_factory=dict)


class Proposer(Protocol):
    name: str
    concurrent: bool  # whether a round's candidates may run at the same time

    def check(self) -> None:
        """Ask the endpoint whether a round could start (key, model, reachable); a sentence
        (`TTSGymError`) if not. Spends nothing."""
        ...

    def reserve(self, system: str) -> float:
        """Dollars a round needs to get going; with less left the loop stops."""
        ...

    def propose(self, task: RoundTask) -> Proposal: ...


def make_proposer(settings: ProposerSettings) -> Proposer:
    """The proposer `settings` name; missing requirements fail here, before any round."""
    if settings.name == "anthropic":
        from tts_gym_agents.discovery.proposers.anthropic_api import anthropic_proposer

        return anthropic_proposer(settings)
    if settings.name == "openai":
        from tts_gym_agents.discovery.proposers.openai_api import openai_proposer

        return openai_proposer(settings)
    if settings.name == "claude-code":
        from tts_gym_agents.discovery.proposers.claude_code import ClaudeCodeProposer

        return ClaudeCodeProposer(settings)
    if settings.name == "codex":
        from tts_gym_agents.discovery.proposers.codex import CodexProposer

        return CodexProposer(settings)
    raise TTSGymError(f"unknown proposer '{settings.name}'; use one of {', '.join(PROPOSERS)}.")
