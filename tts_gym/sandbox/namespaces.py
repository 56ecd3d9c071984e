"""Fresh namespaces for the worker and its sessions, built by bubblewrap.

The worker (the zygote) and every session it forks run in one set of new namespaces:

- PID: nothing outside can be seen, signalled, reniced or pinned (its /proc shows only the
  sandbox's processes);
- IPC: no host System V IPC objects (the sessions' own are refused by seccomp);
- network: no interface but a loopback that is down;
- UTS and cgroup where given;
- mount: a root that holds only what the worker needs, so host paths (stores, the temp
  folder, other processes' files) cannot even be stat'ed: the interpreter and its packages
  read-only at their host paths, the system's libraries (`/usr`) read-only, `/dev/null`,
  a `/proc` of its own PID namespace, and the session folder: a tmpfs of the run's disk
  quota, which disappears with the namespace (nothing is left in the host's temp folder,
  even after `kill -9`).

All capabilities are dropped. bubblewrap (`bwrap`) builds this where it is installed and
permitted; the parent then checks the worker's namespaces from outside (`/proc/PID/ns`), so
the isolation report never takes the sandbox's word for them. Where it is missing,
`missing_reason` says why and the layers are reported missing.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

SESSION_ROOT = Path("/session")
"""The worker's folder inside the mount namespace (a tmpfs)."""
CHECKED = ("pid", "ipc", "mnt", "net")
"""Namespaces the parent checks from outside (the core of this layer)."""
NAMES = {"pid": "PID", "ipc": "IPC", "mnt": "mount", "net": "network", "uts": "UTS"}
_LINKED = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


@functools.cache
def bubblewrap() -> tuple[str | None, str]:
    """(path of a bwrap that can build the sandbox here, its version) or (None, why not)."""
    path = shutil.which("bwrap")
    if path is None:
        return None, "bubblewrap is not installed: apt-get install bubblewrap"
    probe = [path, *_NAMESPACE_FLAGS, "--ro-bind", "/", "/", "--", sys.executable, "-c", ""]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f"bubblewrap could not start ({error})"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return None, f"bubblewrap cannot build namespaces here ({lines[-1] if lines else '?'})"
    version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    return path, version.stdout.strip() or "bubblewrap"


def missing_reason() -> str | None:
    """Why the namespaces cannot be built here, or None when they can."""
    path, why = bubblewrap()
    return None if path is not None else why


_NAMESPACE_FLAGS = (
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-net",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--cap-drop",
    "ALL",
    "--die-with-parent",
    "--as-pid-1",  # the worker is the namespace's init: it reaps its sessions, so their CPU
    # time reaches the parent's accounting (bubblewrap's own init auto-reaps, which loses it)
)


def command(argv: Sequence[str], roots: Sequence[Path], quota_mb: int, info_fd: int) -> list[str]:
    """`argv` run inside the namespaces, in `SESSION_ROOT` (a `quota_mb` MiB tmpfs).

    `roots` (the interpreter, its packages, tts-gym) are bound read-only at their own paths;
    bubblewrap writes the host pid of the namespace's first process to `info_fd` as JSON.
    """
    bwrap, _ = bubblewrap()
    if bwrap is None:
        raise RuntimeError("no bubblewrap")
    binds = ["--ro-bind", "/usr", "/usr"]
    for place in _LINKED:  # merged /usr: links into it; else folders of their own
        if os.path.islink(place):
            binds += ["--symlink", os.readlink(place), place]
        elif os.path.isdir(place):
            binds += ["--ro-bind", place, place]
    if os.path.isfile("/etc/ld.so.cache"):
        binds += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    for root in roots:
        if not root.is_relative_to("/usr"):
            binds += ["--ro-bind-try", str(root), str(root)]
    return [
        bwrap,
        *_NAMESPACE_FLAGS,
        "--info-fd",
        str(info_fd),
        *binds,
        "--dev-bind",
        "/dev/null",
        "/dev/null",
        "--proc",
        "/proc",
        "--size",
        str(quota_mb * 1024 * 1024),
        "--tmpfs",
        str(SESSION_ROOT),
        "--chdir",
        str(SESSION_ROOT),
        "--",
        *argv,
    ]


def read_info(fd: int) -> int | None:
    """The host pid bubblewrap reported on its info pipe (read whole; closes `fd`)."""
    with os.fdopen(fd, "rb") as info:
        text = info.read(1 << 16)
    try:
        pid = json.loads(text)["child-pid"]
    except (ValueError, KeyError, TypeError):
        return None
    return pid if isinstance(pid, int) else None


def separate(pid: int) -> list[str]:
    """The namespaces (of `CHECKED`) in which process `pid` is not in ours, checked by their
    inode numbers in /proc."""
    found = []
    for name in CHECKED:
        try:
            theirs = os.stat(f"/proc/{pid}/ns/{name}").st_ino
            ours = os.stat(f"/proc/self/ns/{name}").st_ino
        except OSError:
            continue
        if theirs != ours:
            found.append(name)
    return found
