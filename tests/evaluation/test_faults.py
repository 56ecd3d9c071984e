"""Issue 14's policy faults: each ends in one sentence, a non-zero exit, no process, no file.

Each row of the issue's table is a case run through the real command line (`python -m
tts_gym.cli eval`, as a process) on a small synthetic store, with one worker and with two:
a policy that calls `sys.exit`, ends its process (`os._exit`), is killed, or never returns.
Every process the command starts carries a marker in its environment, so a process left
behind (a worker, or a child the policy started) is found after the command has ended.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from tests.support import default_sigint
from tts_gym.control.errors import PolicyError
from tts_gym.control.play import play
from tts_gym.errors import TTSGymError
from tts_gym.evaluation import evaluate
from tts_gym.store import load_store
from tts_gym.store.synthetic import generate_store, write_store

TIME_BOUND = 60.0
"""Seconds any case may take, start to end (interpreter start included, on a loaded machine)."""
LIMIT = 1.0
"""--timeout of the cases whose policy never returns."""
HARNESS = importlib.import_module("tts_gym.evaluation.evaluate")  # the module, not evaluate()

POLICIES = '''
import os, signal, subprocess, sys, time


class Exits:
    def solve(self, q):
        q.branch()
        sys.exit(3)


class EndsItsProcess:
    def solve(self, q):
        os._exit(0)


class IsKilled:
    def solve(self, q):
        os.kill(os.getpid(), signal.SIGKILL)


class Loops:
    def solve(self, q):
        while True:
            pass


class LoopsWithAChild:
    """Starts a process of its own, then never returns: the child must not outlive the run."""

    def solve(self, q):
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        while True:
            time.sleep(0.01)


class StepLoops:
    """A step policy: played side by side on the vector env, no single question under way."""

    def act(self, obs, info):
        while True:
            pass


class Later:
    """Answers the first four questions it is given, then does `how` on the fifth."""

    def __init__(self, how):
        self.how, self.calls = how, 0

    def solve(self, q):
        self.calls += 1
        if self.calls == 5:
            if self.how == "exit":
                sys.exit(3)
            while True:
                pass
        return q.branch()[0]
'''


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A 6-question store `tiny.json` and the policies file `policies.py`."""
    folder = tmp_path_factory.mktemp("faults")
    write_store(generate_store(6, 8, seed=0, tokens=(1_000, 4_000)), folder / "tiny.json")
    (folder / "policies.py").write_text(POLICIES)
    return folder


def start_eval(
    folder: Path, tag: str, policy: str, *args: str, traces: bool = True
) -> subprocess.Popen:
    """`tts-gym eval` of `policies.py:POLICY` on the store, writing a CSV (and traces) to `out/`."""
    (folder / "out").mkdir(exist_ok=True)
    command = [
        sys.executable, "-m", "tts_gym.cli", "eval", "--policy", f"policies.py:{policy}",
        "--stores", "tiny.json", "--orders", "1", "--no-baselines", "--quiet",
        "--format", "csv", "-o", "out/cells.csv", *args,
    ]  # fmt: skip
    if traces:  # traced, every policy plays one episode at a time
        command += ["--traces", "out/traces.jsonl"]
    return subprocess.Popen(
        command,
        cwd=folder,
        env={**os.environ, "TTS_FAULT_TAG": tag},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, as a command started from a shell is
        # Ctrl-C reaches it as it reaches a command in a terminal, even where this test runs
        # in the background of a non-interactive shell, which starts it with SIGINT ignored
        preexec_fn=default_sigint,
    )


def tagged(tag: str) -> list[int]:
    """Live processes started by the command tagged `tag` (workers, their children)."""
    marker = f"TTS_FAULT_TAG={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue  # gone meanwhile, or not ours
    return found


