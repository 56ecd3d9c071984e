"""Issue 12's acceptance: training on a renamed copy of a held-out store is refused up front."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sb3_contrib")

from tts_gym.store import CATALOG  # noqa: E402

HELD_OUT = "autotts/qwen3-8b/aime25"


def test_train_refuses_a_renamed_held_out_copy(shared_replay: Path, tmp_path: Path) -> None:
    copy = tmp_path / "my_new_benchmark.json"
    shutil.copyfile(shared_replay / CATALOG[HELD_OUT].relative_path, copy)
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "tts_gym.cli", "train", "--stores", str(copy), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TTS_GYM_DATA": str(shared_replay)},
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (
        f"tts-gym train: '{copy}' is the held-out store '{HELD_OUT}' (same sha256): "
        "training never reads held-out stores.\n"
    )
    assert not out.exists()
