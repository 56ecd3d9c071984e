"""How the parent words what a sandboxed process did: errors, crashes, replay differences.

Everything here reads what the sandbox sent (or how its process ended) and makes one sentence
of it; text from the sandbox passes through `channel.printable`, bounded.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tts_gym.sandbox import channel as ch
from tts_gym.sandbox.confine import VIOLATION_EXIT, WORKER_ERROR_EXIT
from tts_gym.sandbox.limits import FILE_LIMIT_MB, Limits

if TYPE_CHECKING:
    from tts_gym.sandbox.server import Ended

TOO_SLOW = "(an endless loop, or far too slow)."
DISK_FULL = "its files grew past the run's disk quota of {} MiB."
MAX_PROBLEMS = 5
"""Problems a verdict lists (the rest are counted)."""
_NO_SPACE = "No space left on device"
_SIGNALS = {
    signal.SIGSEGV: "a segmentation fault: native code touched memory it does not own",
    signal.SIGBUS: "a bus error: native code touched memory that is not there",
    signal.SIGABRT: "it aborted",
    signal.SIGFPE: "an arithmetic fault in native code",
    signal.SIGILL: "an illegal instruction",
    signal.SIGSYS: "a system call the kernel refused",
}


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
    elif _NO_SPACE in message:
        text = f"{DISK_FULL.format(limits.disk_mb).rstrip('.')}: {text}"
    frames = error.get("frames")
    frames = [ch.printable(f, 300) for f in frames[:3]] if isinstance(frames, list) else []
    sentence = text.rstrip(".") + (f" {where}." if where else ".")
    return sentence + "".join(f"\n    {frame}" for frame in frames)


def crash_reason(status: int | None, output: str, limits: Limits) -> str:
    """Why a sandboxed process ended in the middle of the run, from its exit status and the
    tail of what it printed."""
    tail = f":\n{output}" if output else "."
    if status in (-signal.SIGXCPU, -signal.SIGKILL):
        return f"it ran past the CPU-time limit of {limits.cpu_seconds} s {TOO_SLOW}"
    if status == -signal.SIGXFSZ:
        return f"it wrote more than the file-size limit of {FILE_LIMIT_MB} MiB."
    if status == VIOLATION_EXIT:
        return "the sandbox stopped it: it did something the sandbox refuses."
    if status == WORKER_ERROR_EXIT:
        last = output.splitlines()[-1] if output else "?"
        return (
            f"the sandbox's own code failed while playing it ({last}); something the "
            "candidate's code changed (a module, a built-in or a class the sandbox shares "
            "with it) broke it."
        )
    if "MemoryError" in output:
        return f"it ran out of memory (the limit is {limits.memory_mb} MiB)."
    if status is None:
        return "its process ended in the middle of the run (no exit status)" + tail
    if status < 0:
        number = -status
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "an unknown signal"
        what = _SIGNALS.get(number)
        what = f"{name}: {what}" if what else name
        return f"its process was killed by signal {number} ({what}) in the middle of the run" + (
            tail
        )
    return (
        f"its code ended its process (exit status {status}) in the middle of the run, "
        "without an answer or an error" + tail
    )


def bounded(problems: Sequence[str], first: int = MAX_PROBLEMS) -> list[str]:
    """The first `first` problems and, if there were more, a sentence counting the rest."""
    if len(problems) <= first:
        return list(problems)
    return [*problems[:first], f"... and {len(problems) - first:,} more like these."]
