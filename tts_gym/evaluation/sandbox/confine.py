"""Confinement that the sandbox's processes apply to themselves before any untrusted code runs.

None of this is what keeps the data away from a candidate: its process never holds a store
(see `tts_gym.evaluation.sandbox`). These layers limit what else it can do, each as strong as
the OS allows without privileges (the worker reports which held):

- resource limits (`setrlimit`): address space, CPU seconds, file size, no core dumps;
- network: a fresh network namespace (`unshare(CLONE_NEWNET)`, in a new user namespace when
  not root), which has no interface but a loopback that is down; else Landlock's TCP rules;
- filesystem: Landlock (Linux >= 5.13): read only below the Python installation and the
  tts-gym package, write only in the process's own folder; from ABI 6 no signals to
  processes outside the sandbox either;
- processes: a seccomp filter (Linux, x86-64 and arm64) refuses fork, exec, mknod (fifos)
  and ptrace at the kernel, whatever code asks;
- an audit hook (`sys.addaudithook`, every platform): the process ends at once when Python
  code opens a path outside those roots (relative paths are resolved against their `dir_fd`),
  opens a folder (so it never holds a folder descriptor), writes, links or makes folders
  outside its own folder, lists a folder outside the roots, creates a socket, starts a
  process, sends a signal, loads native code (ctypes) or walks the interpreter's objects;
  the calls Python does not audit (`os.mkfifo`, `os.mknod`, `_posixsubprocess.fork_exec`)
  are replaced by refusals. A candidate cannot catch the end.

The audit hook sees Python-level actions only; the kernel layers hold against native code.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import signal
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

VIOLATION_EXIT = 86
"""Exit status of a sandboxed process ended by the audit hook."""

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_CLONE_THREAD = 0x00010000

# Landlock (include/uapi/linux/landlock.h); the syscall numbers are the same on every arch.
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_PDEATHSIG = 1
_PR_SET_SECCOMP = 22
_FS_EXECUTE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 2, 1 << 3
_FS_READ = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
_FS_ALL_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1

# seccomp: the syscalls refused, per machine (arm64 has no fork, vfork or mknod of its own).
_SECCOMP_MODE_FILTER = 2
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7, "arm64": 0xC00000B7}
_DENIED_SYSCALLS = {
    # fork, vfork, execve, execveat, mknod, mknodat, ptrace, process_vm_readv/writev
    "x86_64": (57, 58, 59, 322, 133, 259, 101, 310, 311),
    "aarch64": (221, 281, 33, 117, 270, 271),
}
_CLONE = {"x86_64": 56, "aarch64": 220}
_CLONE3 = 435  # its flags sit behind a pointer: answered ENOSYS, so libc falls back to clone
_X32_SYSCALL_BIT = 0x40000000


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
    """Linux: be killed when the parent dies (a killed run leaves no sandboxed process)."""
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


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


def landlock(read_roots: Iterable[Path], write_root: Path) -> tuple[str | None, bool]:
    """Restrict this process's filesystem (and, from ABI 4, TCP) access with Landlock.

    Layers stack: a process that calls this again can only narrow what it may reach.
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


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


_LD_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _EPERM, _ENOSYS = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38


def seccomp_no_processes() -> str | None:
    """Refuse fork, exec, mknod (fifos) and ptrace at the kernel (threads stay allowed).

    Linux on x86-64 and arm64; returns a description, or None where unavailable.
    """
    libc = _libc()
    machine = platform.machine()
    machine = "aarch64" if machine == "arm64" else machine
    if libc is None or machine not in _DENIED_SYSCALLS:
        return None
    denied = _DENIED_SYSCALLS[machine]
    # Jump offsets count from the next instruction; the last three are the verdicts.
    program: list[tuple[int, int, int, int]] = [(_LD_ABS, 0, 0, 4)]  # arch
    body: list[tuple[int, str | int, str | int, int]] = [
        (_JEQ, 0, "deny", _AUDIT_ARCH[machine]),
        (_LD_ABS, 0, 0, 0),  # syscall number
    ]
    if machine == "x86_64":
        body.append((_JGE, "deny", 0, _X32_SYSCALL_BIT))
    body += [(_JEQ, "deny", 0, nr) for nr in denied]
    body += [
        (_JEQ, "nosys", 0, _CLONE3),
        (_JEQ, 0, "allow", _CLONE[machine]),
        (_LD_ABS, 0, 0, 16),  # clone's flags (low word of the first argument)
        (_JSET, "allow", "deny", _CLONE_THREAD),
    ]
    end = len(program) + len(body)
    targets = {"deny": end, "allow": end + 1, "nosys": end + 2}
    for index, (code, jt, jf, k) in enumerate(body, start=len(program)):
        here = index + 1
        jt = targets[jt] - here if isinstance(jt, str) else jt
        jf = targets[jf] - here if isinstance(jf, str) else jf
        program.append((code, jt, jf, k))
    program += [(_RET, 0, 0, _EPERM), (_RET, 0, 0, _ALLOW), (_RET, 0, 0, _ENOSYS)]
    filters = (_SockFilter * len(program))(*[_SockFilter(*item) for item in program])
    fprog = _SockFprog(len(program), filters)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return None
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        return None
    return "seccomp (no fork, exec, mknod, ptrace)"


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
    "signal.pthread_kill": "sent a signal",
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
# Events that change the path(s) they name; (path argument, its dir_fd argument) pairs.
_WRITE_EVENTS = {
    "os.remove": ((0, 1),),
    "os.rmdir": ((0, 1),),
    "os.mkdir": ((0, 2),),
    "os.rename": ((0, 2), (1, 3)),
    "os.truncate": ((0, None),),
    "os.chmod": ((0, 2),),
    "os.chown": ((0, 3),),
    "os.utime": ((0, 3),),
    "os.setxattr": ((0, None),),
    "os.removexattr": ((0, None),),
    "shutil.rmtree": ((0, None),),
    "shutil.copyfile": ((1, None),),
    "shutil.copymode": ((1, None),),
    "shutil.copystat": ((1, None),),
    "shutil.copytree": ((1, None),),
    "shutil.move": ((0, None), (1, None)),
    "shutil.chown": ((0, None),),
    "shutil.make_archive": ((0, None),),
    "shutil.unpack_archive": ((1, None),),
}
# Events whose first argument is a folder that must lie in a readable root.
_READ_EVENTS = ("os.listdir", "os.scandir", "glob.glob", "os.listxattr", "os.getxattr")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
# Calls that raise no audit event, replaced by refusals before untrusted code runs.
_UNAUDITED = (("os", "mkfifo"), ("os", "mknod"), ("posix", "mkfifo"), ("posix", "mknod"))
_UNAUDITED += (("_posixsubprocess", "fork_exec"),)


