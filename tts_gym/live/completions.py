"""An OpenAI-compatible completions server as a live model (vLLM's `vllm serve`, SGLang, ...).

Each request is `POST {base_url}/completions` with the branch's text as the prompt (the
chat-formatted question and what the branch generated so far), `max_tokens` the interval
and the branch chunk's own seed; a probe is the same with the hand-off suffix appended,
`temperature` 0 and `max_tokens` the probe length. The requests of a pass go out together on
a pool of threads (a wave of 8 takes about as long as its slowest request, not 8 of them);
the server's continuous batching and prefix cache do the rest. The chat template and the
suffix come from the model's tokenizer, loaded here; the server re-tokenizes the text it is
sent, which can split a branch's text at a chunk boundary differently from how it was
generated (the price of a text API; token-level engines have no such seam).

A request that gets 429 or a 5xx, times out, or loses its connection is tried again after a
pause (the server's `Retry-After` when it gives one, else doubling from `backoff` seconds),
up to `attempts` times; then, as on any other error status, the run stops with one sentence
naming the server and what it did.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tts_gym.collect.prompt import PromptFormat
from tts_gym.errors import first_line
from tts_gym.live.engines import Chunk, Sampling
from tts_gym.live.errors import LiveError

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_PAUSE_S = 30.0


@dataclass(frozen=True)
class Completion:
    text: str
    tokens: int  # usage.completion_tokens
    stopped: bool  # finish_reason "stop": the model ended it


class CompletionsClient:
    """`POST /completions` to one server, many at once, with retries (see the module)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        timeout: float = 600.0,
        attempts: int = 4,
        backoff: float = 1.0,
        concurrency: int = 64,
        api_key: str | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/completions"
        self.model = model
        self.timeout, self.attempts, self.backoff = timeout, attempts, backoff
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="completions")

    def complete(self, bodies: Sequence[dict[str, Any]]) -> list[Completion]:
        """One completion per request body (without `model`), all in flight together."""
        return list(self._pool.map(self._post, bodies))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _post(self, body: dict[str, Any]) -> Completion:
        payload = json.dumps({"model": self.model, **body}).encode()
        problem = ""
        for attempt in range(self.attempts):
            pause = self.backoff * 2**attempt
            try:
                request = urllib.request.Request(self.url, payload, self.headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return _completion(response.read(), self.url)
            except urllib.error.HTTPError as error:
                if error.code not in RETRY_STATUS:
                    raise LiveError(
                        f"the completions server at {self.url} answered {error.code} "
                        f"({_error_text(error)})."
                    ) from None
                problem = f"answered {error.code}"
                pause = _retry_after(error, pause)
            except TimeoutError:
                problem = f"did not answer within {self.timeout:g} s"
            except urllib.error.URLError as error:
                if isinstance(error.reason, TimeoutError):
                    problem = f"did not answer within {self.timeout:g} s"
                else:
                    problem = f"could not be reached ({first_line(error.reason)})"
            except (http.client.HTTPException, ConnectionError) as error:
                problem = f"dropped the connection ({type(error).__name__})"
            if attempt + 1 < self.attempts:
                time.sleep(min(pause, MAX_PAUSE_S))
        raise LiveError(
            f"the completions server at {self.url} {problem}, {self.attempts} times in a row."
        )


def _completion(raw: bytes, url: str) -> Completion:
    try:
        data = json.loads(raw)
        choice = data["choices"][0]
        text, reason = choice["text"], choice["finish_reason"]
        tokens = data["usage"]["completion_tokens"]
        if not isinstance(text, str) or type(tokens) is not int or tokens < 0:
            raise TypeError
    except (ValueError, KeyError, IndexError, TypeError):
        raise LiveError(
            f"the completions server at {url} answered something that is not a completion "
            "with usage (choices[0].text, finish_reason, usage.completion_tokens)."
        ) from None
    return Completion(text, tokens, reason == "stop")


def _error_text(error: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(error.read())
        message = body.get("error", body)
        message = message.get("message", message) if isinstance(message, dict) else message
        return first_line(str(message))[:200]
    except Exception:  # no JSON body: the status says enough
        return error.reason or "no reason given"


def _retry_after(error: urllib.error.HTTPError, default: float) -> float:
    try:
        return max(0.0, float(error.headers.get("Retry-After", "")))
    except ValueError:
        return default


@dataclass(frozen=True)
class TextBranch:
    """A branch as text: its prompt, what was generated, and where each chunk ended
    (tokens generated -> characters), so that a probe cuts it at an interval's end."""

    prompt: str
    text: str = ""
    tokens: int = 0
    marks: tuple[tuple[int, int], ...] = ((0, 0),)

    def cut(self, tokens: int) -> str:
        offsets = dict(self.marks)
        if tokens not in offsets:
            raise LiveError(f"no chunk of this branch ends after {tokens} tokens.")
        return self.text[: offsets[tokens]]


class CompletionsModel:
    """A completions server as a `Model`: chunks of at most one interval, so that every
    interval's end is a chunk's end."""

    def __init__(
        self, client: CompletionsClient, tokenizer: Any, fmt: PromptFormat, sampling: Sampling
    ) -> None:
        self.client, self.tokenizer, self.fmt, self.sampling = client, tokenizer, fmt, sampling
        self.max_chunk = sampling.interval

    def start(self, question: str) -> TextBranch:
        return TextBranch(self.fmt.prompt_text(self.tokenizer, question))

    def extend(self, requests: Sequence[tuple[Any, int, int]]) -> list[Chunk]:
        s = self.sampling
        bodies = [
            {
                "prompt": branch.prompt + branch.text,
                "max_tokens": n,
                "temperature": s.temperature,
                "top_p": s.top_p,
                "seed": seed,
            }
            for branch, n, seed in requests
        ]
        return [Chunk(c.text, c.tokens, c.stopped) for c in self.client.complete(bodies)]

    def append(self, record: Any, chunk: Chunk) -> TextBranch:
        text, tokens = record.text + chunk.piece, record.tokens + chunk.tokens
        return TextBranch(record.prompt, text, tokens, (*record.marks, (tokens, len(text))))

    def probe(self, requests: Sequence[tuple[Any, int]]) -> list[tuple[str, int]]:
        bodies = [
            {
                "prompt": self.fmt.probe_text(branch.prompt, branch.cut(cut)),
                "max_tokens": self.sampling.probe_tokens,
                "temperature": 0.0,
            }
            for branch, cut in requests
        ]
        return [(c.text, c.tokens) for c in self.client.complete(bodies)]

    def text(self, record: Any) -> str:
        return record.text
