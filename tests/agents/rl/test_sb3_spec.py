"""`--policy sb3:DIR/model.zip`: a model saved by `tts-gym train` is one more policy for eval."""

from __future__ import annotations

import csv

import pytest
from tts_gym_agents.rl.config import TrainConfig
from tts_gym_agents.rl.policy import load_sb3_policy
from tts_gym_agents.rl.train import train

from tts_gym.cli import main
from tts_gym.control import PolicyLoadError, load_policy
from tts_gym.control.play import play
from tts_gym.store import load_store
from tts_gym.store.synthetic import generate_store, write_store


def test_eval_runs_a_saved_sb3_model(tmp_path, capsys):
    store = write_store(generate_store(6, 8, seed=3, tokens=(1_000, 3_000)), tmp_path / "s.json")
    config = TrainConfig(
        stores=(str(store),), timesteps=256, max_branches=8, n_envs=2, n_steps=64,
        batch_size=64, n_epochs=1, folds=3, valid_orders=1, eval_freq=10_000,
    )  # fmt: skip
    train(config, tmp_path / "run")
    out = tmp_path / "eval.csv"
    spec = f"sb3:{tmp_path / 'run' / 'model.zip'}"
    args = ["eval", "--policy", spec, "--stores", str(store), "--orders", "2", "--no-baselines"]
    assert main([*args, "--format", "csv", "-o", str(out), "--jobs", "1", "--quiet"]) == 0
    (row,) = list(csv.DictReader(out.open()))
    assert 0.0 <= float(row["acc"]) <= 100.0 and float(row["tokens_k"]) > 0

    # the harness plays it batched (play); traced runs step `act`: the same episodes
    policy = load_sb3_policy(tmp_path / "run" / "model.zip")
    batched_calls = []
    own_play = policy.play
    policy.play = lambda *args, **kwargs: batched_calls.append(1) or own_play(*args, **kwargs)
    orders = [[7, 6, 5, 4, 3, 2, 1, 0], [0, 1, 2, 3, 4, 5, 6, 7]]
    loaded = load_store(store)
    batched = play(policy, loaded, orders)
    stepped = play(policy, loaded, orders, trace=True)
    assert batched_calls == [1]
    assert batched.answers == stepped.answers
    assert (batched.tokens == stepped.tokens).all()


def test_missing_sb3_model_is_one_sentence(tmp_path, capsys):
    with pytest.raises(PolicyLoadError, match="no model file"):
        load_policy(f"sb3:{tmp_path / 'nothing.zip'}")
    assert main(["eval", "--policy", f"sb3:{tmp_path}/x.zip", "--stores", "search"]) == 1
    assert capsys.readouterr().err.count("\n") == 1
