"""Fixtures shared by the agents' tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tts_gym.store import CATALOG

HELD_OUT = "autotts/qwen3-8b/aime25"


@pytest.fixture
def held_out_copy(shared_replay: Path, tmp_path: Path) -> Path:
    """The held-out store `HELD_OUT`, copied under a new name outside the data folder."""
    copy = tmp_path / "my_new_benchmark.json"
    shutil.copyfile(shared_replay / CATALOG[HELD_OUT].relative_path, copy)
    return copy


@pytest.fixture
def tts_gym_process(shared_replay: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run `tts-gym ARGS...` as a process on the shared stores (extra environment as keywords)."""

    def run(*args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "tts_gym.cli", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "TTS_GYM_DATA": str(shared_replay), **env},
        )

    return run
