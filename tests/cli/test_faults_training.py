"""Issue 21, training run folders: locked, resumable from whatever they hold, never changed
by a resume that fails. Driven through `tts-gym train` in-process, on a tiny store."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("sb3_contrib")

from tts_gym_agents.rl import train as training  # noqa: E402
from tts_gym_agents.rl.config import TrainConfig  # noqa: E402
from tts_gym_agents.rl.run_folder import checkpoints  # noqa: E402

from tests.support import REPO_ROOT  # noqa: E402
from tts_gym.cli import main  # noqa: E402
from tts_gym.store.files import lock_folder  # noqa: E402
from tts_gym.store.synthetic import generate_store, write_store  # noqa: E402

TINY = [
    "--max-branches", "8", "--n-envs", "2", "--timesteps", "128", "--token-penalty", "1", "-q",
]  # fmt: skip
"""With the other settings of `Small`."""


@dataclasses.dataclass(frozen=True)
class Small(TrainConfig):
    """A run of seconds: rollouts of 32 steps per env, a checkpoint every 64 timesteps."""

    n_steps: int = 32
    batch_size: int = 64
    n_epochs: int = 1
    checkpoint_freq: int = 64
    eval_freq: int = 1_000_000
    valid_orders: int = 1


@pytest.fixture(autouse=True)
def small_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tts_gym_agents.commands.train.TrainConfig", Small)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("train-faults")
    return str(write_store(generate_store(10, 8, seed=3, tokens=(1_000, 3_000)), folder / "s.json"))


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(["train", *argv])
    return code, capsys.readouterr().err


def tree(folder: Path) -> dict[str, str]:
    """Every file under `folder` with its sha256 (folders as 'dir')."""
    return {
        str(path.relative_to(folder)): "dir"
        if path.is_dir()
        else hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
    }


def test_a_second_process_and_a_lock_folder_are_one_sentence(store, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    with lock_folder(out):  # another process training there (flock: per open file)
        code, err = run(capsys, "--stores", store, "--out", str(out), *TINY)
    assert code == 1 and err == f"tts-gym train: another tts-gym process is using {out}.\n"
    assert not (out / "config.json").exists()
    other = tmp_path / "other"
    (other / ".lock").mkdir(parents=True)
    code, err = run(capsys, "--stores", store, "--out", str(other), *TINY)
    assert code == 1 and err.count("\n") == 1 and "is a folder, not a lock file" in err


def test_a_run_stopped_before_its_first_checkpoint_resumes_or_restarts(
    store, tmp_path, capsys, monkeypatch
) -> None:
    out = tmp_path / "run"
    interrupt = pytest.MonkeyPatch()
    interrupt.setattr(training.AtomicCheckpoint, "_on_step", _ctrl_c)
    code, err = run(capsys, "--stores", store, "--out", str(out), *TINY)
    interrupt.undo()
    assert code == 130 and err == "tts-gym train: interrupted.\n"
    assert (out / "config.json").is_file() and not checkpoints(out)
    code, err = run(capsys, "--out", str(out), "--resume", "-q")  # from step 0, saying so
    assert code == 0, err
    assert "has no checkpoint yet" in err and "from step 0" in err and err.count("\n") == 1
    assert (out / "model.zip").is_file() and checkpoints(out)[0].name == "step_128.zip"

    again = tmp_path / "again"
    interrupt.setattr(training.AtomicCheckpoint, "_on_step", _ctrl_c)
    assert run(capsys, "--stores", store, "--out", str(again), *TINY)[0] == 130
    interrupt.undo()
    code = main(["train", "--stores", store, "--out", str(again), *TINY])  # a fresh start
    out, err = capsys.readouterr()
    assert code == 0 and err == "" and (again / "model.zip").is_file()
    record = json.loads((again / "record.json").read_text())["validation"]
    evaluation = json.loads((again / "evaluation.json").read_text())
    assert record == {**evaluation["overall"], "margin": evaluation["margin"]}
    assert "accuracy" not in record  # `acc`: percent, as eval says
    assert f"validation: accuracy {record['acc']:.1f}%" in out
    code, err = run(capsys, "--stores", store, "--out", str(again), *TINY)  # trained: kept
    assert code == 1 and "already holds a training run" in err and "--resume" in err


def test_resume_passes_over_broken_checkpoints_and_a_failed_resume_changes_nothing(
    store, tmp_path, capsys
) -> None:
    out = tmp_path / "run"
    assert run(capsys, "--stores", store, "--out", str(out), *TINY)[0] == 0
    assert [p.name for p in checkpoints(out)] == ["step_128.zip", "step_64.zip"]
    before = tree(out)
    code, err = run(capsys, "--out", str(out), "--resume", "--timesteps", "128")
    assert code == 1 and "already has 128 timesteps" in err and err.count("\n") == 1
    assert tree(out) == before  # config.json not rewritten, nothing else either

    newest = out / "checkpoints/step_128.zip"
    newest.write_bytes(newest.read_bytes()[:1000])  # torn, as by a full disk
    code, err = run(capsys, "--out", str(out), "--resume", "--timesteps", "192", "-q")
    assert code == 0, err
    assert err.count("\n") == 1 and "passed over unreadable checkpoint(s) step_128.zip" in err
    assert "resuming from step_64.zip" in err
    assert checkpoints(out)[0].name == "step_192.zip"

    for path in checkpoints(out):
        path.write_bytes(b"not a zip")
    before = tree(out)
    code, err = run(capsys, "--out", str(out), "--resume", "--timesteps", "256", "-q")
    assert code == 1 and err.count("\n") == 1
    assert "no checkpoint in" in err and "can be read" in err and "nothing was changed" in err
    assert tree(out) == before


def test_a_trained_model_without_checkpoints_is_never_trained_over(tmp_path, capsys) -> None:
    """The shipped model's folder (config, model, record; no checkpoints), copied."""
    out = tmp_path / "shipped"
    shutil.copytree(REPO_ROOT / "agents/rl/models/ppo-search", out)
    before = tree(out)
    code, err = run(capsys, "--out", str(out), "--resume", "--timesteps", "700000")
    assert code == 1 and err.count("\n") == 1
    assert "holds a trained run but no checkpoint" in err
    config = json.loads((out / "config.json").read_text())
    argv = ["--stores", *config["stores"], "--token-penalty", str(config["token_penalty"])]
    code, err = run(capsys, "--out", str(out), *argv, "--max-branches", "32", "-q")
    assert code == 1 and "already holds a training run" in err
    assert tree(out) == before  # not even a lock file


def test_rollouts_larger_than_the_training_or_memory_are_refused_first(
    store, tmp_path, capsys, monkeypatch
) -> None:
    out = tmp_path / "run"
    code, err = run(capsys, "--stores", store, "--out", str(out), "--n-envs", "100000")
    assert code == 1 and err.count("\n") == 1
    assert "one rollout of --n-envs 100,000 x 32 steps is 3,200,000 timesteps" in err
    monkeypatch.setattr("tts_gym.memory.available_bytes", lambda: 10_000_000)
    argv = ["--n-envs", "10000", "--timesteps", "10000000", "--max-branches", "8"]
    code, err = run(capsys, "--stores", store, "--out", str(out), *argv)
    assert code == 1 and err.count("\n") == 1
    assert "--n-envs 10,000" in err and "more than the 10 MB available; the most that fit: " in err
    assert not out.exists()


def _ctrl_c(self) -> bool:
    raise KeyboardInterrupt
