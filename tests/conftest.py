"""Shared fixtures. The real AutoTTS stores are read from `../shared/replay` (never committed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_REPLAY = Path(
    os.environ.get("TTS_GYM_DATA", REPO_ROOT.parent / "shared" / "replay")
).resolve()
os.environ.setdefault("TTS_GYM_DATA", str(SHARED_REPLAY))


@pytest.fixture(scope="session")
def shared_replay() -> Path:
    """The folder holding `autotts/<Model>/<benchmark>.json`; the tests need the real stores."""
    if not (SHARED_REPLAY / "autotts").is_dir():
        pytest.fail(f"the AutoTTS replay stores are expected at {SHARED_REPLAY} (see README)")
    return SHARED_REPLAY


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: long checks (minutes); opt in with `pytest -m slow`, skipped otherwise"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="slow: opt in with `pytest -m slow`")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
