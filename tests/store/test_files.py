"""Files whole or absent when written; every broken file read back is one sentence naming it."""

from __future__ import annotations

import pytest
from tts_gym_agents.rl.config import TrainConfig

from tts_gym.errors import TTSGymError
from tts_gym.store.files import (
    atomic_write,
    from_json,
    read_json,
    read_json_object,
    write_file,
    write_json,
)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "is missing"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"a": 1,', "not valid JSON"),
        (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    ],
)
def test_broken_json_files_are_one_sentence(tmp_path, content, problem):
    path = tmp_path / "config.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(TTSGymError, match=problem) as raised:
        read_json(path, "run config")
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)


def test_a_json_object_is_required(tmp_path):
    path = tmp_path / "ledger.json"
    path.write_text("[1, 2]")
    with pytest.raises(TTSGymError, match="holds a list, not a JSON object"):
        read_json_object(path, "ledger")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"token_penalty": "high"}, "'token_penalty' is a string"),
        ({"timesteps": True}, "'timesteps' is a boolean"),
        ({"timesteps": 1.5}, "not an integer"),
        ({"stores": "search"}, "not a list of strings"),
        ({"net_arch": [64, "x"]}, "not a list of integers"),
        ([1, 2], "holds a list, not a JSON object"),
    ],
)
def test_config_fields_are_checked_by_their_types(data, problem):
    with pytest.raises(TTSGymError, match=problem):
        from_json(TrainConfig, data, "runs/x/config.json")


def test_a_valid_config_round_trips_and_unknown_keys_are_ignored():
    config = TrainConfig(token_penalty=0.01, stores=("a", "b"), net_arch=(64, 64))
    data = {**{k: list(v) if isinstance(v, tuple) else v for k, v in vars(config).items()}}
    assert from_json(TrainConfig, {**data, "added_later": 1}, "x") == config


def test_a_failed_write_leaves_the_old_file_and_no_partial(tmp_path):
    path = write_json(tmp_path / "store.json", [1], indent=None)
    with pytest.raises(KeyboardInterrupt), atomic_write(path) as handle:
        handle.write(b"[2")
        raise KeyboardInterrupt
    assert read_json(path) == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["store.json"]


def test_write_file_and_json_round_trip(tmp_path):
    assert write_file(tmp_path / "a" / "b.txt", "é\n").read_text(encoding="utf-8") == "é\n"
    assert read_json(write_json(tmp_path / "c.json", {"k": [1, "é"]})) == {"k": [1, "é"]}
    with pytest.raises(ValueError):  # NaN is not JSON
        write_json(tmp_path / "d.json", float("nan"))
    assert not (tmp_path / "d.json").exists()
