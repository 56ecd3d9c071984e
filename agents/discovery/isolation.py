"""Confinement applied by the sandbox worker to itself, before it loads a candidate.

Four layers, each as strong as the OS allows without privileges (`describe` says which held):
- resource limits (`setrlimit`): address space, CPU seconds, file size, no core dumps;
- network: a fresh network namespace (`unshare(CLONE_NEWNET)`, in a new user namespace when
  not root), which has no interface but a loopback that is down; else Landlock's TCP rules;
- filesystem: Landlock (Linux >= 5.13): read only below the Python installation, the
  tts-gym packages and the scratch folder, write only in the scratch folder;
- an audit hook (`sys.addaudithook`, every platform): the process ends at once when code
  opens a path outside those roots, lists a folder, creates a socket, starts a process, loads
  native code or walks the interpreter's objects. A candidate cannot catch this.

The audit hook sees Python-level actions only (native code can bypass it), which is why the
kernel layers come first where they exist; the parent adds the wall-time limit.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

VIOLATION_EXIT = 86
"""Exit status of a worker ended by the audit hook."""

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000

# Landlock (include/uapi/linux/landlock.h); the syscall numbers are the same on every arch.
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_PDEATHSIG = 1
_FS_EXECUTE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 2, 1 << 3
_FS_READ = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
_FS_ALL_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


def set_limits(memory_mb: int, cpu_seconds: int, file_mb: int = 64) -> None:
    """Hard limits on this process: exceeding the CPU time kills it with SIGXCPU/SIGKILL."""
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb * 1024 * 1024,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def die_with_parent() -> None:
    """Linux: be killed when the parent dies (a killed loop leaves no candidate running)."""
    libc = _libc()
    parent = os.getppid()
    if libc is not None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def isolate_network() -> str | None:
    """Move into an empty network namespace; the mechanism used, or None if not permitted."""
    libc = _libc()
    if libc is None:
        return None
    if libc.unshare(_CLONE_NEWNET) == 0:
        return "network namespace"
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) != 0:
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


def landlock(read_roots: Iterable[Path], write_root: Path) -> tuple[str | None, bool]:
    """Restrict this process's filesystem (and, from ABI 4, TCP) access with Landlock.

    Returns (description or None when unavailable, whether TCP bind/connect are denied).
    """
    libc = _libc()
    if libc is None:
        return None, False
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)
    if abi < 1:
        return None, False
    fs_all = _FS_ALL_BY_ABI[max(v for v in _FS_ALL_BY_ABI if v <= abi)]
    attr = _RulesetAttr(fs_all, 0, 0)
    size = 8
    if abi >= 4:
        attr.handled_access_net = _NET_BIND_TCP | _NET_CONNECT_TCP
        size = 16
    if abi >= 6:
        attr.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
        size = 24
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    if ruleset < 0:
        return None, False
    try:
        rules = [(root, _FS_READ & fs_all) for root in read_roots] + [(write_root, fs_all)]
        for path, access in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                rule = _PathBeneath(access, fd)
                libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0)
            finally:
                os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return None, False
        if libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0) != 0:
            return None, False
    finally:
        os.close(ruleset)
    return f"Landlock ABI {abi}", abi >= 4


# Audit events refused outright (prefix match), with the reason shown to the proposer.
_REFUSED_EVENTS = {
    "socket.": "opened a network socket",
    "subprocess.": "started a process",
    "os.system": "started a process",
    "os.exec": "started a process",
    "os.posix_spawn": "started a process",
    "os.spawn": "started a process",
    "os.fork": "started a process",
    "os.forkpty": "started a process",
    "pty.spawn": "started a process",
    "os.kill": "sent a signal",
    "os.killpg": "sent a signal",
    "ctypes.": "loaded native code (ctypes)",
    "sys._current_frames": "inspected the interpreter's frames",
    "gc.get_referrers": "walked the interpreter's objects",
    "gc.get_referents": "walked the interpreter's objects",
    "gc.get_objects": "walked the interpreter's objects",
    "os.symlink": "created a link",
    "os.link": "created a link",
    "os.chdir": "changed folder",
    "os.chroot": "changed folder",
}
# Events whose first argument is a path that must lie in the scratch folder (changes).
_WRITE_EVENTS = (
    "os.remove",
    "os.rename",
    "os.rmdir",
    "os.mkdir",
    "os.truncate",
    "os.chmod",
    "os.chown",
    "os.utime",
    "shutil.",
)
# Events whose first argument is a path that must lie in a readable root.
_READ_EVENTS = ("os.listdir", "os.scandir", "glob.glob")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def install_audit_hook(
    read_roots: Iterable[Path], write_root: Path, report: Callable[[str], None]
) -> None:
    """End the process (after `report(reason)`) on the first action the sandbox refuses."""
    readable = tuple(os.path.join(os.path.realpath(root), "") for root in read_roots)
    writable = os.path.join(os.path.realpath(write_root), "")
    refused = tuple(_REFUSED_EVENTS.items())
    realpath, fspath, exit_now = os.path.realpath, os.fspath, os._exit

    def inside(path: object, roots: tuple[str, ...]) -> bool:
        if isinstance(path, int):  # an already open descriptor
            return True
        if path is None:  # os.listdir() and friends: the current folder
            path = "."
        try:
            full = os.path.join(realpath(fspath(path)), "")
        except (TypeError, ValueError):
            return False
        return full.startswith(roots)

    def refuse(reason: str) -> None:
        try:
            report(reason)
        finally:
            exit_now(VIOLATION_EXIT)

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, flags = args[0], args[2]
            writing = bool(flags & _WRITE_FLAGS) if isinstance(flags, int) else True
            roots = (writable,) if writing else (*readable, writable)
            if not inside(path, roots):
                refuse(f"{'wrote' if writing else 'read'} {path!s} outside its folder")
            return
        for prefix, reason in refused:
            if event.startswith(prefix):
                refuse(f"{reason} ({event})")
        if event.startswith(_WRITE_EVENTS) and args and not inside(args[0], (writable,)):
            refuse(f"changed {args[0]!s} outside its folder ({event})")
        if event.startswith(_READ_EVENTS) and args and not inside(args[0], (*readable, writable)):
            refuse(f"listed {args[0]!s} outside its folder ({event})")

    sys.addaudithook(hook)


def readable_roots() -> list[Path]:
    """What a sandboxed candidate may read besides its scratch folder: Python and tts-gym."""
    import tts_gym_agents

    import tts_gym

    roots = {sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix}
    roots |= {os.path.dirname(tts_gym.__file__), os.path.dirname(tts_gym_agents.__file__)}
    return sorted(Path(os.path.realpath(root)) for root in roots)
