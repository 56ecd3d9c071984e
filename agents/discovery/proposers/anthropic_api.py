"""The `anthropic` proposer: the Messages API with tool use, through the shared tool loop.

The fixed part of the prompt (tools + system) and the conversation so far carry
`cache_control` breakpoints, so later turns and rounds read them from the prompt cache. The
SDK retries 429 and 5xx responses itself (`max_retries`, honouring `retry-after`). The
endpoint is `--base-url` (else the SDK's `ANTHROPIC_BASE_URL`, else Anthropic's), the key the
variable `--api-key-env` names (else the SDK's `ANTHROPIC_API_KEY` or `ANTHROPIC_AUTH_TOKEN`).
`check()` retrieves the model (`GET /v1/models/{model}`): a bad key, an unknown model or an
unreachable endpoint is a sentence before anything is spent.
"""

from __future__ import annotations

import os
from typing import Any

from tts_gym_agents.discovery.pricing import anthropic_tokens, resolve_price
from tts_gym_agents.discovery.proposers import ProposerSettings
from tts_gym_agents.discovery.proposers.tools import (
    TOOLS,
    Reply,
    ToolCall,
    ToolLoopProposer,
    ask,
    check_endpoint,
    import_sdk,
)

from tts_gym.errors import TTSGymError

MAX_RETRIES = 5
TIMEOUT = 600.0
CHECK_TIMEOUT = 30.0


def anthropic_proposer(settings: ProposerSettings) -> ToolLoopProposer:
    price, known = resolve_price(
        settings.model, settings.price_in, settings.price_out, fallback=True
    )
    wire = AnthropicWire(import_sdk("anthropic", "anthropic"), settings)
    return ToolLoopProposer("anthropic", wire, settings, price, known)


class AnthropicWire:
    """Requests and replies of the Messages API."""

    tools = [
        {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}
        for tool in TOOLS
    ]

    def __init__(self, anthropic: Any, settings: ProposerSettings) -> None:
        if settings.api_key_env is not None:
            key = os.environ.get(settings.api_key_env)
            if not key:
                raise TTSGymError(f"set {settings.api_key_env} to use the anthropic proposer.")
            options: dict[str, Any] = {"api_key": key}
        elif os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN"):
            options = {}
        else:
            raise TTSGymError("set ANTHROPIC_API_KEY to use the anthropic proposer.")
        if settings.base_url is not None:
            options["base_url"] = settings.base_url
        self._anthropic = anthropic
        self._client = anthropic.Anthropic(max_retries=MAX_RETRIES, timeout=TIMEOUT, **options)
        self.model = settings.model

    @property
    def where(self) -> str:
        return f"the Anthropic API at {self._client.base_url}"

    def check(self) -> None:
        client = self._client.with_options(max_retries=1, timeout=CHECK_TIMEOUT)
        missing = f"{self.where} has no model '{self.model}'."
        check_endpoint(
            self._anthropic, self.where, lambda: client.models.retrieve(self.model), "", missing
        )

    def send(self, system: str, messages: list[dict[str, Any]], max_tokens: int) -> Reply:
        response = ask(
            self._anthropic,
            self.where,
            lambda: self._client.messages.create(
                model=self.model,
                max_tokens=max_tokens,
                system=[{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
                tools=self.tools,
                messages=_with_breakpoint(messages),
            ),
        )
        content = [block for block in map(_block, response.content) if block]
        calls = [
            ToolCall(block["id"], block["name"], block["input"])
            if isinstance(block["input"], dict)
            else ToolCall(block["id"], block["name"], {}, "its input is not a JSON object")
            for block in content
            if block["type"] == "tool_use"
        ]
        return Reply(
            response.id,
            str(response.stop_reason),
            {"role": "assistant", "content": content or _EMPTY},
            calls,
            anthropic_tokens(response.usage.model_dump()),
        )

    def results(self, outcomes: list[tuple[ToolCall, str, bool]]) -> list[dict[str, Any]]:
        """One user message with a `tool_result` block per call."""
        blocks = [
            {"type": "tool_result", "tool_use_id": call.id, "content": text, "is_error": failed}
            for call, text, failed in outcomes
        ]
        return [{"role": "user", "content": blocks}]


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
