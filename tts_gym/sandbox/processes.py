"""The sandbox's processes and, where it needs one, its folder: named after their owner, gone
with it.

Where bubblewrap builds the namespaces, the worker's folder is a tmpfs of its own mount
namespace and nothing is made in the host's temporary folder. Elsewhere a run's folder is
`tts-gym-sandbox-<pid>-<start time>-<random>` in the temporary folder; the owner's pid and
start time (from /proc, else the pid alone) tell a later run whether the owner is still
alive, and folders of dead owners (a `kill -9`) are removed by the next run. The worker runs
in its own process group, killed when the run ends; its processes also die with their parent
(`PR_SET_PDEATHSIG`), and SIGINT or SIGTERM during a run stop it first (`Interruptible`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

PREFIX = "tts-gym-sandbox-"


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux); None if unknown or gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[19])


def _alive(pid: int, started: int | None) -> bool:
    if Path("/proc/self/stat").exists():
        return started is not None and start_time(pid) == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_folders(parent: Path | None = None) -> list[Path]:
    """Remove the sandbox folders whose owner process is gone; returns what was removed."""
    parent = Path(parent or tempfile.gettempdir())
    removed = []
    for folder in parent.glob(f"{PREFIX}*"):
        fields = folder.name[len(PREFIX) :].split("-")
        if len(fields) != 3 or not fields[0].isdigit() or not fields[1].isdigit():
            continue  # not named by this scheme: not ours to judge
        pid, started = int(fields[0]), int(fields[1])
        if not _alive(pid, started or None):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@contextlib.contextmanager
def sandbox_folder() -> Iterator[Path]:
    """A fresh folder named after this process, removed afterwards (stale ones first)."""
    remove_stale_folders()
    pid = os.getpid()
    name = f"{PREFIX}{pid}-{start_time(pid) or 0}-{secrets.token_hex(4)}"
    folder = Path(tempfile.gettempdir()) / name
    folder.mkdir(mode=0o700)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class Interruptible:
    """While a run is on, SIGINT and SIGTERM stop it: the registered `stop` kills its
    processes at once, then `KeyboardInterrupt` unwinds it, so its processes and folders are
    removed on the way out (by default SIGTERM ends Python without). Python can swallow the
    exception (raised inside a ctypes callback, as numba's cache loader is), so it is raised
    again when the run ends. Only in the main thread, and only for signals nobody else handles.
    """

    def __init__(self) -> None:
        self.signalled: int | None = None
        self._stop: Callable[[], None] | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> Interruptible:
        if threading.current_thread() is threading.main_thread():
            for signum, default in _DEFAULT_HANDLERS.items():
                if signal.getsignal(signum) is default:
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def stop_with(self, stop: Callable[[], None]) -> None:
        """Call `stop` on a signal (at once, if one came already)."""
        self._stop = stop
        if self.signalled is not None:
            stop()

    def _handle(self, signum: int, frame: object) -> None:
        self.signalled = signum
        if self._stop is not None:
            self._stop()
        raise KeyboardInterrupt

    def __exit__(self, kind: type | None, *rest: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        if self.signalled is not None and kind is None:
            raise KeyboardInterrupt


_DEFAULT_HANDLERS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}


def start_group(
    command: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    stdout: BinaryIO | int,
    stderr: BinaryIO | int,
    stdin: BinaryIO | None = None,
    pass_fds: tuple[int, ...] = (),
) -> subprocess.Popen:
    """Start `command` as the leader of a new process group (see `kill_group`)."""
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        pass_fds=pass_fds,
        start_new_session=True,
    )


def kill_group(process: subprocess.Popen) -> int:
    """Kill the process's whole group and reap the leader; its return code."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    return process.wait()


def run_group(
    command: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout: float,
    stdout: BinaryIO,
    stderr: BinaryIO,
    stdin: BinaryIO | None = None,
) -> tuple[int, bool]:
    """Run `command` in its own group: (return code, whether `timeout` seconds ran out).

    Nothing of the group survives: it is killed when the leader ends or the time is up.
    """
    process = start_group(command, cwd=cwd, env=env, stdout=stdout, stderr=stderr, stdin=stdin)
    timed_out = False
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        kill_group(process)
    return process.returncode, timed_out
