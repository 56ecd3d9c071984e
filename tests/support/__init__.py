"""Helpers shared by the tests (controllers, paths); not tests themselves."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def kill_9_mid_run(owner, folder: Path) -> Path:
    """Wait until `owner` (a Popen) runs a sandbox in `folder`, `kill -9` it, wait until the
    sandbox's processes are gone (they die with it); the sandbox folder it left behind."""
    import signal
    import time

    from tts_gym.evaluation.sandbox.processes import PREFIX

    deadline = time.monotonic() + 60
    found: list[Path] = []
    while time.monotonic() < deadline and not (found and processes_in(found[0])):
        found = list(folder.glob(f"{PREFIX}{owner.pid}-*"))
        time.sleep(0.1)
    assert found and processes_in(found[0]), "the run never started its sandbox"
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    deadline = time.monotonic() + 10
    while processes_in(found[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_in(found[0]) == []
    return found[0]


def processes_in(folder: Path) -> list[int]:
    """Processes whose working folder lies in `folder` (a sandbox's worker and sessions)."""
    import os

    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd").startswith(str(folder)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def in_tmpfs(options: str, folder: Path, argv: list[str]):
    """Run `argv` with a fresh tmpfs (mount `options`) on `folder`, then list what it holds.

    The mount lives in a private user and mount namespace (`unshare -rm`), so it needs no
    privileges and vanishes with the process.
    """
    import subprocess

    import pytest

    script = 'D=$2; mount -t tmpfs -o "$1" tmpfs "$D" || exit 99; shift 2; "$@"'
    script += '; code=$?; find "$D" -mindepth 1; exit $code'
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, "sh", options, str(folder), *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode == 99:
        pytest.skip(f"cannot mount a tmpfs in a user namespace here: {done.stderr.strip()}")
    return done
