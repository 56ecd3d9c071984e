"""A local HTTP server that speaks enough of the Messages API for the real `anthropic` SDK.

Replies are scripted per (round, turn): the round number is read from the first user message
("Round N of M") and the turn is the number of assistant messages already in the request, so
a round that is replayed after a kill gets exactly the same replies. Some requests first fail
(a 429, a 500) so that the SDK's retries are exercised; one request can be held until released
(to kill the client mid-round).
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent
MALFORMED = (
    "class Controller:\n"
    "    def __init__(self, beta: float = 0.5) -> None:\n"
    "        self.beta = beta\n\n"
    "    def solve(self, q)\n"
    "        return q.read()\n"
)
USAGE = {
    "input_tokens": 1000,
    "output_tokens": 200,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 3000,
}


def _tool(name: str, **arguments: Any) -> dict[str, Any]:
    return {"type": "tool_use", "name": name, "input": arguments}


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def default_script() -> dict[int, list[dict[str, Any]]]:
    """Round 1: a good controller, evaluated; 2: a syntax error; 3: a controller that hangs."""
    good = (FIXTURES / "good_controller.py").read_text()
    hangs = (FIXTURES / "never_returns.py").read_text()
    return {
        1: [
            _tool("write_controller", content=good),
            _tool("evaluate"),
            _tool("finish", summary="v1"),
        ],
        2: [
            _tool("edit_controller", old="nothing", new="x"),
            _tool("write_controller", content=MALFORMED),
            _tool("finish", summary="v2"),
        ],
        3: [_tool("write_controller", content=hangs), _text("Done: it waits for consensus.")],
    }


class MockAnthropic:
    def __init__(
        self,
        script: dict[int, list[dict[str, Any]]] | None = None,
        failures: dict[tuple[int, int], list[int]] | None = None,
        usage: dict[str, int] | None = None,
    ) -> None:
        self.script = default_script() if script is None else script
        self.failures = {(1, 1): [429], (1, 2): [500]} if failures is None else failures
        self.usage = USAGE if usage is None else usage
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.hold_at: tuple[int, int] | None = None
        self.arrived = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> MockAnthropic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def first_messages(self, round_number: int) -> list[str]:
        """The first user message of every request of a round (what the proposer was told)."""
        return [
            _first_text(body) for body in self.requests if _round_and_turn(body)[0] == round_number
        ]

    def reply(self, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        round_number, turn = _round_and_turn(body)
        with self._lock:
            self.requests.append(body)
            pending = self.failures.get((round_number, turn))
            if pending:
                status = pending.pop(0)
                self.statuses.append(status)
                kind = "rate_limit_error" if status == 429 else "api_error"
                error = {"type": "error", "error": {"type": kind, "message": f"scripted {status}"}}
                return status, {"retry-after-ms": "1"}, error
            self.statuses.append(200)
            hold = self.hold_at == (round_number, turn) and not self.arrived.is_set()
        if hold:
            self.arrived.set()
            self.release.wait(120)
        steps = self.script.get(round_number, [])
        block = dict(steps[turn]) if turn < len(steps) else _text("Nothing more to do.")
        if block["type"] == "tool_use":
            block["id"] = f"toolu_{round_number}_{turn}"
        message = {
            "id": f"msg_{round_number}_{turn}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": [block],
            "stop_reason": "tool_use" if block["type"] == "tool_use" else "end_turn",
            "stop_sequence": None,
            "usage": dict(self.usage),
        }
        return 200, {}, message

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.startswith("/v1/messages"):
                    status, headers, payload = 404, {}, {"type": "error", "error": {}}
                else:
                    status, headers, payload = mock.reply(body)
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client was killed while this request was held
                    pass

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def _first_text(body: dict[str, Any]) -> str:
    content = body["messages"][0]["content"]
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content)


def _round_and_turn(body: dict[str, Any]) -> tuple[int, int]:
    match = re.search(r"Round (\d+) of", _first_text(body))
    turn = sum(1 for message in body["messages"] if message["role"] == "assistant")
    return (int(match.group(1)) if match else 0), turn
