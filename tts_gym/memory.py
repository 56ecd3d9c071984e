"""What the machine can hold: a size that cannot fit is one sentence before it is allocated.

Stores, branch orders, confidence tables and training buffers all grow with numbers a user
gives (branches per question, `--orders`, `--n-envs`). Each is estimated before it is built
and compared with the memory this process can still get: the smallest of the system's
available memory (`MemAvailable`), the cgroup's limit (containers) and the address-space
limit (`ulimit -v`). Where none of them can be read, nothing is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

from tts_gym.errors import TTSGymError

try:
    import resource
except ImportError:  # Windows: no address-space limit to read
    resource = None

_CGROUP = Path("/sys/fs/cgroup")


def available_bytes() -> int | None:
    """Bytes of memory this process can still allocate, or None when unknown."""
    limits = [_meminfo_available(), _cgroup_left(), _address_space_left()]
    known = [limit for limit in limits if limit is not None]
    return min(known) if known else None


def require_memory(needed: float, what: str, *, each: float = 0.0, unit: str = "") -> None:
    """Refuse `what` when its `needed` bytes exceed what is available: one `TTSGymError`
    sentence naming both sizes and, given the bytes `each` `unit` costs, how many fit."""
    available = available_bytes()
    if available is None or needed <= available:
        return
    most = f"; the most that fit: {int(available // each):,} {unit}" if each > 0 and unit else ""
    raise TTSGymError(
        f"{what} would need about {size_text(needed)} of memory, more than the "
        f"{size_text(available)} available{most}."
    )


def size_text(n_bytes: float) -> str:
    """`1.5 GB`, `320 MB`, `12 kB` (powers of 1000)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.3g} {unit}"
    return f"{int(n_bytes)} bytes"


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:  # other POSIX systems: free pages
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def _cgroup_left() -> int | None:
    """cgroup v2: this container's limit less what it uses."""
    try:
        limit = (_CGROUP / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((_CGROUP / "memory.current").read_text()))
    except (OSError, ValueError):
        return None


def _address_space_left() -> int | None:
    """`ulimit -v` less the address space this process already holds."""
    if resource is None:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        held = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        held = 0
    return max(0, soft - held)
