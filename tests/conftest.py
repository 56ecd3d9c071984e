"""Shared fixtures. The real AutoTTS stores are read from `../shared/replay` (never committed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_REPLAY = Path(os.environ.get("TTS_GYM_DATA", REPO_ROOT.parent / "shared" / "replay"))
os.environ.setdefault("TTS_GYM_DATA", str(SHARED_REPLAY))


@pytest.fixture(scope="session")
def shared_replay() -> Path:
    """The folder holding `autotts/<Model>/<benchmark>.json`; the tests need the real stores."""
    if not (SHARED_REPLAY / "autotts").is_dir():
        pytest.fail(f"the AutoTTS replay stores are expected at {SHARED_REPLAY} (see README)")
    return SHARED_REPLAY
