"""Issue 12's acceptance: training on a renamed copy of a held-out store is refused up front."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("sb3_contrib")

from tests.agents.conftest import HELD_OUT  # noqa: E402


def test_train_refuses_a_renamed_held_out_copy(
    held_out_copy: Path, tts_gym_process, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    done = tts_gym_process("train", "--stores", str(held_out_copy), "--out", str(out))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (
        f"tts-gym train: '{held_out_copy}' is the held-out store '{HELD_OUT}' (same sha256): "
        "training never reads held-out stores.\n"
    )
    assert not out.exists()
