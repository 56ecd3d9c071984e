"""Every example runs as written."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import REPO_ROOT


def run_example(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / name), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.real_stores
def test_quickstart():
    out = run_example("quickstart.py", "--episodes", "50")
    assert "accuracy" in out and "tokens" in out
    accuracy = float(out.split("accuracy")[1].split("%")[0])
    assert 0.0 <= accuracy <= 100.0


def test_confidence_controller_uses_the_confidence_observation():
    out = run_example("confidence_controller.py", "--orders", "3")
    gated, ungated = (line for line in out.splitlines() if "accuracy" in line)
    tokens = [float(line.split("tokens")[1].strip().rstrip("k")) for line in (gated, ungated)]
    assert "threshold=0.3" in gated and "threshold=0.0" in ungated
    assert tokens[0] < tokens[1]  # pruning unsure branches saves tokens on this store
