"""A local HTTP server speaking the OpenAI completions API (`POST /v1/completions`), scripted.

What it answers depends only on the request, so a rerun (or a resumed run) gets the same
answers. A token is one character here, and `usage.completion_tokens` counts them:

- a sampled request (temperature > 0) continues a branch: with one chance in four (from its
  seed) the branch ends in this chunk with `so \\boxed{7}` or `so \\boxed{8}` (12 tokens,
  finish_reason "stop"); otherwise it is exactly `max_tokens` letters ("length");
- a greedy request is a probe: its answer, `7}` or `8}` or `07}` (which matches the gold 7),
  comes from the length of the prompt.

`faults` is consumed one per request, in arrival order: "429" (Retry-After: 0), "500",
"400", "timeout" (answers after `hang` seconds, past the client's timeout), "drop" (closes
the connection without an answer); `delay` slows every answer down; `in_flight_peak` is the
most requests it ever held at once.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _digest(*parts: Any) -> int:
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:8], 16)


def scripted_completion(body: dict[str, Any]) -> dict[str, Any]:
    n, prompt = int(body["max_tokens"]), body["prompt"]
    if body.get("temperature", 1.0) > 0:
        seed = body.get("seed")
        if _digest(seed) % 4 == 0:
            text = f"so \\boxed{{{7 + _digest(seed, 'answer') % 2}}}"[:n]
            return _answer(text, len(text), "stop")
        text = "".join("abcdefghij"[(seed + i) % 10] for i in range(n))
        return _answer(text, n, "length")
    answer = ("7}", "8}", "07}")[len(prompt) % 3]
    return _answer(answer, len(answer), "stop")


def _answer(text: str, tokens: int, reason: str) -> dict[str, Any]:
    return {
        "id": "cmpl-test",
        "object": "text_completion",
        "choices": [{"index": 0, "text": text, "finish_reason": reason, "logprobs": None}],
        "usage": {"prompt_tokens": 0, "completion_tokens": tokens, "total_tokens": tokens},
    }


class ScriptedServer:
    def __init__(self, *, delay: float = 0.0, faults: list[str | None] = (), hang: float = 2.0):
        self.delay, self.hang = delay, hang
        self.faults = deque(faults)
        self.requests: list[dict[str, Any]] = []
        self.in_flight = self.in_flight_peak = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append(body)
                    fault = server.faults.popleft() if server.faults else None
                    server.in_flight += 1
                    server.in_flight_peak = max(server.in_flight_peak, server.in_flight)
                try:
                    server.answer(self, body, fault)
                finally:
                    with server.lock:
                        server.in_flight -= 1

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # a wave's connections arrive at once

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, handler: BaseHTTPRequestHandler, body: dict[str, Any], fault: str | None):
        if fault == "drop":
            handler.close_connection = True
            handler.connection.close()
            return
        time.sleep(self.hang if fault == "timeout" else self.delay)
        if fault in ("429", "500", "400"):
            status, payload = int(fault), {"error": {"message": f"scripted {fault}"}}
        elif handler.path != "/v1/completions":
            status, payload = 404, {"error": {"message": "not found"}}
        else:
            status, payload = 200, scripted_completion(body)
        data = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            if status == 429:
                handler.send_header("Retry-After", "0")
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
            pass
