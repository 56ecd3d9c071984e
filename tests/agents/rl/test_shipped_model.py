"""The RL controller the project ships: it loads, it was trained as its record says, and its
recorded held-out numbers are what the harness measures today."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("sb3_contrib")

from tts_gym_agents.rl.config import TrainConfig  # noqa: E402
from tts_gym_agents.rl.heldout import LEDGER_FILE, REPORT_FILE, read_ledger  # noqa: E402
from tts_gym_agents.rl.policy import load_sb3_policy  # noqa: E402

from tests.support import REPO_ROOT  # noqa: E402
from tts_gym.evaluation import evaluate  # noqa: E402
from tts_gym.store.catalog import expand_store_names  # noqa: E402

MODELS = sorted((REPO_ROOT / "agents/rl/models").glob("*/model.zip"))
BUDGET_SECONDS = 5 * 60  # issue 24: training the shipped configuration takes at most 5 minutes


def test_a_model_ships() -> None:
    assert MODELS, "agents/rl/models/<name>/model.zip is missing"


@pytest.mark.parametrize("model", MODELS, ids=lambda path: path.parent.name)
def test_record_matches_the_run(model: Path) -> None:
    record = json.loads((model.parent / "record.json").read_text())
    config = TrainConfig.load(model.parent)
    assert record["finished"] and record["timesteps"] >= config.timesteps
    # the process's CPU seconds: the envs run in it, and they do not grow with the load of a
    # shared machine as the wall time does (the record keeps both, and the load average)
    assert config.vec_env == "core" and record["cpu_seconds"] <= BUDGET_SECONDS
    assert f"--seed {config.seed}" in record["command"]
    assert f"--token-penalty {config.token_penalty:g}" in record["command"]
    assert model.stat().st_size < 2_000_000


@pytest.mark.real_stores
@pytest.mark.parametrize("model", MODELS, ids=lambda path: path.parent.name)
def test_loads_and_plays_a_heldout_question(model: Path) -> None:
    policy = load_sb3_policy(model)
    (cell,) = evaluate(policy, "autotts/qwen3-8b/aime25", "default", n_orders=4, jobs=1)
    assert cell.outcomes.tokens.shape == (30, 4) and (cell.outcomes.tokens > 0).all()
    assert 50.0 < cell.acc <= 100.0  # Qwen3-8B solves about three in four of these


@pytest.mark.real_stores
@pytest.mark.parametrize("model", MODELS, ids=lambda path: path.parent.name)
def test_it_acts_as_when_it_was_trained(model: Path) -> None:
    """Its validation numbers (`evaluation.json`: the search stores' validation fold, with
    CMC's reference points on the same episodes; no held-out store is read) reproduce
    exactly on today's env."""
    from tts_gym_agents.rl.split import TRAINING, split_questions
    from tts_gym_agents.rl.validation import validation_report

    from tts_gym.store import select_stores

    config = TrainConfig.load(model.parent)
    stores = select_stores(list(config.stores), refuse_held_out=TRAINING)
    _, valid = split_questions(stores, config.folds, config.fold)
    policy, penalties = load_sb3_policy(model), (config.token_penalty, config.latency_penalty)
    report = validation_report(policy, stores, valid, config.valid_orders, penalties)
    recorded = json.loads((model.parent / "evaluation.json").read_text())
    assert report == recorded


@pytest.mark.parametrize("model", MODELS, ids=lambda path: path.parent.name)
def test_its_heldout_reads_are_in_the_ledger(model: Path) -> None:
    """Held-out was read by `tts-gym held-out` only: the ledger beside the model holds the
    read whose numbers `heldout.json` shows, for this very file."""
    from tts_gym.store.files import sha256_file

    ledger = read_ledger(model.parent / LEDGER_FILE)
    report = json.loads((model.parent / REPORT_FILE).read_text())
    mine = [entry for entry in ledger if entry.get("sha256") == sha256_file(model)]
    assert mine and mine[-1]["read"] == len(mine)
    name = mine[-1]["name"]
    assert report["per_store"][name] == mine[-1]["per_store"]
    assert len(report["stores"]) == 8


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS, ids=lambda path: path.parent.name)
def test_heldout_record_is_true(model: Path) -> None:
    """The recorded held-out numbers (eight stores, autotts protocol) reproduce exactly; this
    reads the held-out stores, as the test of a recorded figure (not a selection)."""
    heldout = json.loads((model.parent / REPORT_FILE).read_text())
    policy = load_sb3_policy(model)
    stores = expand_store_names(["held-out"])
    assert heldout["stores"] == stores
    for cell in evaluate(policy, stores, "autotts"):
        row = heldout["per_store"][policy.name][cell.store.name]
        assert cell.acc == pytest.approx(row["acc"], abs=1e-4)
        assert cell.tokens_k == pytest.approx(row["tokens_k"], abs=0.01)
