"""The API proposers' one tool loop; each API is a `Wire` (its request and reply format).

Tools: read a file in the candidate's folder (history copies and the draft), write or edit the
draft `controller.py`, evaluate the draft exactly as the round will, finish. A reply may call
several tools at once (parallel tool calls); they run in order and each gets its result. A
call whose arguments cannot be read (not JSON, not an object) gets an error result, and the
conversation goes on. Every reply's usage is priced and recorded; a reply without usage is
recorded with tokens estimated from its characters (and says so). A call starts only if the
round's budget covers its worst case: the prompt at the uncached input price plus
`max_tokens` of output.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, TypeVar

from tts_gym_agents.discovery.pricing import Price, dollars
from tts_gym_agents.discovery.prompts import CONTROLLER_FILE
from tts_gym_agents.discovery.proposers import Proposal, ProposerSettings, RoundTask

from tts_gym.errors import TTSGymError, first_line

T = TypeVar("T")

MAX_READ_CHARS = 40_000
CHARS_PER_TOKEN = 3  # a conservative estimate for budgets (fewer chars per token: more tokens)
FIRST_MESSAGE_CHARS = 20_000


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "read_file",
        "Read a text file in your folder, e.g. history/round-0001/feedback.md or "
        f"{CONTROLLER_FILE}. A folder path (e.g. history) lists what it holds.",
        {
            "type": "object",
            "properties": {"path": {"type": "string", "description": "relative path"}},
            "required": ["path"],
        },
    ),
    ToolSpec(
        "write_controller",
        f"Write {CONTROLLER_FILE}, the whole file.",
        {"type": "object", "properties": {"content": {"type": "string"}}, "required": ["content"]},
    ),
    ToolSpec(
        "edit_controller",
        f"Replace one exact snippet of {CONTROLLER_FILE} that occurs exactly once.",
        {
            "type": "object",
            "properties": {"old": {"type": "string"}, "new": {"type": "string"}},
            "required": ["old", "new"],
        },
    ),
    ToolSpec(
        "evaluate",
        f"Check and score {CONTROLLER_FILE} exactly as the round will (sandbox, rules, beta "
        "sweep on the search stores); returns a short summary.",
        {"type": "object", "properties": {}},
    ),
    ToolSpec(
        "finish",
        f"End the round; {CONTROLLER_FILE} as it is now is scored.",
        {
            "type": "object",
            "properties": {"summary": {"type": "string", "description": "what you changed"}},
        },
    ),
)


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]
    problem: str | None = None  # why the arguments could not be read


@dataclass(frozen=True)
class Reply:
    id: str
    stop: str  # the API's stop or finish reason
    message: dict[str, Any]  # the assistant message, as the API takes it back
    calls: list[ToolCall]
    tokens: dict[str, int] | None  # None: the reply reported no usage


class StopCandidate(Exception):
    """An API error that ends this candidate's conversation but not the run."""


class Wire(Protocol):
    """One API's request and reply format. `send` raises `TTSGymError` for what no later call
    would escape (a bad key or model, no connection) and `StopCandidate` for the rest."""

    tools: list[dict[str, Any]]  # `TOOLS` in the API's format

    def check(self) -> None: ...  # the endpoint, credentials and model (spends nothing)

    def send(self, system: str, messages: list[dict[str, Any]], max_tokens: int) -> Reply: ...

    def results(
        self, outcomes: list[tuple[ToolCall, str, bool]]
    ) -> list[dict[str, Any]]: ...  # messages carrying (call, text, is_error) back


