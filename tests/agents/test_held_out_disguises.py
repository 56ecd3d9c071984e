"""A held-out store in disguise (re-serialised, reordered, one branch changed, cut to 20
questions) is refused by every command that must not read one, in one sentence naming how
many questions it shares; the store selector's rule, seen from the user's side."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.agents.conftest import HELD_OUT
from tests.support import HELD_OUT_VARIANTS, allow_missing_layers, held_out_variant
from tts_gym.cli import main
from tts_gym.store import CATALOG

SEARCH = "autotts/qwen3-8b/aime24"
COMMANDS = {
    "check-controller": (["check-controller", "{controller}:Controller"], "a discovery search"),
    "discover": (["discover", "run", "--runs-dir", "{runs}"], "a discovery search"),
    "train": (["train", "--out", "{runs}/model", "--timesteps", "8"], "training"),
}
HAVE_RL = importlib.util.find_spec("sb3_contrib") is not None


@pytest.mark.parametrize("variant", HELD_OUT_VARIANTS)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_disguised_held_out_store_is_refused(
    shared_replay: Path, tmp_path: Path, capsys, command: str, variant: str
) -> None:
    if command == "train" and not HAVE_RL:
        pytest.skip("training needs the rl extra (pip install 'tts-gym[rl]')")
    source = shared_replay / CATALOG[HELD_OUT].relative_path
    copy = held_out_variant(source, variant, tmp_path / "my_benchmark.json")
    controller = Path(__file__).parent / "discovery" / "fixtures" / "good_controller.py"
    words, activity = COMMANDS[command]
    args = [w.format(controller=controller, runs=tmp_path / "runs") for w in words]
    if command != "train":  # the commands that run the sandbox
        args += allow_missing_layers()
    code = main([*args, "--stores", SEARCH, str(copy)])
    captured = capsys.readouterr()
    shares = 20 if variant == "20-question subset" else 30
    assert code == 1 and captured.out == ""
    assert captured.err == (
        f"tts-gym {command}: '{copy}' shares {shares} of its {shares} questions with the "
        "held-out aime25 stores (autotts/<model>/aime25): "
        f"{activity} never reads held-out stores.\n"
    )
    assert not (tmp_path / "runs").exists()
