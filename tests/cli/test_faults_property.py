"""Issue 21, generated faults: random bytes and random JSON to every loader of a file a user
hands over (stores, a training run's config and record), and random command lines to the
entry points. Whatever comes in: one sentence and a non-zero exit, or a result; never a
traceback, never an exception other than the project's own.

(Malformed variants of valid stores are in tests/store/test_store_faults.py.)
"""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tts_gym.cli import main
from tts_gym.errors import TTSGymError
from tts_gym.store import load_store
from tts_gym.store.files import from_json, read_json
from tts_gym.store.synthetic import generate_store, write_store

SETTINGS = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
CONTENTS = st.binary(max_size=300) | JSON.map(lambda value: json.dumps(value).encode())
_names = itertools.count()


def assert_one_sentence(code: int, err: str) -> None:
    assert "Traceback" not in err, err
    if code != 0:
        assert code in (1, 2) and err.count("\n") == 1 and err.startswith("tts-gym"), err


@SETTINGS
@given(data=CONTENTS)
def test_random_files_to_the_store_loaders_and_validate(tmp_path, capsys, data: bytes) -> None:
    path = tmp_path / f"store{next(_names)}.json"
    path.write_bytes(data)
    try:
        load_store(path)
    except TTSGymError as error:
        assert "\n" not in str(error)
    code = main(["validate", str(path)])
    assert_one_sentence(code, capsys.readouterr().err)


@SETTINGS
@given(data=CONTENTS)
def test_random_files_to_the_training_run_loaders(tmp_path, capsys, data: bytes) -> None:
    pytest.importorskip("sb3_contrib")
    from tts_gym_agents.rl.config import TrainConfig

    folder = tmp_path / f"run{next(_names)}"
    folder.mkdir()
    (folder / "config.json").write_bytes(data)
    try:
        TrainConfig.load(folder)
    except TTSGymError as error:
        assert "\n" not in str(error)
    code = main(["train", "--out", str(folder), "--resume", "--timesteps", "1", "-q"])
    assert code != 0  # a resume to timestep 1 never trains
    assert_one_sentence(code, capsys.readouterr().err)


@SETTINGS
@given(value=JSON)
def test_random_json_to_the_typed_reader(tmp_path, value) -> None:
    """`from_json` (what every run file is read through) on any JSON value."""
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Record:
        name: str = ""
        steps: int = 0
        rate: float = 0.0
        tags: tuple[str, ...] = ()
        done: bool | None = None

    path = tmp_path / f"r{next(_names)}.json"
    path.write_text(json.dumps(value))
    try:
        record = from_json(Record, read_json(path, "record"), str(path))
    except TTSGymError as error:
        assert "\n" not in str(error)
    else:
        assert isinstance(record.steps, int) and isinstance(record.tags, tuple)


WORDS = [
    "-1", "0", "1", "2", "1.5", "1e400", "nan", "inf", "-inf", "", " ", "x", "\x1b[31m", "a\nb",
    "日本", "beta=nan", "beta=0.5", "n=2", "k=1,2", "beta=", "=", "s.json", "missing.json",
    ".", "folder", "s.json/x", "out.csv", "out.json", "out.png", "out.xyz", "search", "all",
    "sc", "cmc", "asc", "nope", "mod:Cls", "p.py:Nope", "--orders", "--seed", "--stores",
    "--format", "-o", "--traces", "--plot", "--config", "--sweep", "--jobs", "--timeout",
    "--protocol", "autotts", "default", "--engine", "python", "compiled", "--compare", "ASC",
    "--no-baselines", "--quiet", "--data-dir", "--isolate", "csv", "json", "table",
]  # fmt: skip
COMMANDS = {
    "validate": ["s.json"],
    "stores": [],
    "eval": ["--policy", "sc", "--stores", "s.json", "--orders", "2", "--no-baselines", "-q"],
}


@SETTINGS
@given(
    command=st.sampled_from(sorted(COMMANDS)),
    words=st.lists(st.sampled_from(WORDS), max_size=6),
)
def test_random_command_lines(tmp_path, capsys, monkeypatch, command, words) -> None:
    """Random words after a valid start: a result, or one sentence."""
    monkeypatch.chdir(tmp_path)
    if not (tmp_path / "s.json").exists():
        write_store(generate_store(2, 4, seed=0), tmp_path / "s.json")
        (tmp_path / "folder").mkdir()
    code = main([command, *COMMANDS[command], *words])
    assert_one_sentence(code, capsys.readouterr().err)
    assert (tmp_path / "s.json").stat().st_size > 0  # the input store is never replaced
    load_store(tmp_path / "s.json")
