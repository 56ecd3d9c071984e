"""Confinement that sandboxed processes apply to themselves before any untrusted code runs.

None of this is what keeps the data away from a candidate: its process never holds a store
(see `tts_gym.sandbox`). These layers limit what else it can do, each as strong as the OS
allows (the worker reports which held); one module per layer:

- resource limits (`set_limits`): address space, CPU seconds, file size, no core dumps;
- network (`isolate_network`): a fresh network namespace (`unshare(CLONE_NEWNET)`, in a new
  user namespace when not root), which has no interface but a loopback that is down; else
  Landlock's TCP rules;
- filesystem (`landlock`): read only below the Python installation and the tts-gym package,
  write only in the process's own folder; from ABI 6 no signals to processes outside the
  sandbox either;
- processes (`seccomp`): a filter refuses fork, exec, mknod (fifos) and ptrace at the
  kernel, whatever code asks;
- an audit hook (`audit`, every platform): the process ends at once on the first Python-level
  action the sandbox refuses.

The audit hook sees Python-level actions only; the kernel layers hold against native code.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

VIOLATION_EXIT = 86
"""Exit status of a sandboxed process ended by the audit hook."""
WORKER_ERROR_EXIT = 87
"""Exit status of a session whose own code (not the candidate's) raised."""

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38


def set_limits(memory_mb: int, cpu_seconds: int, file_mb: int = 64) -> None:
    """Hard limits on this process: exceeding the CPU time kills it with SIGXCPU/SIGKILL."""
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb * 1024 * 1024,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def die_with_parent() -> None:
    """Linux: be killed when the parent dies (a killed run leaves no sandboxed process)."""
    c = libc()
    parent = os.getppid()
    if c is not None:
        c.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def isolate_network() -> str | None:
    """Move into an empty network namespace; the mechanism used, or None if not permitted."""
    c = libc()
    if c is None:
        return None
    if c.unshare(_CLONE_NEWNET) == 0:
        return "network namespace"
    uid, gid = os.getuid(), os.getgid()
    if c.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) != 0:
        return None
    # keep the same ids inside the new user namespace, so file access is unchanged
    for name, text in (
        ("setgroups", "deny"),
        ("uid_map", f"{uid} {uid} 1"),
        ("gid_map", f"{gid} {gid} 1"),
    ):
        try:
            with open(f"/proc/self/{name}", "w") as handle:
                handle.write(text)
        except OSError:
            pass
    return "user + network namespace"


@functools.cache
def readable_roots() -> tuple[Path, ...]:
    """What a sandboxed process may read besides its own folder: the interpreter, the
    packages on its `sys.path` (site-packages and what their .pth files add), and tts-gym.

    The path is the one the worker's interpreter starts with (asked once), not ours: a
    test runner or a `python -m` in a project folder puts more on ours.
    """
    roots = {sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix}
    roots.add(str(Path(__file__).parents[1]))  # the tts_gym package
    probe = [sys.executable, "-s", "-c", "import json, sys; print(json.dumps(sys.path[1:]))"]
    try:
        found = subprocess.run(probe, capture_output=True, text=True, timeout=60, cwd="/")
        roots.update(json.loads(found.stdout))
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
    kept = {Path(os.path.realpath(root)) for root in roots if os.path.isdir(root)}
    return tuple(sorted(root for root in kept if not any(p in root.parents for p in kept)))
