"""`run_isolated` end to end on a synthetic store: honest controllers get exactly the numbers
and traces of an in-process run, failures come back as sentences, and a killed run leaves
no process and no file behind (where it had a folder of its own, the next run removes it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.sandbox.support import HONEST, LIMITS, assert_rejected, play, small_store
from tests.support import REPO_ROOT, signal_mid_run
from tts_gym.control import play as play_in_process
from tts_gym.control.builtin import ConfidenceMomentum
from tts_gym.evaluation import Protocol
from tts_gym.sandbox import (
    ControllerSetting,
    Limits,
    remove_stale_folders,
    require_solve,
    run_isolated,
)
from tts_gym.sandbox.namespaces import missing_reason
from tts_gym.sandbox.processes import PREFIX, start_time

FIXTURES = REPO_ROOT / "tests" / "agents" / "discovery" / "fixtures"
BETAS = (0.0, 0.5, 1.0)


@pytest.mark.parametrize("kernel", [False, True])
def test_cmc_as_a_file_gives_the_builtin_numbers_and_traces(tmp_path, kernel: bool) -> None:
    store = small_store(tmp_path)
    protocol = Protocol("default", 4, 0)
    settings = [ControllerSetting(f"beta={b:g}", {"beta": b}) for b in BETAS]
    run = run_isolated(
        FIXTURES / "cmc_standalone.py",
        "CMC",
        [store],
        protocol,
        require_solve(settings),
        trace_orders=1,
        limits=LIMITS,
        kernel=kernel,
        allow_missing_layers=True,  # where this machine lacks some: what holds without them
    )
    assert run.ok, run.problems
    assert run.replayed == 3 * 8
    for k, beta in enumerate(BETAS):
        reference = play_in_process(ConfidenceMomentum(beta), store, protocol, trace=True)
        outcomes = run.outcomes[(0, k)]
        assert outcomes.answers == reference.answers
        assert (outcomes.tokens == reference.tokens).all()
        # the built-in groups its actions into waves, the file plays one action per wave:
        # the same actions, answers and tokens, other sequential tokens
        assert [_no_waves(row[0]) for row in outcomes.traces] == [
            _no_waves(row[0]) for row in reference.traces
        ]
        assert all(row[1] is None for row in outcomes.traces)  # only the first order traced
    if kernel and "Landlock" in run.isolation["filesystem"]:
        assert run.isolation["session"].startswith("Landlock")


def _no_waves(record: dict) -> dict:
    """A trace record without what depends on the waves (`seq_tokens`, `wave`)."""
    actions = [
        {k: v for k, v in a.items() if k not in ("seq_tokens", "wave")} for a in record["actions"]
    ]
    return {**{k: v for k, v in record.items() if k != "seq_tokens"}, "actions": actions}


def test_an_autotts_controller_and_the_config_keys_it_read(tmp_path) -> None:
    store = small_store(tmp_path)
    settings = [ControllerSetting(f"beta={b:g}", {"config": {"beta": b}}) for b in (0.0, 1.0)]
    run = run_isolated(
        FIXTURES / "autotts_controller.py",
        "AutoTTSController",
        [store],
        Protocol("default", 2, 0),
        require_solve(settings),
        limits=LIMITS,
        kernel=False,
    )
    assert run.ok, run.problems
    assert run.reads == [{"beta"}, {"beta"}]
    assert run.loaded.parameters[0].name == "config"
    assert (run.outcomes[(0, 1)].tokens >= run.outcomes[(0, 0)].tokens).all()


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("class Other:\n    pass\n", "candidate.py defines no class 'Controller'."),
        ("import missing_module\n", "importing candidate.py failed: ModuleNotFoundError"),
        (
            "class Controller:\n    def __init__(self, beta=0.5):\n        pass\n"
            "    def act(self, obs, info):\n        return 0\n",
            "has no solve(q) method: the sandbox runs controllers written against the question",
        ),
        (
            "class Controller:\n    def __init__(self, beta=0.5):\n        pass\n"
            "    def solve(self, q):\n        raise ValueError('boom')\n",
            "ValueError: boom (on question",
        ),
        (
            "class Controller:\n    def __init__(self, beta=0.5):\n        pass\n"
            "    def solve(self, q):\n        q.read()\n        return 42\n",
            "returned 42 (int) from solve(q)",
        ),
    ],
)
def test_failures_are_sentences(tmp_path, source: str, problem: str) -> None:
    run, _ = play(tmp_path, source)
    assert_rejected(run, problem)


def test_an_allocation_at_import_is_reported_as_out_of_memory(tmp_path) -> None:
    source = "hoard = bytearray(8 * 1024 ** 3)\n\nclass Controller:\n    pass\n"
    run, _ = play(tmp_path, source, limits=Limits(20, 10, 512))
    assert run.problems == [
        "importing candidate.py failed: it ran out of memory (the limit is 512 MiB): "
        "MemoryError.\n    line 1 in <module>: hoard = bytearray(8 * 1024 ** 3)"
    ]


def test_an_endless_loop_ends_at_the_wall_time_limit(tmp_path) -> None:
    source = (
        "class Controller:\n    def __init__(self, beta=0.5):\n        pass\n"
        "    def solve(self, q):\n        while True:\n            pass\n"
    )
    started = time.monotonic()
    run, _ = play(tmp_path, source, limits=Limits(3, 10, 1024))
    assert_rejected(run, "it ran past the wall-time limit of 3 s")
    assert time.monotonic() - started < 3 + 5


def test_honest_play_is_accepted_and_replayed(tmp_path) -> None:
    run, _ = play(tmp_path, HONEST, orders=4)
    assert run.ok, run.problems
    assert run.replayed == 2 * 8  # 8 per (store, setting), each in a fresh process


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find processes")
def test_kill_9_of_a_run_leaves_no_process_and_no_file(tmp_path) -> None:
    store_file = small_store(tmp_path).path
    candidate = tmp_path / "slow.py"
    candidate.write_text(
        "class Controller:\n    def __init__(self, beta=0.5):\n        pass\n"
        "    def solve(self, q):\n        while True:\n            pass\n"
    )
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from tts_gym.evaluation import Protocol
        from tts_gym.sandbox import ControllerSetting, Limits, require_solve
        from tts_gym.sandbox import run_isolated
        from tts_gym.store import load_store
        run_isolated(Path("{candidate}"), "Controller", [load_store("{store_file}")],
                     Protocol("default", 2, 0), require_solve([ControllerSetting("", {{}})]),
                     limits=Limits(120, 110, 1024), allow_missing_layers=True)
        """
    )
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    owner = subprocess.Popen([sys.executable, "-c", script], env=env)
    signal_mid_run(owner, signal.SIGKILL)
    left = list(temp.iterdir())
    if missing_reason() is None:  # the sessions' folders were a tmpfs in their namespace
        assert left == []
    else:  # a folder of its own, which the next run removes
        assert [folder.name.startswith(PREFIX) for folder in left] == [True]
        assert remove_stale_folders(temp) == left


def test_only_the_folders_of_dead_owners_are_removed(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    dead = tmp_path / f"{PREFIX}{done.stdout.strip()}-1-cafe"
    alive = tmp_path / f"{PREFIX}{os.getpid()}-{start_time(os.getpid())}-feed"
    for folder in (dead, alive):
        folder.mkdir()
    assert remove_stale_folders(tmp_path) == [dead]
    assert not dead.exists() and alive.exists()
