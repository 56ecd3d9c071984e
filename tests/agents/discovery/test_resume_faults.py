"""`tts-gym discover --resume` on a run folder broken by a crash or a hand edit: one sentence
naming the file and what is wrong, never a traceback, and the folder left as it was."""

from __future__ import annotations

import json

import pytest
from tts_gym_agents.discovery.archive import CONFIG, LEDGER
from tts_gym_agents.discovery.loop import DiscoveryConfig

from tts_gym.cli import main

GOOD_LEDGER = json.dumps({"event": "run_start", "time": 0.0}) + "\n"


def run_folder(tmp_path, config: bytes | None = None, ledger: bytes | None = None):
    root = tmp_path / "run"
    root.mkdir()
    good_config = json.dumps(DiscoveryConfig().to_json()).encode()
    (root / CONFIG).write_bytes(good_config if config is None else config)
    (root / LEDGER).write_bytes(GOOD_LEDGER.encode() if ledger is None else ledger)
    return root


@pytest.mark.parametrize(
    ("config", "ledger", "problem"),
    [
        (b'{"rounds": 5,', None, "config.json is not valid JSON"),
        (b"[1, 2]", None, "holds a list, not a JSON object"),
        (b'{"rounds": "five"}', None, "'rounds' is a string"),
        (b'{"betas": [0, "x"]}', None, "'betas' is a list"),
        (None, b'{"event": "run_start"}\n\xff\xfe\n', "is not UTF-8 text"),
        (None, GOOD_LEDGER.encode() + b"[1, 2]\n", "line 2 is not an event"),
        (None, GOOD_LEDGER.encode() + b"not json\n", "line 2 is not an event"),
    ],
)
def test_a_broken_run_file_is_one_sentence(tmp_path, capsys, config, ledger, problem):
    root = run_folder(tmp_path, config, ledger)
    before = {path.name: path.read_bytes() for path in root.iterdir()}
    assert main(["discover", "--resume", str(root)]) == 1
    err = capsys.readouterr().err
    assert problem in err and len(err.strip().splitlines()) == 1, err
    assert {path.name: path.read_bytes() for path in root.iterdir() if path.name != ".lock"} == {
        name: data for name, data in before.items() if name != ".lock"
    }


def test_a_broken_round_verdict_is_one_sentence(tmp_path, capsys):
    root = run_folder(tmp_path)
    (root / "round-0001").mkdir()
    (root / "round-0001" / "verdict.json").write_text('["not", "a verdict"]')
    assert main(["discover", "--resume", str(root)]) == 1
    err = capsys.readouterr().err
    assert "round-0001/verdict.json holds a list" in err and len(err.strip().splitlines()) == 1
