"""Run a child in its own process group with a wall-clock limit; kill the whole group after."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import BinaryIO


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
    """(return code, whether the wall-clock limit was hit). Nothing of the group survives."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )
    timed_out = False
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return process.returncode, timed_out
