"""Helpers shared by the tests (controllers, paths); not tests themselves."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def kill_9_mid_run(owner, folder: Path) -> Path:
    """Wait until `owner` (a Popen) runs a sandbox in `folder`, `kill -9` it, wait until the
    sandbox's processes are gone (they die with it); the sandbox folder it left behind."""
    import signal
    import time

    from tts_gym.sandbox.processes import PREFIX

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
