"""Helpers shared by the tests (controllers, paths); not tests themselves."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


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
