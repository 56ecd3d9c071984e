"""What a sandboxed run may spend: per process and for the whole run.

Per process (setrlimit in the sandbox): CPU time, address space, file size. Per run (the
parent): wall time; memory, by running no more processes at once than fit in a share of the
machine's available memory at their address-space limit each; disk, a quota for all session
folders together (a size-limited tmpfs in the mount namespace, else the parent's accounting);
output, a cap on what all processes print.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

CPU_SHARE = 0.9
"""The CPU-time limit's share of the wall time (a busy loop hits it first)."""
FILE_LIMIT_MB = 64
"""Largest file a sandboxed process may write."""
MEMORY_SHARE = 0.75
"""Share of the machine's available memory a run's processes may hold together."""


@dataclass(frozen=True)
class Limits:
    """Per run: wall-clock seconds (parent), CPU seconds and address space per process, the
    disk quota of all its folders together and the cap on all it prints."""

    wall_seconds: float = 300.0
    cpu_seconds: int = 240
    memory_mb: int = 2048
    disk_mb: int = 256
    output_kb: int = 1024

    @classmethod
    def from_wall(cls, wall_seconds: float, memory_mb: int) -> Limits:
        """The CPU-time limit is 90% of the wall time (a busy loop hits it first)."""
        return cls(wall_seconds, max(1, int(wall_seconds * CPU_SHARE)), memory_mb)

    def describe(self) -> str:
        return (
            f"{self.wall_seconds:g} s wall, {self.cpu_seconds} s CPU, {self.memory_mb} MiB memory"
        )


DEFAULT_LIMITS = Limits()


def available_memory_mb() -> int | None:
    """Memory the machine can give without swapping (Linux: MemAvailable), None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (1 << 20)
    except (ValueError, OSError, AttributeError):
        return None


def processes_that_fit(memory_mb: int, wanted: int) -> tuple[int, str]:
    """How many sandboxed processes of `memory_mb` MiB may run at once (at most `wanted`;
    0 when not even one fits), and the run-wide budget in words (the same on every run, so
    reports compare)."""
    budget = f"as many processes of {memory_mb:,} MiB at once as fit in "
    available = available_memory_mb()
    if available is None:
        return wanted, budget + f"the machine (its free memory is unknown: {wanted})"
    fits = min(wanted, int(available * MEMORY_SHARE) // max(memory_mb, 1))
    return fits, budget + f"{MEMORY_SHARE:.0%} of its available memory (at most {wanted})"
