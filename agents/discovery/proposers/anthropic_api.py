"""The `anthropic` proposer: the Messages API with tool use, driven turn by turn.

Tools: read a file in the round's folder (history copies and the draft), write or edit the
draft `controller.py`, evaluate the draft exactly as the round will, finish. The fixed part
of the prompt (tools + system) and the conversation so far carry `cache_control`
breakpoints, so later turns and rounds read them from the prompt cache. The SDK retries 429
and 5xx responses itself (`max_retries`, honouring `retry-after`); every response's `usage`
is priced and recorded. A call starts only if the dollars left cover its worst case: the
prompt at the uncached input price plus `max_tokens` of output.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tts_gym_agents.discovery.pricing import dollars, price_of, usage_tokens
from tts_gym_agents.discovery.prompts import CONTROLLER_FILE
from tts_gym_agents.discovery.proposers import Proposal, RoundTask

from tts_gym.errors import TTSGymError, first_line

MAX_READ_CHARS = 40_000
CHARS_PER_TOKEN = 3  # a conservative estimate for the budget check (fewer chars: more tokens)
FIRST_MESSAGE_CHARS = 20_000

TOOLS: list[dict[str, Any]] = [
    {
        "name": "read_file",
        "description": (
            "Read a text file in your folder, e.g. history/round-0001/feedback.md or "
            f"{CONTROLLER_FILE}. A folder path (e.g. history) lists what it holds."
        ),
        "input_schema": {
            "type": "object",
            "properties": {"path": {"type": "string", "description": "relative path"}},
            "required": ["path"],
        },
    },
    {
        "name": "write_controller",
        "description": f"Write {CONTROLLER_FILE}, the whole file.",
        "input_schema": {
            "type": "object",
            "properties": {"content": {"type": "string"}},
            "required": ["content"],
        },
    },
    {
        "name": "edit_controller",
        "description": f"Replace one exact snippet of {CONTROLLER_FILE} that occurs exactly once.",
        "input_schema": {
            "type": "object",
            "properties": {"old": {"type": "string"}, "new": {"type": "string"}},
            "required": ["old", "new"],
        },
    },
    {
        "name": "evaluate",
        "description": (
            f"Check and score {CONTROLLER_FILE} exactly as the round will (sandbox, rules, beta "
            "sweep on the search stores); returns a short summary."
        ),
        "input_schema": {"type": "object", "properties": {}},
    },
    {
        "name": "finish",
        "description": f"End the round; {CONTROLLER_FILE} as it is now is scored.",
        "input_schema": {
            "type": "object",
            "properties": {"summary": {"type": "string", "description": "what you changed"}},
        },
    },
]


class AnthropicProposer:
    name = "anthropic"

    def __init__(
        self,
        model: str,
        max_turns: int = 20,
        max_tokens: int = 16_000,
        max_retries: int = 5,
        timeout: float = 600.0,
    ) -> None:
        try:
            import anthropic
        except ImportError:
            raise TTSGymError(
                "the anthropic proposer needs the SDK: pip install 'tts-gym[agent]'."
            ) from None
        if not (os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")):
            raise TTSGymError("set ANTHROPIC_API_KEY to use the anthropic proposer.")
        self._anthropic = anthropic
        self._client = anthropic.Anthropic(max_retries=max_retries, timeout=timeout)
        self.model = model
        self.max_turns = max_turns
        self.max_tokens = max_tokens

    def propose(self, task: RoundTask) -> Proposal:
        system = [{"type": "text", "text": task.system, "cache_control": {"type": "ephemeral"}}]
        messages: list[dict[str, Any]] = [{"role": "user", "content": task.message}]
        tools = WorkspaceTools(task.workspace, task.evaluate)
        proposal = Proposal(stop_reason="turn limit")
        responses: list[dict[str, Any]] = []
        for turn in range(self.max_turns):
            if proposal.dollars + self._worst_case(system, messages) > task.dollars_left:
                proposal.stop_reason = "dollar cap"
                break
            try:
                response = self._client.messages.create(
                    model=self.model,
                    max_tokens=self.max_tokens,
                    system=system,
                    tools=TOOLS,
                    messages=_with_breakpoint(messages),
                )
            except self._fatal_errors() as error:
                raise TTSGymError(f"the Anthropic API failed: {first_line(error)}") from None
            except self._anthropic.APIError as error:
                proposal.stop_reason = f"API error: {first_line(error)}"
                break
            usage = response.usage.model_dump()
            cost = dollars(self.model, usage)
            proposal.dollars += cost
            entry = {
                "turn": turn,
                "model": self.model,
                "tokens": usage_tokens(usage),
                "dollars": cost,
                "price_known": price_of(self.model)[1],
            }
            proposal.usage.append(entry)
            task.record(entry)
            responses.append({"id": response.id, "stop_reason": response.stop_reason})
            content = [block for block in map(_block, response.content) if block]
            messages.append({"role": "assistant", "content": content or _EMPTY})
            uses = [block for block in content if block["type"] == "tool_use"]
            if not uses:
                proposal.stop_reason = f"no tool call ({response.stop_reason})"
                break
            results = []
            for use in uses:
                text, failed = tools.run(use["name"], use["input"])
                results.append(
                    {
                        "type": "tool_result",
                        "tool_use_id": use["id"],
                        "content": text,
                        "is_error": failed,
                    }
                )
            messages.append({"role": "user", "content": results})
            if any(use["name"] == "finish" for use in uses):
                proposal.stop_reason = "finished"
                break
        proposal.transcript = {"model": self.model, "messages": messages, "responses": responses}
        return proposal

    def reserve(self, system: str) -> float:
        """The worst case of a round's first call (its message estimated at 20k characters)."""
        first = [{"role": "user", "content": "x" * FIRST_MESSAGE_CHARS}]
        return self._worst_case([{"type": "text", "text": system}], first)

    def _worst_case(self, system: list[dict], messages: list[dict]) -> float:
        prompt_chars = len(json.dumps(system)) + len(json.dumps(TOOLS)) + len(json.dumps(messages))
        price, _ = price_of(self.model)
        return (prompt_chars / CHARS_PER_TOKEN * price.input + self.max_tokens * price.output) / 1e6

    def _fatal_errors(self) -> tuple[type[Exception], ...]:
        """Errors no later round would escape (bad key, model, connection): stop the run."""
        a = self._anthropic
        return (
            a.AuthenticationError,
            a.PermissionDeniedError,
            a.NotFoundError,
            a.APIConnectionError,
        )


