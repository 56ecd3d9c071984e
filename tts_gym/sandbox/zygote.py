"""The parent's handle on the worker process (the zygote): start it, fork sessions, reap them.

The worker starts outside anything of the candidate's: in fresh namespaces (`namespaces`,
where bubblewrap can build them; else in an empty folder of its own), with an interpreter
that puts neither its working folder nor a user site on `sys.path` (`-P -s`) and an
environment of our making. It gets the candidate's source on its stdin (an unnamed file),
never as a file named by the candidate, and imports nothing of it: only a confined session
does, from a file of fixed name (`worker.CANDIDATE_FILE`). Its stdout and stderr, and every
session's, are pipes drained by the parent (`output`).

A run stops early (`stop`) at its wall-time limit, when its processes print more than the
run's cap, or when its folders outgrow the disk quota: the whole process group is killed
and every later call raises `Stopped` with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from tts_gym.sandbox import channel as ch
from tts_gym.sandbox import namespaces
from tts_gym.sandbox.confine import readable_roots
from tts_gym.sandbox.limits import Limits
from tts_gym.sandbox.output import Output, Pipe
from tts_gym.sandbox.processes import kill_group, sandbox_folder, start_group
from tts_gym.sandbox.server import Rejection
from tts_gym.sandbox.wording import DISK_FULL, TOO_SLOW

WORKER = "tts_gym.sandbox.worker"
EXIT_SECONDS = 2.0
"""How long a finished worker may take to exit before its group is killed."""
INTERPRETER_FLAGS = ("-P", "-s", "-B") if sys.version_info >= (3, 11) else ("-s", "-B")
"""No working folder (`-P`, 3.11+; on 3.10 the worker's folder holds no module) and no user
site on `sys.path`; no bytecode written. Not `-I`: it would ignore PYTHONHASHSEED, which keeps
set orders equal between the parent's runs."""


class Stopped(Rejection):
    """The run was stopped by the parent (its time, output or disk ran out)."""


class Zygote:
    """The worker process and its control socket: forks sessions, reaps them."""

    def __init__(
        self,
        source: bytes,
        class_name: str,
        limits: Limits,
        kernel: bool,
        preload: Sequence[str],
        deadline: float,
    ) -> None:
        self.deadline = deadline
        self.limits = limits
        self.stopped: str | None = None
        self.layers: dict[str, str] = {}
        self._folders = contextlib.ExitStack()
        self.output: Output | None = None
        self.worker_output: Pipe | None = None
        self.process: subprocess.Popen | None = None
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.class_name = class_name
        try:
            self._start(source, kernel, preload, theirs)
        except BaseException:
            self.close()
            raise
        finally:
            theirs.close()

    def _start(self, source: bytes, kernel: bool, preload: Sequence[str], theirs) -> None:
        in_namespaces = kernel and namespaces.missing_reason() is None
        roots = readable_roots()
        argv = [sys.executable, *INTERPRETER_FLAGS, "-m", WORKER, str(theirs.fileno())]
        pass_fds = [theirs.fileno()]
        info_read = -1
        if in_namespaces:
            info_read, info_write = os.pipe()
            pass_fds.append(info_write)
            folder = namespaces.SESSION_ROOT
            argv = namespaces.command(argv, roots, self.limits.disk_mb, info_write)
            cwd = Path("/")
            self.output = Output(self.limits.output_kb * 1024, self._printed_too_much)
        else:
            folder = cwd = self._folders.enter_context(sandbox_folder())
            self.output = self._with_disk_accounting(folder)
        env = {
            "PATH": os.defpath,
            "HOME": str(folder),
            "TMPDIR": str(folder),
            "LANG": "C.UTF-8",
            "PYTHONHASHSEED": "0",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        output_read, output_write = os.pipe()
        with tempfile.TemporaryFile() as stdin:  # unnamed: nothing of it stays on disk
            stdin.write(source)
            stdin.seek(0)
            try:
                self.process = start_group(
                    argv,
                    cwd=cwd,
                    env=env,
                    stdin=stdin,
                    stdout=output_write,
                    stderr=output_write,
                    pass_fds=tuple(pass_fds),
                )
            finally:
                os.close(output_write)
                if info_read >= 0:
                    os.close(pass_fds[-1])
        self.worker_output = self.output.watch(output_read)
        request = {
            "class_name": self.class_name,
            "memory_mb": self.limits.memory_mb,
            "cpu_seconds": self.limits.cpu_seconds,
            "kernel": kernel,
            "namespaces": in_namespaces,
            "preload": list(preload),
            "roots": [str(root) for root in roots],
        }
        self.control.send(json.dumps(request).encode())
        try:
            reported = json.loads(self._receive())
        except (ch.ChannelError, ValueError):
            raise Rejection(f"the sandbox did not start: {self.stderr_tail() or '?'}") from None
        self.layers = {str(k): ch.printable(v, 300) for k, v in reported.items()}
        if in_namespaces:
            self.layers["namespaces"] = self._checked_namespaces(info_read)
        elif kernel:
            self.layers["namespaces"] = f"missing: {namespaces.missing_reason()}"

    def _checked_namespaces(self, info_read: int) -> str:
        """The worker's namespaces, as seen from outside."""
        pid = namespaces.read_info(info_read)
        separate = namespaces.separate(pid) if pid is not None else []
        missing = [namespaces.NAMES[n] for n in namespaces.CHECKED if n not in separate]
        if missing:
            return f"missing: the worker shares the {', '.join(missing)} namespace with us"
        _, version = namespaces.bubblewrap()
        held = ", ".join(namespaces.NAMES[n] for n in namespaces.CHECKED)
        return (
            f"{held} ({version}; checked from outside); root: the interpreter and packages "
            f"read-only, /dev/null, its own /proc and a {self.limits.disk_mb} MiB tmpfs"
        )

    def _with_disk_accounting(self, folder: Path) -> Output:
        """Without a tmpfs of its own, the run's folders are measured every tick."""
        quota = self.limits.disk_mb * 1024 * 1024

        def account() -> None:
            if _folder_size(folder) > quota:
                self.stop(DISK_FULL.format(self.limits.disk_mb))

        return Output(self.limits.output_kb * 1024, self._printed_too_much, account)

    # ---- stopping ---------------------------------------------------------------------------
    def stop(self, reason: str) -> None:
        """End the run now (from any thread): kill the sandbox, which closes its sockets."""
        if self.stopped is None:
            self.stopped = reason
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def expire(self) -> None:
        """The watchdog's call at the deadline."""
        self.stop(f"it ran past the wall-time limit of {self.limits.wall_seconds:g} s {TOO_SLOW}")

    def interrupt(self) -> None:
        """The user's SIGINT or SIGTERM."""
        self.stop("the run was interrupted.")

    def _printed_too_much(self) -> None:
        self.stop(
            f"it printed more than the run's cap of {self.limits.output_kb:,} KiB on its "
            "standard output and error."
        )

    def check(self) -> None:
        """Raise `Stopped` if the run was stopped."""
        if self.stopped is not None:
            raise Stopped(self.stopped)

    # ---- sessions ---------------------------------------------------------------------------
    def fork(self) -> tuple[int, socket.socket, Pipe]:
        """A fresh process: its pid, our end of its channel and its output."""
        self.control.send(b"fork")
        self._wait()
        try:
            message, fds, _, _ = socket.recv_fds(self.control, 64, 2)
        except TimeoutError:
            self.expire()
            message, fds = b"", []
        except OSError:
            message, fds = b"", []
        self.check()
        if not message or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            raise Rejection(f"the sandbox could not start a process: {self.stderr_tail() or '?'}")
        return int(message), socket.socket(fileno=fds[0]), self.output.watch(fds[1])

    def reap(self, pid: int) -> int | None:
        """Wait for the process to end; its exit status (negative: the signal), None if lost."""
        with contextlib.suppress(OSError):
            self.control.send(b"reap %d" % pid)
        try:
            return int(self._receive())
        except (ch.ChannelError, ValueError, OSError):
            self.check()
            return None

    def _receive(self) -> bytes:
        self._wait()
        try:
            message = self.control.recv(1 << 16)
        except TimeoutError:
            self.expire()
            self.check()
            raise
        if not message:
            raise ch.ChannelError("the sandbox closed its control channel", closed=True)
        return message

    def _wait(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.expire()
        self.check()
        self.control.settimeout(left)

    def stderr_tail(self) -> str:
        return "" if self.worker_output is None else self.worker_output.text(wait=1.0)

    def close(self) -> None:
        """Let the worker exit (so its processes' CPU time is accounted to us), then kill
        whatever is left of its group."""
        if self.process is not None:
            if self.stopped is None:
                with contextlib.suppress(OSError):
                    self.control.send(b"exit")
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=EXIT_SECONDS)
            kill_group(self.process)
        if self.output is not None:
            self.output.close()
        self.control.close()
        self._folders.close()


def _folder_size(folder: Path) -> int:
    """Bytes of the files below `folder` (those that vanish while counted count nothing)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total