def wait_for_processes(tag: str, count: int) -> bool:
    """Wait until the command tagged `tag` runs `count` processes (itself included)."""
    deadline = time.monotonic() + TIME_BOUND
    while len(tagged(tag)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(tagged(tag)) >= count


def finish(process: subprocess.Popen, tag: str) -> tuple[int, str, float]:
    """Wait for the command; its exit status and stderr. Asserts that nothing of it is left
    (and kills what was, so that a failing case leaves nothing running either)."""
    started = time.monotonic()
    try:
        process.wait(timeout=TIME_BOUND)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    elapsed = time.monotonic() - started
    left = tagged(tag)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    out, err = process.communicate()
    assert elapsed < TIME_BOUND, f"the command ran past {TIME_BOUND} s"
    assert left == [], "a process of the command outlived it"
    assert out == ""
    return process.returncode, err, elapsed


def assert_one_sentence(status: int, err: str, *parts: str) -> None:
    assert status == 1, err
    assert err.startswith("tts-gym eval: ") and err.endswith(".\n") and err.count("\n") == 1, err
    for part in parts:
        assert part in err, err


def assert_no_output(folder: Path) -> None:
    assert list((folder / "out").iterdir()) == []  # no partial CSV, traces or temporary file


ROWS = {
    "Exits": "policy 'Exits' raised SystemExit: 3 (on question 0 of tiny).",
    "EndsItsProcess": "the worker process playing policy 'EndsItsProcess' exited with status 0 "
    "(on question 0 of tiny).",
    "IsKilled": "the worker process playing policy 'IsKilled' was killed by SIGKILL "
    "(on question 0 of tiny).",
}


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("policy", sorted(ROWS))
def test_a_policy_that_ends_its_worker(folder, policy, jobs):
    tag = uuid.uuid4().hex
    status, err, _ = finish(start_eval(folder, tag, policy, "--jobs", jobs), tag)
    if jobs == "2" and policy == "Exits":  # either worker's first question may fail first
        assert_one_sentence(status, err, "policy 'Exits' raised SystemExit: 3 (on question ")
    elif jobs == "2":
        assert_one_sentence(status, err, ROWS[policy].split(" (on")[0], " (on question ")
    else:
        assert_one_sentence(status, err, ROWS[policy])
    assert_no_output(folder)


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("policy", ["Loops", "LoopsWithAChild"])
def test_a_policy_that_never_returns_is_stopped_at_its_time_limit(folder, policy, jobs):
    tag = uuid.uuid4().hex
    process = start_eval(folder, tag, policy, "--jobs", jobs, "--timeout", str(LIMIT))
    status, err, elapsed = finish(process, tag)
    assert_one_sentence(
        status,
        err,
        f"policy '{policy}' did not finish tiny within its time limit of 1 s (stopped on question",
        "--timeout sets the limit",
    )
    assert elapsed >= LIMIT / int(jobs)  # the limit adds up the workers' time on the store
    assert_no_output(folder)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("Later --config how=exit", "policy 'Later' raised SystemExit: 3 (on question 4 of tiny)."),
        ("Later --config how=loop", "time limit of 1 s (stopped on question 4; --timeout"),
        ("StepLoops", "time limit of 1 s (stopped on questions 0-2; --timeout"),
    ],
)
def test_the_sentence_names_the_question_under_way(folder, policy, expected):
    """One worker takes the questions in order, so the policy's fifth call is question 4; a
    step policy (untraced) plays a task's episodes side by side, so its task's range is named."""
    tag = uuid.uuid4().hex
    name, *config = policy.split()
    args = ("--jobs", "1", "--timeout", str(LIMIT), *config)
    process = start_eval(folder, tag, name, *args, traces=name != "StepLoops")
    status, err, _ = finish(process, tag)
    assert_one_sentence(status, err, expected)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_stops_everything_promptly(folder, jobs):
    tag = uuid.uuid4().hex
    process = start_eval(folder, tag, "LoopsWithAChild", "--jobs", jobs)
    # the command, its workers and the policy's children, all running
    assert wait_for_processes(tag, 1 + 2 * int(jobs)), "the run never got under way"
    process.send_signal(signal.SIGINT)
    status, err, elapsed = finish(process, tag)
    assert status == 130 and err == "tts-gym eval: interrupted.\n"
    assert elapsed < 10.0
    assert_no_output(folder)


def test_kill_9_of_the_command_takes_its_workers_along(folder):
    tag = uuid.uuid4().hex
    process = start_eval(folder, tag, "Loops", "--jobs", "2")
    assert wait_for_processes(tag, 3), "the run never got under way"
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=TIME_BOUND)
    deadline = time.monotonic() + 10
    while tagged(tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = tagged(tag)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == [], "a worker outlived the command"


class Ok:
    def solve(self, q):
        return q.branch()[0]


class Loops:
    def solve(self, q):
        while True:
            pass


def test_policies_not_built_in_get_the_default_time_limit(folder, monkeypatch):
    monkeypatch.setattr(HARNESS, "POLICY_TIMEOUT", 0.5)
    started = time.monotonic()
    with pytest.raises(PolicyError, match="within its time limit of 0.5 s"):
        evaluate(Loops(), folder / "tiny.json", n_orders=1, jobs=1)
    assert time.monotonic() - started < TIME_BOUND
    # the built-ins have none: a limit that nothing could meet stops nothing
    monkeypatch.setattr(HARNESS, "POLICY_TIMEOUT", 1e-9)
    (cell,) = evaluate("cmc", folder / "tiny.json", n_orders=2, jobs=2, engine="python")
    assert cell.correct.shape == (6, 2)


def test_supervised_workers_give_a_serial_run_s_results(folder):
    store = load_store(folder / "tiny.json")
    for jobs in (1, 2):
        (cell,) = evaluate(Ok(), store, "default", n_orders=3, jobs=jobs, timeout=30)
        serial = play(Ok(), store, cell.protocol)  # here, in this process
        assert cell.outcomes.answers == serial.answers
        np.testing.assert_array_equal(cell.outcomes.tokens, serial.tokens)


@pytest.mark.parametrize("timeout", [0, -1.0, float("inf"), float("nan"), "soon", True])
def test_a_timeout_that_is_not_a_number_of_seconds_is_refused(folder, timeout):
    with pytest.raises(TTSGymError, match="is not a positive number of seconds"):
        evaluate(Ok(), folder / "tiny.json", n_orders=1, timeout=timeout)