class WorkspaceTools:
    """The proposer's tools, confined to the round's folder."""

    def __init__(self, workspace: Path, evaluate: Any) -> None:
        self.workspace = workspace.resolve()
        self.controller = self.workspace / CONTROLLER_FILE
        self.evaluate = evaluate

    def run(self, name: str, arguments: Any) -> tuple[str, bool]:
        """(result text, whether it is an error)."""
        arguments = arguments if isinstance(arguments, dict) else {}
        try:
            if name == "read_file":
                return self._read(str(arguments.get("path", ""))), False
            if name == "write_controller":
                content = arguments.get("content")
                if not isinstance(content, str):
                    return "write_controller needs 'content', the whole file.", True
                self.controller.write_text(content, encoding="utf-8")
                return f"wrote {CONTROLLER_FILE} ({len(content.splitlines())} lines).", False
            if name == "edit_controller":
                return self._edit(arguments.get("old"), arguments.get("new"))
            if name == "evaluate":
                if not self.controller.is_file():
                    return f"there is no {CONTROLLER_FILE} yet; write it first.", True
                return self.evaluate(self.controller), False
            if name == "finish":
                return "the round ends; your controller is being scored.", False
        except OSError as error:
            return f"{name} failed: {error}", True
        return f"unknown tool '{name}'.", True

    def _read(self, relative: str) -> str:
        path = (self.workspace / relative).resolve()
        if not path.is_relative_to(self.workspace):
            raise OSError(f"'{relative}' is outside your folder; only files in it can be read")
        if path.is_dir():
            entries = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
            return "\n".join(entries) or "(empty folder)"
        text = path.read_text(encoding="utf-8", errors="replace")
        if len(text) > MAX_READ_CHARS:
            text = text[:MAX_READ_CHARS] + f"\n... ({len(text) - MAX_READ_CHARS} more characters)"
        return text

    def _edit(self, old: Any, new: Any) -> tuple[str, bool]:
        if not isinstance(old, str) or not isinstance(new, str) or not old:
            return "edit_controller needs 'old' (non-empty) and 'new'.", True
        if not self.controller.is_file():
            return f"there is no {CONTROLLER_FILE} yet; write it first.", True
        text = self.controller.read_text(encoding="utf-8")
        count = text.count(old)
        if count != 1:
            return f"'old' occurs {count} times in {CONTROLLER_FILE}; it must occur once.", True
        self.controller.write_text(text.replace(old, new), encoding="utf-8")
        return f"edited {CONTROLLER_FILE}.", False


_EMPTY = [{"type": "text", "text": "(no content)"}]


def _block(block: Any) -> dict[str, Any] | None:
    """A response content block as request JSON (only the fields the API accepts back)."""
    kind = getattr(block, "type", None)
    if kind == "text":
        return {"type": "text", "text": block.text}
    if kind == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    if kind == "thinking":
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    if kind == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.data}
    return None


def _with_breakpoint(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages with one cache breakpoint on the last block (the rest is a cached prefix)."""
    last = messages[-1]
    content = last["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    blocks[-1] = {**blocks[-1], "cache_control": {"type": "ephemeral"}}
    return [*messages[:-1], {**last, "content": blocks}]
