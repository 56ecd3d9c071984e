"""Issue 14's store faults: every one ends in one sentence and exit code 1, never a traceback.

Each row of the issue's table is a case run through the real command line (`tts-gym validate`
and `tts-gym eval`, as processes); a property-based test then feeds generated malformed stores
to the loaders and to `validate` in-process.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tts_gym.cli import main
from tts_gym.errors import StoreError
from tts_gym.store import load_store, parse_questions, select_stores
from tts_gym.store.replay import MAX_STORE_MB_ENV_VAR, MAX_TOKENS
from tts_gym.store.synthetic import generate_store, write_store

BIG = 200_000_000  # bytes: the 200 MB files


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tts_gym.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def assert_one_sentence(done: subprocess.CompletedProcess, command: str, expected: str) -> None:
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith(f"tts-gym {command}: ") and done.stderr.count("\n") == 1
    assert expected in done.stderr and done.stderr.endswith(".\n")


def write_big(path: Path, *parts: tuple[bytes, int]) -> Path:
    """The concatenation of `unit * count` for each part, written a megabyte at a time."""
    with open(path, "wb") as handle:
        for unit, count in parts:
            per_piece = max(1, 1_000_000 // len(unit))
            for start in range(0, count, per_piece):
                handle.write(unit * min(per_piece, count - start))
    return path


def changed(change: Callable[[list[dict[str, Any]]], None]) -> Callable[[Path], Path]:
    def build(path: Path) -> Path:
        store = generate_store(3, 4, seed=0)
        change(store)
        return write_store(store, path)

    return build


def set_branch(q: int, b: int, slot: int, value: Any) -> Callable[[list[dict]], None]:
    return lambda store: store[q]["each_branch"][b].__setitem__(slot, value)


def too_many_probes(store: list[dict[str, Any]]) -> None:
    store[1]["each_branch"][2] = [["7"] * 5, 2000, "7"]  # ceil(2000 / 500) = 4 probes at most


ROWS = {
    "200 MB of deeply nested lists": (
        lambda p: write_big(p, (b"[", BIG // 2), (b"]", BIG // 2)),
        "over the 128 MB limit for a store",
    ),
    "200 MB of wide nested lists": (
        lambda p: write_big(p, (b"[", 1), (b"[[],[[]],[]],", BIG // 13), (b"[]]", 1)),
        "over the 128 MB limit for a store",
    ),
    "branch_tokens = 10**30": (
        changed(set_branch(2, 1, 1, 10**30)),
        "question 2: field 'each_branch[1][1]' (branch_tokens) must be a non-negative integer",
    ),
    "branch_tokens = 2**63": (
        changed(set_branch(0, 3, 1, 2**63)),
        "(branch_tokens) must be at most 2147483647 (2**31 - 1), got 9223372036854775808.",
    ),
    "probe_freq = 10**30": (
        changed(lambda store: store[0].__setitem__("probe_freq", 10**30)),
        "question 0: field 'probe_freq' must be a positive integer, got 1e+30.",
    ),
    "probe_freq = 2**31": (
        changed(lambda store: store[2].__setitem__("probe_freq", 2**31)),
        "question 2: field 'probe_freq' must be at most 2147483647",
    ),
    "more probes than the tokens allow": (
        changed(too_many_probes),
        "question 1: field 'each_branch[2][0]' (probe_list) has 5 probes, more than the 4 that "
        "2000 tokens allow at one probe per 500.",
    ),
}


@pytest.mark.parametrize("build, expected", ROWS.values(), ids=ROWS.keys())
def test_each_row_is_one_sentence_from_validate_and_eval(
    tmp_path: Path, build: Callable[[Path], Path], expected: str
) -> None:
    path = build(tmp_path / "store.json")
    try:
        assert_one_sentence(run_cli("validate", str(path)), "validate", expected)
        done = run_cli("eval", "--policy", "sc", "--stores", str(path), "--quiet", "--jobs", "1")
        assert_one_sentence(done, "eval", expected)
        assert [p.name for p in tmp_path.iterdir()] == ["store.json"]  # nothing else written
    finally:
        path.unlink()


def test_nesting_under_the_cap_is_refused_by_the_parser(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(StoreError, match=r"nested more than 1,024 levels deep .* a store needs 5"):
        load_store(deep)
    wide = tmp_path / "wide.json"
    wide.write_bytes(b"[" + b"[[],[[]],[]]," * 100_000 + b"[]]")
    with pytest.raises(StoreError, match=r"question 0: expected a JSON object\.$"):
        load_store(wide)


def test_the_size_cap_is_adjustable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_store(generate_store(3, 4, seed=0), tmp_path / "s.json")
    size = path.stat().st_size
    monkeypatch.setenv(MAX_STORE_MB_ENV_VAR, str(size / 2**20 / 2))
    for load in (load_store, select_stores):
        with pytest.raises(StoreError, match=r"s\.json is 0\.0 MB, over the 0\.\d+ MB limit"):
            load(path)
    monkeypatch.setenv(MAX_STORE_MB_ENV_VAR, str(size / 2**20))
    assert load_store(path).n_questions == 3
    for bad in ("lots", "0", "-1", "nan", "inf"):
        monkeypatch.setenv(MAX_STORE_MB_ENV_VAR, bad)
        with pytest.raises(
            StoreError, match=f"must be a positive number of megabytes, got '{bad}'"
        ):
            load_store(path)


def test_values_in_messages_stay_short(tmp_path: Path) -> None:
    text = json.dumps(generate_store(2, 3, seed=0))
    deep = "[" * 1015 + "]" * 1015  # deeper than repr() can go, within the parser's limit
    first_probe = text.index('"each_branch": [[["') + len('"each_branch": [[[')
    path = tmp_path / "s.json"
    path.write_text(text[:first_probe] + deep + ", " + text[first_probe:])
    with pytest.raises(StoreError) as caught:
        load_store(path)
    assert str(caught.value) == (
        f"{path}: question 0: field 'each_branch[0][0][0]' must be a string answer, "
        "got a list of 1 item."
    )
    store = generate_store(2, 3, seed=0)
    store[1]["gold_answer"] = "x" * 10_000
    store[1]["question"] = {"a": 1, "b": 2}
    with pytest.raises(
        StoreError, match=r"'question' must be a string, got an object of 2 keys\.$"
    ):
        load_store(write_store(store, tmp_path / "t.json"))
    store[1]["question"] = "fine"
    store[1]["each_branch"][0][1] = "y" * 10_000
    with pytest.raises(StoreError, match=r"got 'y{40}'\.\.\.\.$"):
        load_store(write_store(store, tmp_path / "u.json"))


def test_confidence_must_be_finite(tmp_path: Path) -> None:
    store = generate_store(2, 3, seed=0, confidence=True)
    store[0]["segment_confidence"][1][0] = 10**400  # beyond float range: not JSON for orjson
    path = tmp_path / "s.json"
    path.write_text(json.dumps(store))
    with pytest.raises(StoreError, match="not valid JSON .number is infinity"):
        load_store(path)
    for bad in (10**400, math.inf, math.nan):  # what a collector may hand over in memory
        store[0]["segment_confidence"][1][0] = bad
        with pytest.raises(
            StoreError, match=r"segment_confidence\[1\]' must be a list of \d+ finite"
        ):
            parse_questions(store, "mine")


# ---- generated malformed stores -----------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, 1, 500, MAX_TOKENS, MAX_TOKENS + 1, 2**63, 2**64 - 1])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
BASES = [
    generate_store(2, 3, seed=0),
    generate_store(2, (1, 4), seed=1, confidence=True, zero_probe_share=0.3),
]


@st.composite
def malformed_stores(draw: st.DrawFn) -> bytes:
    """A valid store with one node replaced or removed, or its bytes cut or spliced."""
    store = copy.deepcopy(draw(st.sampled_from(BASES)))
    node: Any = store
    for _ in range(draw(st.integers(0, 6))):  # walk down to a random container
        children = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
        if not children:
            break
        key = draw(st.sampled_from(children))
        if not isinstance(node[key], (list, dict)):
            break
        node = node[key]
    keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
    action = draw(st.sampled_from(["replace", "remove", "cut", "splice"]))
    if action == "replace" and keys:
        node[draw(st.sampled_from(keys))] = draw(JSON_VALUES)
    elif action == "remove" and keys:
        del node[draw(st.sampled_from(keys))]
    data = json.dumps(store).encode()
    if action == "cut":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif action == "splice":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=6)) + data[at:]
    return data


_names = itertools.count()


@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=malformed_stores())
def test_generated_malformed_stores_are_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture, data: bytes
) -> None:
    path = tmp_path / f"store{next(_names)}.json"  # a fresh name: no cached load is reused
    path.write_bytes(data)
    outcomes = []
    for load in (load_store, select_stores):
        try:
            load(path)
            outcomes.append(None)
        except StoreError as error:
            message = str(error)
            assert "\n" not in message and message.endswith(".") and len(message) < 400
            assert message.startswith((f"{path}: ", f"{path} is "))
            outcomes.append(message)
    assert outcomes[0] == outcomes[1]  # every loader says the same thing
    capsys.readouterr()
    code = main(["validate", str(path), "--format", "json"])
    out, err = capsys.readouterr()
    if outcomes[0] is None:
        assert code == 0 and json.loads(out)[0]["questions"] >= 1 and err == ""
    else:
        assert code == 1 and out == "" and err == f"tts-gym validate: {outcomes[0]}\n"
