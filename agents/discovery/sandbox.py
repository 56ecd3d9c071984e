"""Run one candidate controller in a separate, confined process and collect what it did.

The parent writes a scratch folder (the candidate file and gold-free copies of the stores),
starts `sandbox_worker` there with a scrubbed environment (no API key, no data folder) in its
own process group, and kills the group at the wall-time limit. Memory and CPU time are
limited inside the worker (`isolation.set_limits`). Every way a candidate can fail (import
error, exception, endless loop, memory bomb, refused action, garbage) comes back as a sentence
in `WorkerReport.problems`, never as an exception here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tts_gym_agents.discovery.isolation import VIOLATION_EXIT, readable_roots
from tts_gym_agents.discovery.processes import run_group

from tts_gym.errors import TTSGymError
from tts_gym.evaluation.protocols import Protocol
from tts_gym.store.replay import CONFIDENCE_KEY, ReplayStore

STDERR_TAIL_LINES = 5
FILE_LIMIT_MB = 64
CPU_SHARE = 0.9
_TOO_SLOW = "(an endless loop, or far too slow)."


@dataclass(frozen=True)
class Limits:
    """Per candidate run: wall-clock seconds (parent), CPU seconds and address space (worker)."""

    wall_seconds: float = 300.0
    cpu_seconds: int = 240
    memory_mb: int = 2048

    @classmethod
    def from_wall(cls, wall_seconds: float, memory_mb: int) -> Limits:
        """The CPU-time limit is 90% of the wall time (a busy loop hits it first)."""
        return cls(wall_seconds, max(1, int(wall_seconds * CPU_SHARE)), memory_mb)

    def describe(self) -> str:
        return (
            f"{self.wall_seconds:g} s wall, {self.cpu_seconds} s CPU, {self.memory_mb} MiB memory"
        )


@dataclass
class WorkerReport:
    """What came back from the worker: problems, or the raw sweep and the traced replay."""

    problems: list[str]
    isolation: dict[str, str] = field(default_factory=dict)
    sweep: list[dict[str, Any]] = field(default_factory=list)
    replay: list[dict[str, Any]] = field(default_factory=list)


def gold_free(store: ReplayStore) -> list[dict[str, Any]]:
    """The store in AutoTTS JSON with no gold answer and no question text."""
    questions = []
    for q in store.questions:
        item: dict[str, Any] = {
            "question": "",
            "gold_answer": "",
            "probe_freq": q.probe_freq,
            "each_branch": [
                [[q.answers[a] for a in probes], tokens, q.answers[final]]
                for probes, tokens, final in zip(q.probes, q.tokens, q.finals, strict=True)
            ],
        }
        if q.confidence is not None:
            item[CONFIDENCE_KEY] = [list(values) for values in q.confidence]
        questions.append(item)
    return questions


def check_out_of_reach(stores: Sequence[ReplayStore]) -> None:
    """Refuse stores that a sandboxed candidate could read (their gold would be in reach)."""
    roots = readable_roots()
    for store in stores:
        path = Path(os.path.realpath(store.path))
        for root in roots:
            if path.is_relative_to(root):
                raise TTSGymError(
                    f"store file {path} lies inside {root}, which sandboxed candidates can "
                    "read; keep replay stores outside the Python installation and tts-gym."
                )


def run_candidate(
    path: Path,
    class_name: str,
    stores: Sequence[ReplayStore],
    *,
    betas: Sequence[float],
    protocol: Protocol,
    free_knobs: bool,
    limits: Limits,
) -> WorkerReport:
    """Play `path:class_name` over the beta sweep on gold-free copies of `stores`, confined."""
    check_out_of_reach(stores)
    with (
        tempfile.TemporaryDirectory(prefix="tts-gym-sandbox-") as scratch_name,
        tempfile.TemporaryDirectory(prefix="tts-gym-sandbox-out-") as private_name,
    ):
        scratch, private = Path(scratch_name), Path(private_name)
        shutil.copyfile(path, scratch / path.name)
        entries = []
        for i, store in enumerate(stores):
            file = scratch / f"store{i}.json"
            file.write_text(json.dumps(gold_free(store)), encoding="utf-8")
            entries.append({"name": store.name, "file": file.name})
        request = {
            "candidate": path.name,
            "class_name": class_name,
            "stores": entries,
            "protocol": {
                "protocol": protocol.name,
                "n_orders": protocol.n_orders,
                "seed": protocol.seed,
            },
            "betas": list(betas),
            "free_knobs": free_knobs,
            "memory_mb": limits.memory_mb,
            "cpu_seconds": limits.cpu_seconds,
        }
        (scratch / "request.json").write_text(json.dumps(request), encoding="utf-8")
        returncode, timed_out = _run_worker(scratch, private, limits)
        lines = (private / "out").read_bytes().decode("utf-8", "replace").splitlines()
        stderr = (private / "err").read_bytes()[-4000:].decode("utf-8", "replace")
    return _report(lines, stderr, returncode, timed_out, limits)


def _run_worker(scratch: Path, private: Path, limits: Limits) -> tuple[int, bool]:
    env = {
        "PATH": os.defpath,
        "HOME": str(scratch),
        "TMPDIR": str(scratch),
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    command = [
        sys.executable,
        "-s",
        "-B",
        "-m",
        "tts_gym_agents.discovery.sandbox_worker",
        "request.json",
    ]
    with open(private / "out", "wb") as out, open(private / "err", "wb") as err:
        return run_group(
            command, cwd=scratch, env=env, timeout=limits.wall_seconds, stdout=out, stderr=err
        )


def _report(
    lines: list[str], stderr: str, returncode: int, timed_out: bool, limits: Limits
) -> WorkerReport:
    report = WorkerReport(problems=[])
    result = None
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        kind = record.pop("kind", None) if isinstance(record, dict) else None
        if kind == "isolation":
            report.isolation = record
        elif kind == "violation":
            report.problems.append(f"the sandbox stopped it: it {record.get('reason')}.")
            return report
        elif kind == "result":
            result = record
    if timed_out:
        report.problems.append(
            f"it ran past the wall-time limit of {limits.wall_seconds:g} s {_TOO_SLOW}"
        )
    elif result is None:
        report.problems.append(_crash_reason(returncode, stderr, limits))
    elif not isinstance(result.get("problems"), list):
        report.problems.append("the sandbox returned a malformed result.")
    else:
        report.problems = [str(problem) for problem in result["problems"]]
        report.sweep = result.get("sweep") or []
        report.replay = result.get("replay") or []
    return report


def _crash_reason(returncode: int, stderr: str, limits: Limits) -> str:
    if returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return f"it ran past the CPU-time limit of {limits.cpu_seconds} s {_TOO_SLOW}"
    if returncode == -signal.SIGXFSZ:
        return f"it wrote more than the file-size limit of {FILE_LIMIT_MB} MiB."
    if returncode == VIOLATION_EXIT:
        return "the sandbox stopped it: it did something the sandbox refuses."
    tail = "\n".join(stderr.strip().splitlines()[-STDERR_TAIL_LINES:])
    if "MemoryError" in tail:
        return f"it ran out of memory (the limit is {limits.memory_mb} MiB)."
    how = f"signal {-returncode}" if returncode < 0 else f"exit status {returncode}"
    return f"the sandboxed process ended without a result ({how})" + (f":\n{tail}" if tail else ".")
