"""Proposers write a round's controller. Each one works in the round's folder only.

A proposer gets a `RoundTask` (the prompt, the folder, the dollars left, an `evaluate`
callback and a `record` callback for the ledger) and returns a `Proposal` (why it stopped,
what it cost, its transcript). It leaves `controller.py` in the folder, or nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tts_gym.errors import TTSGymError

PROPOSERS = ("anthropic", "claude-code")


@dataclass
class RoundTask:
    number: int
    workspace: Path  # the round's folder: controller.py goes here, history/ is readable
    system: str  # the fixed part of the prompt
    message: str  # this round's part
    dollars_left: float
    evaluate: Callable[[Path], str]  # score a draft; a short summary
    record: Callable[[dict[str, Any]], None]  # one priced response, for the ledger


@dataclass
class Proposal:
    stop_reason: str
    dollars: float = 0.0
    usage: list[dict[str, Any]] = field(default_factory=list)
    transcript: dict[str, Any] = field(default_factory=dict)


class Proposer(Protocol):
    name: str

    def reserve(self, system: str) -> float:
        """Dollars a round needs to get going; with less left the loop stops."""
        ...

    def propose(self, task: RoundTask) -> Proposal: ...


def make_proposer(name: str, *, model: str, max_turns: int, executable: str = "claude") -> Proposer:
    """The proposer called `name`; missing requirements fail here, before any round starts."""
    if name == "anthropic":
        from tts_gym_agents.discovery.proposers.anthropic_api import AnthropicProposer

        return AnthropicProposer(model=model, max_turns=max_turns)
    if name == "claude-code":
        from tts_gym_agents.discovery.proposers.claude_code import ClaudeCodeProposer

        return ClaudeCodeProposer(model=model, max_turns=max_turns, executable=executable)
    raise TTSGymError(f"unknown proposer '{name}'; use one of {', '.join(PROPOSERS)}.")