def import_sdk(module: str, proposer: str) -> ModuleType:
    """An API's SDK (both are in the `agent` extra)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise TTSGymError(
            f"the {proposer} proposer needs the SDK: pip install 'tts-gym[agent]'."
        ) from None


def fatal_errors(sdk: ModuleType) -> tuple[type[Exception], ...]:
    """Errors no later call would escape (bad key, model, no connection): they stop the run.
    Both SDKs are generated alike and name them alike."""
    return (
        sdk.AuthenticationError,
        sdk.PermissionDeniedError,
        sdk.NotFoundError,
        sdk.APIConnectionError,
    )


def ask(sdk: ModuleType, where: str, request: Callable[[], T]) -> T:
    """`request()` with the SDK's errors sorted: a fatal one is a sentence that stops the run,
    any other (after the SDK's own retries) ends this candidate."""
    try:
        return request()
    except fatal_errors(sdk) as error:
        raise TTSGymError(f"{where} failed: {first_line(error)}") from None
    except sdk.APIError as error:
        raise StopCandidate(first_line(error)) from None


def check_endpoint(
    sdk: ModuleType, where: str, request: Callable[[], T], key: str, not_found: str | None
) -> T | None:
    """`request()` as a check before anything is spent: each failure one sentence. A 404 is
    `not_found`'s sentence, or None (nothing to say) when `not_found` is None."""
    try:
        return request()
    except sdk.AuthenticationError:
        raise TTSGymError(f"{where} refused the key{key} (authentication failed).") from None
    except sdk.PermissionDeniedError as error:
        raise TTSGymError(f"{where} denied access: {first_line(error)}") from None
    except sdk.NotFoundError:
        if not_found is None:
            return None
        raise TTSGymError(not_found) from None
    except sdk.APIConnectionError as error:
        raise TTSGymError(f"cannot reach {where} ({first_line(error)}).") from None
    except sdk.APIError as error:
        raise TTSGymError(f"{where} failed the check: {first_line(error)}") from None


class ToolLoopProposer:
    """A proposer that converses with an API through `wire`, turn by turn."""

    concurrent = True  # candidates are independent conversations

    def __init__(
        self, name: str, wire: Wire, settings: ProposerSettings, price: Price, price_known: bool
    ) -> None:
        self.name = name
        self.wire = wire
        self.model = settings.model
        self.price = price
        self.price_known = price_known
        self.max_turns = settings.max_turns
        self.max_tokens = settings.max_tokens

    def check(self) -> None:
        self.wire.check()

    def reserve(self, system: str) -> float:
        """The worst case of a round's first call (its message estimated at 20k characters)."""
        return self._worst_case(system, [{"role": "user", "content": "x" * FIRST_MESSAGE_CHARS}])

    def propose(self, task: RoundTask) -> Proposal:
        messages: list[dict[str, Any]] = [{"role": "user", "content": task.message}]
        tools = WorkspaceTools(task.workspace, task.evaluate)
        proposal = Proposal(stop_reason="turn limit")
        responses: list[dict[str, Any]] = []
        for turn in range(self.max_turns):
            worst = self._worst_case(task.system, messages)
            if not task.budget.reserve(worst):
                proposal.stop_reason = "dollar cap"
                break
            try:
                reply = self.wire.send(task.system, messages, self.max_tokens)
            except StopCandidate as error:
                task.budget.settle(worst, 0.0)
                proposal.stop_reason = f"API error: {error}"
                break
            except BaseException:
                task.budget.settle(worst, 0.0)
                raise
            tokens, estimated = reply.tokens, reply.tokens is None
            if tokens is None:
                tokens = {
                    "input": self._prompt_chars(task.system, messages) // CHARS_PER_TOKEN,
                    "output": len(json.dumps(reply.message)) // CHARS_PER_TOKEN,
                }
            cost = dollars(self.price, tokens)
            task.budget.settle(worst, cost)
            proposal.dollars += cost
            entry = {
                "turn": turn,
                "model": self.model,
                "tokens": tokens,
                "dollars": cost,
                "price_known": self.price_known,
            }
            if estimated:
                entry["tokens_estimated"] = True
            proposal.usage.append(entry)
            task.record(entry)
            responses.append({"id": reply.id, "stop_reason": reply.stop})
            messages.append(reply.message)
            if not reply.calls:
                proposal.stop_reason = f"no tool call ({reply.stop})"
                break
            outcomes = [(call, *tools.run(call)) for call in reply.calls]
            messages.extend(self.wire.results(outcomes))
            if any(call.name == "finish" for call in reply.calls):
                proposal.stop_reason = "finished"
                break
        proposal.transcript = {"model": self.model, "messages": messages, "responses": responses}
        return proposal

    def _prompt_chars(self, system: str, messages: list[dict[str, Any]]) -> int:
        return len(system) + len(json.dumps(self.wire.tools)) + len(json.dumps(messages))

    def _worst_case(self, system: str, messages: list[dict[str, Any]]) -> float:
        prompt = self._prompt_chars(system, messages) / CHARS_PER_TOKEN
        return (prompt * self.price.input + self.max_tokens * self.price.output) / 1e6


class WorkspaceTools:
    """The proposer's tools, confined to the candidate's folder."""

    def __init__(self, workspace: Path, evaluate: Callable[[Path], str]) -> None:
        self.workspace = workspace.resolve()
        self.controller = self.workspace / CONTROLLER_FILE
        self.evaluate = evaluate

    def run(self, call: ToolCall) -> tuple[str, bool]:
        """(result text, whether it is an error)."""
        if call.problem is not None:
            return f"{call.name}: {call.problem}; nothing was done.", True
        arguments = call.arguments
        try:
            if call.name == "read_file":
                return self._read(str(arguments.get("path", ""))), False
            if call.name == "write_controller":
                content = arguments.get("content")
                if not isinstance(content, str):
                    return "write_controller needs 'content', the whole file.", True
                self.controller.write_text(content, encoding="utf-8")
                return f"wrote {CONTROLLER_FILE} ({len(content.splitlines())} lines).", False
            if call.name == "edit_controller":
                return self._edit(arguments.get("old"), arguments.get("new"))
            if call.name == "evaluate":
                if not self.controller.is_file():
                    return f"there is no {CONTROLLER_FILE} yet; write it first.", True
                return self.evaluate(self.controller), False
            if call.name == "finish":
                return "the round ends; your controller is being scored.", False
        except OSError as error:
            return f"{call.name} failed: {error}", True
        return f"unknown tool '{call.name}'.", True

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
