"""The `openai` proposer: any OpenAI-compatible Chat Completions endpoint with tool calling.

The same tools, turn limit, retries, usage records and dollar cap as the `anthropic`
proposer (the shared loop of `tools`); only the wire differs. It covers OpenAI itself, vLLM's
and SGLang's servers (`vllm serve MODEL --enable-auto-tool-choice --tool-call-parser ...`),
Ollama and the other compatible hosts:

- endpoint: `--base-url` (e.g. `http://127.0.0.1:8000/v1`), else the SDK's `OPENAI_BASE_URL`,
  else OpenAI's; key: the variable `--api-key-env` names (default `OPENAI_API_KEY`). A local
  endpoint may need none: without the variable, a `--base-url` run sends a placeholder key.
- a reply may call several tools at once (`tool_calls`); each gets its own `tool` message.
  Arguments that are not a JSON object are answered with an error, and the talk goes on.
- usage: `prompt_tokens` (its `cached_tokens` priced as cache reads) and `completion_tokens`;
  a server that reports none is priced on an estimate from characters.
- output limit: `max_completion_tokens` for OpenAI itself (its reasoning models refuse
  `max_tokens`), `max_tokens` elsewhere (what every compatible server takes).
- the SDK retries 429 and 5xx itself (honouring `retry-after-ms` / `retry-after`).
- prices: the table's for OpenAI's models, else `--price-in/--price-out` (required).

`check()` lists the endpoint's models (`GET /models`): a refused key, a model the endpoint
does not serve or an endpoint that does not answer is a sentence before anything is spent.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import urlparse

from tts_gym_agents.discovery.pricing import openai_tokens, resolve_price
from tts_gym_agents.discovery.proposers import ProposerSettings
from tts_gym_agents.discovery.proposers.tools import (
    TOOLS,
    Reply,
    StopCandidate,
    ToolCall,
    ToolLoopProposer,
    ask,
    check_endpoint,
    import_sdk,
)

from tts_gym.errors import TTSGymError

DEFAULT_KEY_ENV = "OPENAI_API_KEY"
PLACEHOLDER_KEY = "none"  # local servers started without --api-key ignore the key
OPENAI_HOST = "api.openai.com"
MAX_RETRIES = 5
TIMEOUT = 600.0
CHECK_TIMEOUT = 30.0
MODELS_SHOWN = 8


def openai_proposer(settings: ProposerSettings) -> ToolLoopProposer:
    price, known = resolve_price(
        settings.model, settings.price_in, settings.price_out, fallback=False
    )
    wire = OpenAIWire(import_sdk("openai", "openai"), settings)
    return ToolLoopProposer("openai", wire, settings, price, known)


class OpenAIWire:
    """Requests and replies of the Chat Completions API."""

    tools = [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
            },
        }
        for tool in TOOLS
    ]

    def __init__(self, openai: Any, settings: ProposerSettings) -> None:
        env = settings.api_key_env or DEFAULT_KEY_ENV
        base_url = settings.base_url or os.environ.get("OPENAI_BASE_URL") or None
        key = os.environ.get(env)
        if not key:
            if base_url is None:
                raise TTSGymError(f"set {env} to use the openai proposer with OpenAI's API.")
            key = PLACEHOLDER_KEY
        self._openai = openai
        self._client = openai.OpenAI(
            api_key=key, base_url=base_url, max_retries=MAX_RETRIES, timeout=TIMEOUT
        )
        self.model = settings.model
        self.key_env = env
        host = urlparse(str(self._client.base_url)).hostname or ""
        self._limit_name = "max_completion_tokens" if host == OPENAI_HOST else "max_tokens"

    @property
    def where(self) -> str:
        return f"the endpoint {self._client.base_url}"

    def check(self) -> None:
        client = self._client.with_options(max_retries=1, timeout=CHECK_TIMEOUT)
        listed = check_endpoint(  # None: the endpoint lists no models, the first call will tell
            self._openai,
            self.where,
            lambda: [model.id for model in client.models.list()],
            f" in {self.key_env}",
            None,
        )
        if listed and self.model not in listed:
            shown = ", ".join(listed[:MODELS_SHOWN]) + (", ..." if listed[MODELS_SHOWN:] else "")
            raise TTSGymError(
                f"{self.where} does not serve the model '{self.model}' (it serves {shown})."
            )

    def send(self, system: str, messages: list[dict[str, Any]], max_tokens: int) -> Reply:
        response = ask(
            self._openai,
            self.where,
            lambda: self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": system}, *messages],
                tools=self.tools,
                **{self._limit_name: max_tokens},
            ),
        )
        if not response.choices:
            raise StopCandidate("the reply has no choices")
        choice = response.choices[0]
        message = choice.message
        calls = [
            _tool_call(call, f"call_{response.id}_{i}")
            for i, call in enumerate(message.tool_calls or [])
        ]
        assistant: dict[str, Any] = {"role": "assistant", "content": message.content or ""}
        if calls:
            assistant["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": raw.function.arguments or ""},
                }
                for call, raw in zip(calls, message.tool_calls or [], strict=True)
            ]
        usage = response.usage
        tokens = None
        if usage is not None:
            details = usage.prompt_tokens_details
            cached = (details.cached_tokens or 0) if details is not None else 0
            tokens = openai_tokens(usage.prompt_tokens or 0, cached, usage.completion_tokens or 0)
        return Reply(response.id or "", str(choice.finish_reason), assistant, calls, tokens)

    def results(self, outcomes: list[tuple[ToolCall, str, bool]]) -> list[dict[str, Any]]:
        """A `tool` message per call (the API has no error flag: errors say so in words)."""
        return [
            {
                "role": "tool",
                "tool_call_id": call.id,
                "content": ("error: " if failed else "") + text,
            }
            for call, text, failed in outcomes
        ]


def _tool_call(raw: Any, fallback_id: str) -> ToolCall:
    """A reply's tool call with its arguments read (or the reason they cannot be)."""
    function = getattr(raw, "function", None)
    name = str(getattr(function, "name", "") or "")
    call_id = str(getattr(raw, "id", "") or fallback_id)
    text = getattr(function, "arguments", None) or "{}"
    try:
        arguments = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        message = error.msg if isinstance(error, json.JSONDecodeError) else "nested too deeply"
        return ToolCall(call_id, name, {}, f"its arguments are not valid JSON ({message})")
    if not isinstance(arguments, dict):
        return ToolCall(call_id, name, {}, "its arguments are not a JSON object")
    return ToolCall(call_id, name, arguments)