def install_audit_hook(
    read_roots: Iterable[Path], write_root: Path, report: Callable[[str], None]
) -> None:
    """End the process (after `report(reason)`) on the first action the sandbox refuses."""
    readable = tuple(os.path.join(os.path.realpath(root), "") for root in read_roots)
    writable = os.path.join(os.path.realpath(write_root), "")
    refused = tuple(_REFUSED_EVENTS.items())
    realpath, fspath, isdir, join = os.path.realpath, os.fspath, os.path.isdir, os.path.join
    readlink, exit_now = os.readlink, os._exit

    def resolve(path: object, dir_fd: object = None) -> str | None:
        """The absolute real path that `path` (relative to `dir_fd`) names; None if unknown."""
        try:
            if isinstance(path, int):  # an open descriptor: where it points
                return realpath(readlink(f"/proc/self/fd/{path}"))
            path = fspath(path)
            if isinstance(path, bytes):
                path = os.fsdecode(path)
            if isinstance(dir_fd, int) and dir_fd >= 0 and not os.path.isabs(path):
                path = join(readlink(f"/proc/self/fd/{dir_fd}"), path)
            return realpath(path)
        except (TypeError, ValueError, OSError):
            return None

    def inside(path: str | None, roots: tuple[str, ...]) -> bool:
        return path is not None and join(path, "").startswith(roots)

    def refuse(reason: str) -> None:
        try:
            report(reason)
        finally:
            exit_now(VIOLATION_EXIT)

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, flags = args[0], args[2]
            if path is None or isinstance(path, int):  # wrapping a descriptor it holds
                return
            writing = bool(flags & _WRITE_FLAGS) if isinstance(flags, int) else True
            full = resolve(path)
            if not inside(full, (writable,) if writing else (*readable, writable)):
                refuse(f"{'wrote' if writing else 'read'} {path!s} outside its folder")
            if isdir(full):
                refuse(f"opened the folder {path!s} (folder descriptors are not allowed)")
            return
        for prefix, reason in refused:
            if event.startswith(prefix):
                refuse(f"{reason} ({event})")
        changes = _WRITE_EVENTS.get(event)
        if changes is not None:
            for path_at, fd_at in changes:
                path = args[path_at] if path_at < len(args) else None
                dir_fd = args[fd_at] if fd_at is not None and fd_at < len(args) else None
                if not inside(resolve(path, dir_fd), (writable,)):
                    refuse(f"changed {path!s} outside its folder ({event})")
        elif event.startswith(_READ_EVENTS) and args:
            folder = "." if args[0] is None else args[0]
            if not inside(resolve(folder), (*readable, writable)):
                refuse(f"listed {folder!s} outside its folder ({event})")

    for module_name, name in _UNAUDITED:
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, name):
            setattr(module, name, _refusal(refuse, f"{module_name}.{name}"))
    sys.addaudithook(hook)


def _refusal(refuse: Callable[[str], None], name: str) -> Callable[..., None]:
    what = "started a process" if "fork" in name else "made a fifo or device node"

    def refused(*args: object, **kwargs: object) -> None:
        refuse(f"{what} ({name})")

    return refused


def readable_roots() -> list[Path]:
    """What a sandboxed process may read besides its own folder: Python and tts-gym."""
    import tts_gym

    roots = {sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix}
    roots.add(os.path.dirname(tts_gym.__file__))
    return sorted(Path(os.path.realpath(root)) for root in roots)
