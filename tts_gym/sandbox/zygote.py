"""The parent's handle on the worker process (the zygote): start it, fork sessions, reap them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tts_gym.sandbox import channel as ch
from tts_gym.sandbox.limits import Limits
from tts_gym.sandbox.processes import kill_group, start_group
from tts_gym.sandbox.server import Rejection

STDERR_TAIL_LINES = 5


class Zygote:
    """The worker process and its control socket: forks sessions, reaps them."""

    def __init__(
        self,
        folder: Path,
        filename: str,
        class_name: str,
        limits: Limits,
        kernel: bool,
        preload: Sequence[str],
        deadline: float,
    ) -> None:
        self.deadline = deadline
        self.expired = False
        self.filename = filename
        self.class_name = class_name
        self.log = open(folder / "stderr.log", "w+b")  # noqa: SIM115 - closed in close()
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        work = folder / "work"
        env = {
            "PATH": os.defpath,
            "HOME": str(work),
            "TMPDIR": str(work),
            "LANG": "C.UTF-8",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        command = [sys.executable, "-s", "-B", "-m", "tts_gym.sandbox.worker"]
        self.process = start_group(
            [*command, str(theirs.fileno())],
            cwd=work,
            env=env,
            stdout=self.log,
            stderr=self.log,
            pass_fds=(theirs.fileno(),),
        )
        theirs.close()
        request = {
            "filename": filename,
            "class_name": class_name,
            "memory_mb": limits.memory_mb,
            "cpu_seconds": limits.cpu_seconds,
            "kernel": kernel,
            "preload": list(preload),
        }
        self.control.send(json.dumps(request).encode())
        try:
            self.layers = json.loads(self._receive())
        except ch.ChannelError:
            raise Rejection(f"the sandbox did not start: {self.stderr_tail() or '?'}") from None

    def expire(self) -> None:
        """The watchdog's call at the deadline: kill the sandbox, which closes its sockets."""
        self.expired = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def fork(self) -> tuple[int, socket.socket]:
        """A fresh process: its pid and our end of its channel."""
        self.control.send(b"fork")
        self._wait()
        try:
            message, fds, _, _ = socket.recv_fds(self.control, 64, 1)
        except OSError:
            message, fds = b"", []
        if self.expired:
            raise TimeoutError
        if not message or len(fds) != 1:
            raise Rejection(f"the sandbox could not start a process: {self.stderr_tail() or '?'}")
        return int(message), socket.socket(fileno=fds[0])

    def reap(self, pid: int) -> int | None:
        """Wait for the process to end; its exit status (negative: the signal), None if lost."""
        with contextlib.suppress(OSError):
            self.control.send(b"reap %d" % pid)
        try:
            return int(self._receive())
        except (ch.ChannelError, ValueError, OSError):
            if self.expired:
                raise TimeoutError from None
            return None

    def _receive(self) -> bytes:
        self._wait()
        message = self.control.recv(1 << 16)
        if not message:
            raise ch.ChannelError("the sandbox closed its control channel", closed=True)
        return message

    def _wait(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0 or self.expired:
            raise TimeoutError
        self.control.settimeout(left)

    def stderr_tail(self) -> str:
        self.log.flush()
        self.log.seek(0, os.SEEK_END)
        size = self.log.tell()
        self.log.seek(max(0, size - 4000))
        text = self.log.read().decode("utf-8", "replace")
        return "\n".join(text.strip().splitlines()[-STDERR_TAIL_LINES:])

    def close(self) -> None:
        kill_group(self.process)
        self.control.close()
        self.log.close()
