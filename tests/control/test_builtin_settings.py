"""The built-ins refuse settings they cannot play (`--config n=2.5` is not an SC@2.5)."""

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from tts_gym.control.errors import PolicyLoadError
from tts_gym.control.loading import BUILTINS, load_policy
from tts_gym.store.synthetic import generate_store, write_store


@pytest.mark.parametrize(
    ("spec", "config", "says"),
    [
        ("sc", {"n": 2.5}, "SelfConsistency's n must be a whole number of at least 1 (got 2.5)."),
        ("sc", {"n": 0}, "of at least 1 (got 0)"),
        ("sc", {"n": True}, "whole number"),
        ("asc", {"threshold": float("nan")}, "threshold must be a finite number from 0 to 1"),
        ("asc", {"threshold": 1.5}, "from 0 to 1 (got 1.5)"),
        ("esc", {"window": "8"}, "window must be a whole number"),
        ("cmc", {"beta": 2}, "beta must be a finite number from 0 to 1 (got 2)"),
        ("parallel-probe", {"warm_up": -1}, "warm_up must be a whole number of at least 0"),
        ("sac", {"patience": 0.5}, "patience must be a whole number"),
    ],
)
def test_a_setting_out_of_range_is_one_sentence(spec, config, says):
    with pytest.raises(PolicyLoadError) as caught:
        load_policy(spec, config)
    message = str(caught.value)
    assert message.startswith(f"policy '{spec}': ") and says in message
    assert message.endswith(").") and ".." not in message


def test_in_range_settings_of_any_numeric_kind_are_played():
    assert load_policy("sc", {"n": np.int64(8)}).name == "SC@8"
    assert load_policy("cmc", {"beta": 1}).beta == 1
    assert load_policy("asc", {"threshold": np.float32(0.5)}).threshold == 0.5


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_every_builtin_accepts_its_own_defaults(name):
    policy = load_policy(name)
    assert dataclasses.replace(policy) == policy  # __post_init__ runs again and agrees


def test_the_cli_refuses_with_one_line_and_no_traceback(tmp_path):
    store = write_store(generate_store(2, 4, seed=0), tmp_path / "tiny.json")
    command = [sys.executable, "-m", "tts_gym.cli", "eval", "--policy", "sc"]
    command += ["--config", "n=2.5", "--stores", str(store), "--no-baselines"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "n must be a whole number of at least 1 (got 2.5)." in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
