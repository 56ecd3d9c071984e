"""`python -m agents.discovery.sandbox_worker REQUEST.json`: one candidate, confined.

Started by `sandbox.run_candidate` in a scratch folder that holds the candidate file and
gold-free copies of the stores. The worker confines itself (`isolation`), checks the source
and the knob, then plays the beta sweep with the harness's `run_store` and replays the first
order of every question with a fresh controller, in reverse question order and traced (the
determinism check and the execution traces). It never sees a gold answer; the parent scores.

It writes JSON lines to its original stdout, which the candidate cannot print to (its
`print` goes to stderr): `{"kind": "isolation", ...}`, then `{"kind": "result", ...}`, or a
`{"kind": "violation", "reason": ...}` line written by the audit hook just before it ends
the process.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from tts_gym_agents.discovery import isolation, rules

from tts_gym.control.errors import PolicyError

MAX_TRACE_HEAD, MAX_TRACE_TAIL = 40, 20


class _Channel:
    """The private line to the parent: a copy of fd 1, with fd 1 itself pointed at stderr."""

    def __init__(self) -> None:
        self.fd = os.dup(1)
        os.dup2(2, 1)

    def send(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record) + "\n").encode()
        while data:
            data = data[os.write(self.fd, data) :]


def main(argv: list[str]) -> int:
    request = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    channel = _Channel()
    scratch = Path.cwd()
    sys.dont_write_bytecode = True
    isolation.die_with_parent()
    isolation.set_limits(request["memory_mb"], request["cpu_seconds"])
    network = isolation.isolate_network()

    # everything the worker needs is loaded before the filesystem closes
    from tts_gym.evaluation import get_protocol, run_store
    from tts_gym.store import load_store

    stores = [
        dataclasses.replace(load_store(scratch / entry["file"]), name=entry["name"])
        for entry in request["stores"]
    ]
    roots = isolation.readable_roots()
    filesystem, tcp_denied = isolation.landlock(roots, scratch)
    if network is None and tcp_denied:
        network = "Landlock TCP rules"
    isolation.install_audit_hook(
        roots, scratch, lambda reason: channel.send({"kind": "violation", "reason": reason})
    )
    channel.send(
        {
            "kind": "isolation",
            "network": network or "audit hook only",
            "filesystem": f"{filesystem} + audit hook" if filesystem else "audit hook only",
            "limits": "setrlimit (address space, CPU time, file size)",
        }
    )
    protocol = get_protocol(**request["protocol"])
    try:
        result = _evaluate(request, scratch / request["candidate"], stores, protocol, run_store)
    except MemoryError:
        result = {"problems": [_out_of_memory(request) + "."]}
    channel.send({"kind": "result", **result})
    return 0


def _evaluate(request: dict, path: Path, stores: list, protocol: Any, run_store: Any) -> dict:
    source = path.read_text(encoding="utf-8", errors="replace")
    problems = rules.source_problems(source, path.name)
    if problems:
        return {"problems": problems}
    try:
        cls = getattr(_load(path), request["class_name"], None)
    except BaseException as error:  # noqa: BLE001 - untrusted code: any failure is a result
        return {"problems": [f"importing {path.name} failed: {_describe(error, path, request)}"]}
    if cls is None:
        return {"problems": [f"{path.name} defines no class '{request['class_name']}'."]}
    free_knobs = request["free_knobs"]
    style, problems = rules.knob_style(cls, free_knobs)
    if problems:
        return {"problems": problems}

    sweep, replay = [], []
    for store in stores:
        first_order = lambda qi, n: protocol(qi, n)[:1]  # noqa: E731
        reverse = range(store.n_questions - 1, -1, -1)
        for beta in request["betas"]:
            try:
                controller, config = rules.make_controller(cls, style, beta)
                outcomes = run_store(controller, store, protocol)
                fresh, fresh_config = rules.make_controller(cls, style, beta)
                again = run_store(fresh, store, first_order, questions=reverse, trace=True)
            except BaseException as error:  # noqa: BLE001
                return {"problems": [_describe(error, path, request, f"at beta={beta}")]}
            problems = rules.config_problems(config, free_knobs)
            problems += rules.config_problems(fresh_config, free_knobs)
            if problems:
                return {"problems": sorted(set(problems))}
            sweep.append(
                {
                    "store": store.name,
                    "beta": beta,
                    "answers": outcomes.answers,
                    "tokens": outcomes.tokens.tolist(),
                }
            )
            replay.append(
                {
                    "store": store.name,
                    "beta": beta,
                    "answers": [row[0] for row in reversed(again.answers)],
                    "tokens": [row[0] for row in reversed(again.tokens.tolist())],
                    "traces": [_cap(row[0]) for row in reversed(again.traces)],
                }
            )
    return {"problems": [], "sweep": sweep, "replay": replay}


def _load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("candidate", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["candidate"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def _cap(trace: dict[str, Any]) -> dict[str, Any]:
    """Keep the head and the tail of a long episode's actions, and every answer it saw."""
    actions = trace["actions"]
    seen = {action["revealed"] for action in actions if action["revealed"] is not None}
    trace = {**trace, "seen": sorted(seen)}
    if len(actions) > MAX_TRACE_HEAD + MAX_TRACE_TAIL:
        omitted = len(actions) - MAX_TRACE_HEAD - MAX_TRACE_TAIL
        trace = {
            **trace,
            "actions": actions[:MAX_TRACE_HEAD] + actions[-MAX_TRACE_TAIL:],
            "omitted": {"after": MAX_TRACE_HEAD, "count": omitted},
        }
    return trace


def _describe(error: BaseException, path: Path, request: dict, where: str = "") -> str:
    """The error in one sentence, plus the candidate's own frames (file lines) if any."""
    cause = error.__cause__ or error
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if not isinstance(error, PolicyError):  # the harness's own errors already say who and where
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    if isinstance(cause, MemoryError):
        text = f"{_out_of_memory(request)}: {text}"
    frames = [
        f"line {frame.lineno} in {frame.name}: {(frame.line or '').strip()}"
        for frame in traceback.extract_tb(cause.__traceback__)
        if Path(frame.filename) == path
    ][-3:]
    sentence = text.rstrip(".") + (f" {where}." if where else ".")
    return sentence + "".join(f"\n    {frame}" for frame in frames)


def _out_of_memory(request: dict) -> str:
    return f"it ran out of memory (the limit is {request['memory_mb']} MiB)"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
