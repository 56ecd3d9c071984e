"""The audit hook: a sandboxed process ends on the first Python-level action it may not take.

`install_audit_hook` (every platform) ends the process at once when Python code opens a path
outside the readable roots (relative paths are resolved against their `dir_fd`), opens a
folder (so it never holds a folder descriptor), writes, links or makes folders outside its
own folder, lists a folder outside the roots, creates a socket, starts a process, sends a
signal, loads native code (ctypes) or walks the interpreter's objects; the calls Python does
not audit (`os.mkfifo`, `os.mknod`, `_posixsubprocess.fork_exec`) are replaced by refusals.
A candidate cannot catch the end.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from tts_gym.sandbox.confine import VIOLATION_EXIT

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
