"""`kill -9` a `tts-gym` command in the middle of its run, once it has finished a question."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tts_gym.collect import shard_folder


def kill_9_after_first_shard(
    args: list[str], store: Path, env: dict[str, str] | None = None
) -> list[Path]:
    """Run `tts-gym ARGS` (its output `store`) in a child process, `kill -9` it as soon as its
    work folder holds a finished question, and return the shards it left."""
    run = subprocess.Popen(
        [sys.executable, "-c", "import sys; from tts_gym.cli import main; sys.exit(main())"] + args,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not list(shard_folder(store).glob("q*.json")) and run.poll() is None:
        assert time.monotonic() < deadline, "the run never finished a question"
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    _, err = run.communicate()
    assert run.returncode == -signal.SIGKILL, err.decode(errors="replace")
    return sorted(shard_folder(store).glob("q*.json"))
