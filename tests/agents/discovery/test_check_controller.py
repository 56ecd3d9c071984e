"""`tts-gym check-controller`: every bad controller is rejected, with a reason, in its limits.

The attacks on the boundary itself are in tests/sandbox/hostile (one file each);
here the whole command: static rules, knob rules, the boundary, the checks, the verdict.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest

from tests.support import allow_missing_layers
from tts_gym.cli import main
from tts_gym.control import play
from tts_gym.control.builtin import ConfidenceMomentum
from tts_gym.control.loading import load_policy
from tts_gym.evaluation import Protocol, score
from tts_gym.store import load_store

FIXTURES = Path(__file__).parent / "fixtures"
STORE = "autotts/qwen3-8b/aime24"
QUICK = ["--stores", STORE, "--questions", "6", "--orders", "1"]
TIME_LIMIT = 60.0  # generous: a run that should complete must not race the clock
SHORT = 4.0  # for the endless loop
LIMITS = ["--memory-mb", "1024", *allow_missing_layers()]


def check(spec: str, *extra: str, capsys, limit: float = TIME_LIMIT) -> tuple[int, dict]:
    code = main(["check-controller", spec, *QUICK, *LIMITS, "--time-limit", str(limit), *extra])
    out = capsys.readouterr().out
    return code, json.loads(out)


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("network_socket.py", "imports 'socket'"),
        ("sneaky_socket.py", "the sandbox stopped it: it opened a network socket"),
        ("second_knob.py", "second knob 'width'"),
        ("falling_cost.py", "average tokens fall as beta grows"),
        ("reads_answers.py", "the sandbox stopped it: it read ../autotts/Qwen3-8B/aime24.json"),
        ("garbage_return.py", "returned 42 (int) from solve(q)"),
        ("nondeterministic.py", "replayed alone in a fresh process, it acted differently"),
        ("private_access.py", "private attribute '_episode'"),
    ],
)
def test_rejects(shared_replay, capsys, fixture: str, reason: str) -> None:
    code, verdict = check(f"{FIXTURES / fixture}:Controller", capsys=capsys)
    assert code == 1
    assert verdict["ok"] is False
    assert any(reason in error for error in verdict["errors"]), verdict["errors"]


def test_rejects_an_endless_loop_at_the_time_limit(shared_replay, capsys) -> None:
    started = time.monotonic()
    code, verdict = check(f"{FIXTURES / 'never_returns.py'}:Controller", capsys=capsys, limit=SHORT)
    assert code == 1
    assert "time limit" in verdict["errors"][0]
    assert time.monotonic() - started < SHORT + 5


def test_refuses_held_out_stores(shared_replay, capsys) -> None:
    spec = f"{FIXTURES / 'good_controller.py'}:Controller"
    assert main(["check-controller", spec, "--stores", "autotts/qwen3-8b/aime25"]) == 1
    captured = capsys.readouterr()
    assert "store 'autotts/qwen3-8b/aime25' is held out" in captured.err
    assert captured.out == ""


def test_rejects_a_memory_bomb(shared_replay, capsys) -> None:
    # touching memory takes CPU time too: a looser clock, so that memory is what runs out
    spec = f"{FIXTURES / 'memory_bomb.py'}:Controller"
    code, verdict = check(spec, "--memory-mb", "512", capsys=capsys, limit=20)
    assert code == 1
    assert "ran out of memory (the limit is 512 MiB)" in verdict["errors"][0]


def test_rejects_a_syntax_error(shared_replay, tmp_path, capsys) -> None:
    path = tmp_path / "broken.py"
    path.write_text("class Controller:\n    def solve(self, q)\n        return None\n")
    code, verdict = check(f"{path}:Controller", capsys=capsys)
    assert code == 1
    assert verdict["errors"] == ["broken.py has a syntax error at line 2: expected ':'."]


def test_rejects_a_second_knob_read_from_an_autotts_config(shared_replay, tmp_path, capsys):
    source = (FIXTURES / "autotts_controller.py").read_text()
    path = tmp_path / "tuned.py"
    knob = 'self.config.get("beta", 0.5)'
    path.write_text(source.replace(knob, f'{knob} + 0 * self.config.get("width", 0)'))
    code, verdict = check(f"{path}:AutoTTSController", capsys=capsys)
    assert code == 1
    assert "config['width']" in verdict["errors"][0]


def test_accepts_cmc_as_a_standalone_file_with_the_builtin_numbers(shared_replay, capsys) -> None:
    code, verdict = check(f"{FIXTURES / 'cmc_standalone.py'}:CMC", capsys=capsys)
    assert code == 0 and verdict["ok"] and verdict["errors"] == []
    assert verdict["isolation"]["network"] and verdict["isolation"]["filesystem"]
    assert verdict["replayed"] == 5 * 6  # every episode of this small sweep, each alone
    store = load_store(STORE)
    subset = dataclasses.replace(store, questions=store.questions[:6])
    for point in verdict["sweep"]:
        protocol = Protocol("default", 1, 0)
        outcomes = play(ConfidenceMomentum(point["beta"]), subset, protocol)
        assert point["acc"] == pytest.approx(100 * score(outcomes, subset).mean())
        assert point["tokens"] == pytest.approx(outcomes.tokens.mean())
        # the file makes one call per wave (the same file in process gives the same waves);
        # the built-in groups its rounds into waves
        in_process = play(
            load_policy(f"{FIXTURES / 'cmc_standalone.py'}:CMC", {"beta": point["beta"]}),
            subset,
            protocol,
        )
        assert point["seq_tokens"] == pytest.approx(in_process.seq_tokens.mean())
        assert outcomes.seq_tokens.mean() < point["seq_tokens"] <= point["tokens"]


def test_accepts_a_controller_written_for_the_autotts_handle(shared_replay, capsys) -> None:
    code, verdict = check(f"{FIXTURES / 'autotts_controller.py'}:AutoTTSController", capsys=capsys)
    assert code == 0 and verdict["ok"]
    assert [p["beta"] for p in verdict["sweep"]] == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_free_knobs_lifts_the_single_knob_rule(shared_replay, capsys) -> None:
    code, verdict = check(
        f"{FIXTURES / 'second_knob.py'}:Controller", "--free-knobs", capsys=capsys
    )
    assert not any("knob" in error for error in verdict["errors"])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("missing.py:Controller", "there is no file missing.py"),
        ("no_class_given.py", "is not of the form FILE.py:Class"),
    ],
)
def test_bad_input_is_one_sentence(shared_replay, capsys, spec: str, message: str) -> None:
    assert main(["check-controller", spec]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err and captured.err.count("\n") == 1
