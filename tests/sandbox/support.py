"""Playing controller files through the boundary on a small synthetic store (no data needed)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tts_gym.evaluation import Protocol
from tts_gym.sandbox import (
    ControllerSetting,
    IsolatedRun,
    Limits,
    require_solve,
    run_isolated,
)
from tts_gym.store import load_store
from tts_gym.store.replay import ReplayStore
from tts_gym.store.synthetic import generate_store, write_store

BETAS = (0.0, 1.0)
LIMITS = Limits(wall_seconds=60, cpu_seconds=50, memory_mb=1024)


def small_store(folder: Path) -> ReplayStore:
    """Eight questions of sixteen short branches: episodes of a few dozen actions."""
    questions = generate_store(8, 16, seed=5, solve_rate=(0.2, 0.8), tokens=(1_000, 4_000))
    return load_store(write_store(questions, folder / "small.json"))


def play(
    folder: Path,
    source: str,
    *,
    store: ReplayStore | None = None,
    orders: int = 3,
    betas: Sequence[float] = BETAS,
    seed: int | None = 0,
    kernel: bool = False,
    limits: Limits = LIMITS,
    replays: int = 8,
    name: str = "candidate.py",
) -> tuple[IsolatedRun, ReplayStore]:
    """Write `source` as a controller file `name` and play `Controller` through the boundary.

    Kernel layers are off by default: what these tests show must hold without them (with
    them on, a machine without some is allowed to play: the tests say what needs which).
    """
    path = folder / name
    path.write_text(textwrap.dedent(source))
    store = store or small_store(folder)
    settings = [ControllerSetting(f"beta={b:g}", {"beta": b}) for b in betas]
    run = run_isolated(
        path,
        "Controller",
        [store],
        Protocol("default", orders, 0),
        require_solve(settings),
        trace_orders=None,
        replays=replays,
        limits=limits,
        kernel=kernel,
        allow_missing_layers=True,
        seed=seed,
    )
    return run, store


def assert_rejected(run: IsolatedRun, *reasons: str) -> None:
    """Rejected, with one of `reasons` in what it says."""
    assert not run.ok, "accepted"
    assert any(reason in problem for problem in run.problems for reason in reasons), run.problems


def assert_only_what_it_revealed(run: IsolatedRun, store: ReplayStore) -> float:
    """Accepted, and every answer is one its own actions revealed in that episode (so it is
    correct no more often than the gold answer was among them); returns its accuracy."""
    assert run.ok, run.problems
    correct, gold_seen = [], []
    for (_, _), outcomes in run.outcomes.items():
        for question, answers, traces in zip(
            store.questions, outcomes.answers, outcomes.traces, strict=True
        ):
            for answer, trace in zip(answers, traces, strict=True):
                seen = {a["revealed"] for a in trace["actions"] if a["revealed"] is not None}
                assert answer is None or answer in seen, (answer, seen)
                correct.append(answer == question.gold)
                gold_seen.append(question.gold in seen)
    assert np.sum(correct) <= np.sum(gold_seen)
    return float(np.mean(correct))


HONEST = """
    from collections import Counter


    class Controller:
        def __init__(self, beta=0.5):
            self.width = 2 + round(4 * beta)

        def solve(self, q):
            votes = Counter(q.read() for _ in range(self.width) if q.can_branch)
            return votes.most_common(1)[0][0] if votes else None
"""
"""Reads a few branches and takes the majority: what honest play earns."""


def controller(solve: str, header: str = "") -> str:
    """A candidate file: `header` (imports, helpers), then `Controller` whose `solve(q)` body
    is `solve` (one statement a line)."""
    return (
        textwrap.dedent(header)
        + "\n\nclass Controller:\n    def __init__(self, beta=0.5):\n        self.beta = beta\n\n"
        + "    def solve(self, q):\n"
        + textwrap.indent(textwrap.dedent(solve).strip(), "        ")
        + "\n"
    )


PROBE = """
    import errno
    import os


    def outcome(action):
        try:
            action()
            return "ok"
        except OSError as error:
            return errno.errorcode.get(error.errno, str(error.errno))
        except Exception as error:
            return type(error).__name__


    class Controller:
        def __init__(self, beta=0.5):
            self.beta = beta

        def solve(self, q):
            results = {{name: outcome(action) for name, action in {{{probes}}}.items()}}
            raise RuntimeError("PROBE " + " ".join(f"{{k}}={{v}}" for k, v in results.items()))
"""
"""A candidate that tries `probes` (`name: lambda: action` pairs, Python source) from inside a
session and reports each outcome (`ok` or the error's name) in the exception it raises."""


def probe(folder: Path, probes: dict[str, str], header: str = "", **kwargs) -> dict[str, str]:
    """Play `PROBE` with these probes (kernel layers on, missing ones allowed: the tests say
    which layer each outcome depends on); what each probe met inside the sandbox."""
    body = ", ".join(f"{name!r}: lambda: {action}" for name, action in probes.items())
    source = textwrap.dedent(header) + textwrap.dedent(PROBE.format(probes=body))
    kwargs = {"kernel": True, "orders": 1, "betas": (0.5,), "replays": 0, **kwargs}
    run, _ = play(folder, source, **kwargs)
    found = [problem for problem in run.problems if "PROBE " in problem]
    assert found, run.problems
    words = found[0].split("PROBE ", 1)[1].splitlines()[0].split(" (on question")[0].split()
    return dict(word.split("=", 1) for word in words)
