"""Issue 12's acceptance: a discovery search never reads a held-out store, whatever its name,
and a final report refuses a held-out store that was searched on under another name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tts_gym_agents.discovery.archive import BEST, RunArchive
from tts_gym_agents.discovery.final import run_final
from tts_gym_agents.discovery.loop import DiscoveryConfig

from tests.agents.conftest import HELD_OUT
from tts_gym.errors import TTSGymError
from tts_gym.evaluation.protocols import Protocol
from tts_gym.sandbox import Limits
from tts_gym.store import CATALOG


def test_search_refuses_a_renamed_held_out_copy(
    held_out_copy: Path, tts_gym_process, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    stores = ["--stores", "autotts/qwen3-8b/aime24", str(held_out_copy)]
    done = tts_gym_process(
        "discover", "x", "--runs-dir", str(runs), *stores, ANTHROPIC_API_KEY="unused"
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (
        f"tts-gym discover: '{held_out_copy}' is the held-out store '{HELD_OUT}' (same sha256): "
        "a discovery search never reads held-out stores.\n"
    )
    assert not runs.exists()


def test_final_report_refuses_a_store_searched_under_another_name(
    shared_replay: Path, tmp_path: Path
) -> None:
    searched = tmp_path / "renamed.json"
    shutil.copyfile(shared_replay / CATALOG["autotts/qwen3-8b/aime24"].relative_path, searched)
    root = tmp_path / "run"
    archive = RunArchive.create(root, DiscoveryConfig(stores=(str(searched),)).to_json())
    archive.write(BEST, '{"round": 1, "score": 0.1, "controller": "round-0001/controller.py"}')
    archive.close()
    stores = [HELD_OUT, "autotts/qwen3-8b/aime24"]
    with pytest.raises(TTSGymError) as caught:
        run_final(root, stores, Protocol("default", 2, 0), Limits(), str(shared_replay))
    assert str(caught.value) == (
        "autotts/qwen3-8b/aime24 shares 30 questions with the stores searched on, so it cannot "
        "be held out."
    )
    assert not (root / "final").exists()
