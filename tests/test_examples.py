"""Every example runs as written."""

from __future__ import annotations

import re
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


def readme_quickstart() -> tuple[str, str]:
    """The README's quickstart: the code block after 'The environment' heading and its output."""
    section = (REPO_ROOT / "README.md").read_text().split("## The environment:")[1]
    blocks = re.findall(r"^```(\w*)\n(.*?)^```$", section, flags=re.DOTALL | re.MULTILINE)
    (_, code), (_, output) = blocks[:2]
    assert blocks[0][0] == "python" and blocks[1][0] == ""
    return code, output


def test_the_readme_quickstart_is_the_example():
    code, _ = readme_quickstart()
    assert code == (REPO_ROOT / "examples" / "quickstart.py").read_text()


@pytest.mark.real_stores
def test_quickstart_prints_what_the_readme_shows():
    _, output = readme_quickstart()
    out = run_example("quickstart.py")
    assert out == output
    accuracy = float(out.split("episodes: ")[1].split("%")[0])
    assert accuracy > 50.0  # the rule does something: a random policy gets far less


def test_confidence_controller_uses_the_confidence_observation():
    out = run_example("confidence_controller.py", "--orders", "3")
    gated, ungated = (line for line in out.splitlines() if "accuracy" in line)
    tokens = [float(line.split("tokens")[1].strip().rstrip("k")) for line in (gated, ungated)]
    assert "threshold=0.3" in gated and "threshold=0.0" in ungated
    assert tokens[0] < tokens[1]  # pruning unsure branches saves tokens on this store
