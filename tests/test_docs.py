"""The README and docs/ point only at what a checkout has: every relative link resolves (to a
heading, where it names one), every repository path they name exists, none names a file or
folder that only the project's own machines have, and the README's set-up commands are the
ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

PAGES = [
    REPO_ROOT / "README.md",
    REPO_ROOT / "traces" / "FORMAT.md",
    *sorted((REPO_ROOT / "docs").glob("*.md")),
]
LINK = re.compile(r"\]\(([^)\s]+)\)")  # [text](target) and ![alt](target)
# A repository path in backticks: a top-level folder of the repository, then more path.
REPO_PATH = re.compile(r"`((?:tts_gym|agents|examples|benchmarks|docs|tests|traces)/[^`\s:]*)")
# Design notes and data folders that live beside the repository on the project's machines.
OFF_REPO = ["../shared", "ARCHITECTURE.md", "BASELINES.md", "LATENCY.md", "SOURCE.md"]


def page_id(page: Path) -> str:
    return str(page.relative_to(REPO_ROOT))


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation but '-' and '_' dropped, spaces '-'."""
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.DOTALL | re.MULTILINE)
    headings = re.findall(r"^#+\s+(.*)$", text, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def prose(page: Path) -> str:
    """The page without its code blocks: commands there name files the user creates."""
    return re.sub(r"^```.*?^```", "", page.read_text(), flags=re.DOTALL | re.MULTILINE)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in LINK.findall(prose(page)):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target} (no such heading)")
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_named_repository_path_exists(page: Path) -> None:
    missing = [
        path
        for path in REPO_PATH.findall(page.read_text())
        if "*" not in path and not (REPO_ROOT / path.rstrip(".,")).exists()
    ]
    assert missing == []


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_no_page_names_what_only_the_projects_machines_have(page: Path) -> None:
    text = page.read_text()
    assert [name for name in OFF_REPO if name in text] == []
    assert "pip install 'tts-gym" not in text and 'pip install "tts-gym' not in text


def test_the_readme_is_short_and_starts_with_the_set_up_that_ci_runs() -> None:
    lines = (REPO_ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200
    start = lines.index("```bash")
    commands = lines[start + 1 : lines.index("```", start)]
    assert start + len(commands) < 40 and len(commands) == 2
    ci = (REPO_ROOT / ".ci" / "run").read_text().splitlines()
    assert all(command in ci for command in commands)
