"""Helpers shared by the tests (controllers, paths); not tests themselves."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def allow_missing_layers() -> list[str]:
    """`--allow-missing-layers` where this machine lacks the sandbox's core layers (no
    bubblewrap): the commands refuse to score there otherwise; empty where they hold."""
    from tts_gym.sandbox import ALLOW_FLAG, missing_core_layers

    return [ALLOW_FLAG] if missing_core_layers() else []


def default_sigint() -> None:
    """A `preexec_fn` giving the child Ctrl-C's default action: a test run in the background
    of a non-interactive shell (as CI scripts may run) starts with SIGINT ignored, and a
    child would inherit that and rightly ignore the Ctrl-C the test sends."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def signal_mid_run(owner, how: int = 9, sandboxes: int = 1) -> list[int]:
    """Wait until `owner` (a Popen) runs `sandboxes` sandboxes (each its worker and a
    session), send it signal `how`, wait for it to end and for every sandboxed process it had
    to be gone; the sandboxed processes seen before the signal (all gone)."""
    import os
    import subprocess
    import time

    deadline = time.monotonic() + 90
    seen: dict[int, int] = {}
    while time.monotonic() < deadline and len(seen) < 2 * sandboxes and owner.poll() is None:
        seen = sandboxed_processes(owner.pid)
        time.sleep(0.05)
    assert len(seen) >= 2 * sandboxes, "the run never started its sandboxes"
    os.kill(owner.pid, how)
    try:
        owner.wait(timeout=60)
    except subprocess.TimeoutExpired:
        owner.kill()
        raise AssertionError(f"the run did not end within 60 s of signal {how}") from None
    deadline = time.monotonic() + 10
    while _alive(seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _alive(seen) == [], "sandboxed processes outlived their run"
    return list(seen)


def sandboxed_processes(owner: int, *, launcher: bool = True) -> dict[int, int]:
    """The sandbox's processes below `owner` (the worker and its sessions, and with
    `launcher` bubblewrap's, whose command line names the worker too): pid -> start time."""
    parents, commands = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                commands[int(entry.name)] = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            fields = stat.rpartition(")")[2].split()
            parents[int(entry.name)] = (int(fields[1]), int(fields[19]))
    found = {}
    for pid, command in commands.items():
        if b"tts_gym.sandbox.worker" not in command:
            continue
        if not launcher and Path(command.split(b"\0")[0].decode()).name == "bwrap":
            continue
        ancestor = pid
        while ancestor in parents and ancestor not in (0, 1, owner):
            ancestor = parents[ancestor][0]
        if ancestor == owner and pid in parents:
            found[pid] = parents[pid][1]
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


def _alive(processes: dict[int, int]) -> list[int]:
    from tts_gym.sandbox.processes import start_time

    return [pid for pid, started in processes.items() if start_time(pid) == started]


HELD_OUT_VARIANTS = ("re-serialised", "reordered", "one branch changed", "20-question subset")
"""The disguises of a held-out store that its questions' fingerprints see through."""


def held_out_variant(source: Path, variant: str, dest: Path) -> Path:
    """A copy of the store file `source` in disguise (one of `HELD_OUT_VARIANTS`) at `dest`."""
    import json

    questions = json.loads(source.read_text())
    if variant == "re-serialised":  # other key order, no indentation, non-ASCII escaped
        text = json.dumps([dict(sorted(q.items(), reverse=True)) for q in questions])
    elif variant == "reordered":
        text = json.dumps(questions[::-1], indent=1)
    elif variant == "one branch changed":
        questions[0]["each_branch"][0][1] += 1  # one branch's token count
        text = json.dumps(questions, indent=2)
    elif variant == "20-question subset":
        text = json.dumps(questions[5:25], indent=2)
    else:
        raise ValueError(variant)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text)
    return dest
