"""What a sandboxed run may spend: wall time, and CPU time, memory and file size per process."""

from __future__ import annotations

from dataclasses import dataclass

CPU_SHARE = 0.9
"""The CPU-time limit's share of the wall time (a busy loop hits it first)."""
FILE_LIMIT_MB = 64
"""Largest file a sandboxed process may write."""


@dataclass(frozen=True)
class Limits:
    """Per run: wall-clock seconds (parent), CPU seconds per process and address space."""

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


DEFAULT_LIMITS = Limits()
