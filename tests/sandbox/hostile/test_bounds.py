"""Nothing the trusted side does for a candidate is unbounded: errors, verdicts, memory, disk
and output each have a cap per run, and each excess is one clear sentence.

Before: 100,000 config reads or a 50,000-parameter signature gave 100,000 error sentences
(a 10 MB verdict); an illegal batch call listing a slot 1.5M times made the parent format
all of them; 8 replays held 8x the memory limit; a run could fill the temp disk.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time

import pytest

from tests.sandbox.support import LIMITS, assert_rejected, controller, play, small_store
from tests.support import allow_missing_layers, sandboxed_processes
from tts_gym.cli import main
from tts_gym.sandbox import limits as sandbox_limits
from tts_gym.sandbox import run as sandbox_run

MAX_VERDICT = 16 * 1024
"""Bytes a verdict may take whatever the candidate did (five problems and a count)."""


def check_controller(tmp_path, capsys, source: str, *extra: str) -> tuple[int, dict, int]:
    """`tts-gym check-controller` on `source` (two questions of a synthetic store): its exit
    code, verdict and the verdict's size in bytes."""
    path = tmp_path / "controller.py"
    path.write_text(source)
    store = str(small_store(tmp_path).path)
    args = ["check-controller", f"{path}:Controller", "--stores", store, "--questions", "2"]
    args += ["--orders", "1", "--betas", "0,1", "--memory-mb", "1024", *allow_missing_layers()]
    code = main([*args, *extra])
    out = capsys.readouterr().out
    return code, json.loads(out), len(out.encode())


def test_100k_config_reads_give_a_short_verdict(tmp_path, capsys) -> None:
    source = (
        "class Controller:\n    def __init__(self, config):\n        self.config = config\n\n"
        "    def solve(self, q):\n        for i in range(100_000):\n"
        "            self.config.get(f'knob{i}')\n        return q.read()\n"
    )
    code, verdict, size = check_controller(tmp_path, capsys, source)
    assert code == 1 and size < MAX_VERDICT
    assert len(verdict["errors"]) == 6 and "a second knob besides beta" in verdict["errors"][0]
    assert verdict["errors"][-1].startswith("... and ")


def test_a_50k_parameter_signature_is_one_sentence(tmp_path, capsys) -> None:
    parameters = ", ".join(f"p{i}=0" for i in range(50_000))
    source = (
        f"class Controller:\n    def __init__(self, beta=0.5, {parameters}):\n"
        "        self.beta = beta\n\n    def solve(self, q):\n        return q.read()\n"
    )
    code, verdict, size = check_controller(tmp_path, capsys, source)
    assert code == 1 and size < MAX_VERDICT
    assert verdict["errors"] == [
        "its constructor takes 50,001 parameters; the sandbox plays classes with at most 64."
    ]


def test_a_20k_line_bad_source_gives_a_short_verdict(tmp_path, capsys) -> None:
    source = "".join(f"import os{i}\n" for i in range(20_000)) + controller("return q.read()")
    code, verdict, size = check_controller(tmp_path, capsys, source)
    assert code == 1 and size < MAX_VERDICT and len(verdict["errors"]) == 6


def test_a_batch_call_listing_a_slot_1_5m_times_is_refused_in_a_short_sentence(tmp_path):
    source = controller(  # once per process: eight episodes at once would send 96 MB
        "if not CALLED:\n    CALLED.append(1)\n    try:\n"
        "        q.advance_many([0] * 1_500_000)\n    except ValueError as error:\n"
        "        raise RuntimeError(str(error)) from None\nreturn q.read()",
        "CALLED = []",
    )
    started = time.process_time()
    run, _ = play(tmp_path, source, orders=1, replays=0)
    assert time.process_time() - started < 10  # the parent formats 8 slots, not 1.5M
    assert_rejected(run, "advance_many([0, 0, 0, 0, 0, 0, 0, 0, ... 1,500,000 slots in all])")
    assert len(run.problems[0]) < 600


def test_concurrent_processes_are_sized_from_the_memory_available(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox_limits, "available_memory_mb", lambda: 3000)
    assert sandbox_limits.processes_that_fit(1024, 8)[0] == 2  # 75% of 3000 MiB
    most = []

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not done.is_set():
            most.append(len(sandboxed_processes(threading.main_thread().native_id, launcher=False)))
            time.sleep(0.02)

    done = threading.Event()
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        run, _ = play(tmp_path, "import time\n" + controller("time.sleep(0.05)\nreturn q.read()"))
    finally:
        done.set()
        watcher.join()
    assert run.ok, run.problems
    assert "as many processes of 1,024 MiB at once as fit in 75%" in run.isolation["memory"]
    assert 2 <= max(most) <= 1 + 2  # the worker and at most two sessions


def test_a_process_limit_beyond_the_memory_available_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox_limits, "available_memory_mb", lambda: 1000)
    monkeypatch.setattr(sandbox_run, "available_memory_mb", lambda: 1000)
    run, _ = play(tmp_path, controller("return q.read()"))
    assert run.problems == [
        "a sandboxed process may take 1,024 MiB, more than 75% of the 1,000 MiB this machine "
        "has available; lower the memory limit."
    ]


FILL = """
    import os

    class Controller:
        def __init__(self, beta=0.5):
            self.beta = beta

        def solve(self, q):
            for i in range(64):  # 8 MiB a file (under the 64 MiB file limit), 512 MiB in all
                with open(f"fill-{{i}}", "wb") as handle:
                    handle.write(b"x" * (8 << 20))
                {wait}
            return q.read()
"""


@pytest.mark.parametrize("kernel", [True, False], ids=["quota (tmpfs or accounting)", "accounting"])
def test_filling_the_disk_stops_at_the_runs_quota(tmp_path, monkeypatch, kernel: bool) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr("tempfile.tempdir", None)
    limits = dataclasses.replace(LIMITS, disk_mb=32)
    wait = "__import__('time').sleep(0.3)"  # slow enough for the accounting to see it
    run, _ = play(tmp_path, FILL.format(wait=wait), limits=limits, kernel=kernel, replays=0)
    assert_rejected(run, "its files grew past the run's disk quota of 32 MiB")
    assert list(temp.iterdir()) == []


def test_printing_past_the_cap_is_one_sentence(tmp_path) -> None:
    limits = dataclasses.replace(LIMITS, output_kb=64)
    source = controller("print('x' * 100_000)\nreturn q.read()")
    run, _ = play(tmp_path, source, limits=limits, replays=0)
    assert run.problems == [
        "it printed more than the run's cap of 64 KiB on its standard output and error."
    ]


def test_stress_every_cap_at_once(tmp_path, capsys) -> None:
    """Each episode prints, reads a thousand config keys, and raises a megabyte of message;
    the constructor takes 60 knobs: the verdict stays short and the run ends in time."""
    knobs = ", ".join(f"k{i}=0" for i in range(60))
    source = (
        f"class Controller:\n    def __init__(self, beta=0.5, config=None, {knobs}):\n"
        "        self.config = config or {}\n\n"
        "    def solve(self, q):\n        print('y' * 5000)\n"
        "        for i in range(1000):\n            self.config.get(f'x{i}')\n"
        "        q.read()\n        raise ValueError('z' * 1_000_000)\n"
    )
    started = time.monotonic()
    code, verdict, size = check_controller(tmp_path, capsys, source)
    assert code == 1 and size < MAX_VERDICT and len(verdict["errors"]) <= 6
    assert time.monotonic() - started < 60
