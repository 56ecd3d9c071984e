"""How the parent words what a sandboxed process did: errors, crashes, replay differences.

Everything here reads what the sandbox sent (or how its process ended) and makes one sentence
of it; text from the sandbox passes through `channel.printable`, bounded.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from typing import Any

from tts_gym.sandbox import channel as ch
from tts_gym.sandbox.confine import VIOLATION_EXIT
from tts_gym.sandbox.limits import FILE_LIMIT_MB, Limits
from tts_gym.sandbox.server import Ended

TOO_SLOW = "(an endless loop, or far too slow)."


def difference(first: Ended, again: Ended) -> str | None:
    a, b = first.actions or (), again.actions or ()
    if a != b:
        i = next(
            (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
        )
        return f"action {i + 1} was {_action(a, i)} in the sweep but {_action(b, i)} alone"
    if first.answer != again.answer:
        return f"it answered {first.answer!r} in the sweep but {again.answer!r} alone"
    return None


def _action(log: Sequence[tuple[int, Any]], i: int) -> str:
    if i >= len(log):
        return "its answer"
    op, arg = log[i]
    name = ch.OP_NAMES[op]
    if op in (ch.BRANCH, ch.READ):
        return name
    return f"{name}({list(arg) if isinstance(arg, tuple) else arg})"


def error_sentence(error: Any, limits: Limits, where: str = "") -> str:
    """The controller's report of an exception, worded: type, message, where, its lines."""
    error = error if isinstance(error, dict) else {}
    kind = ch.printable(error.get("type") or "an exception", 100)
    message = ch.printable(error.get("message") or "", 500)
    if error.get("policy_error") is True and message:
        text = message
    else:
        text = f"{kind}: {message}" if message else kind
    if error.get("cause") == "MemoryError":
        text = f"it ran out of memory (the limit is {limits.memory_mb} MiB): {text}"
    frames = error.get("frames")
    frames = [ch.printable(f, 300) for f in frames[:3]] if isinstance(frames, list) else []
    sentence = text.rstrip(".") + (f" {where}." if where else ".")
    return sentence + "".join(f"\n    {frame}" for frame in frames)


def crash_reason(status: int | None, stderr: str, limits: Limits) -> str:
    if status in (-signal.SIGXCPU, -signal.SIGKILL):
        return f"it ran past the CPU-time limit of {limits.cpu_seconds} s {TOO_SLOW}"
    if status == -signal.SIGXFSZ:
        return f"it wrote more than the file-size limit of {FILE_LIMIT_MB} MiB."
    if status == VIOLATION_EXIT:
        return "the sandbox stopped it: it did something the sandbox refuses."
    if "MemoryError" in stderr:
        return f"it ran out of memory (the limit is {limits.memory_mb} MiB)."
    if status is None:
        how = "no exit status"
    else:
        how = f"signal {-status}" if status < 0 else f"exit status {status}"
    return f"its process ended in the middle of the run ({how})" + (
        f":\n{stderr}" if stderr else "."
    )
