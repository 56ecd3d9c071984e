"""Run an untrusted controller file through the boundary and read its results off our episodes.

`run_isolated` checks what it can before anything starts (the stores out of reach, the
file's size, the memory, the core layers), then starts the worker (a zygote, see `zygote`
and `worker`) and asks it for sessions, each a fresh process that loads the candidate: a
few that share the sweep, then one per replayed episode. The parent drives all sessions at
once (`poll` over their sockets), each message carrying the pending actions of every episode
running in that session. Every answer, token count and trace comes from the parent's own
episodes (`EpisodeServer`); the sandbox only ever sends actions and final answers.

Scheduling: episodes start in an order drawn from a seed the candidate never sees, and a
session never runs two episodes of the same question (store and index) at the same time; a
hard question's episodes spread over all sessions. A sample of episodes per (store,
setting), also drawn from that seed, is replayed alone in a fresh process, where the
controller must take exactly the same actions and give the same answer as in the sweep;
otherwise the run is rejected, saying so. State carried between episodes (module globals,
class attributes, caches) therefore buys nothing that a replay would not catch, and the
chance of missing a controller that changed its play in a fraction f of the episodes is
(1 - f) ** n for n replays.

Every failure is a sentence in `IsolatedRun.problems`, never an exception.
"""

from __future__ import annotations

import os
import random
import secrets
import select
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tts_gym.control.outcomes import Orders, Outcomes
from tts_gym.errors import TTSGymError
from tts_gym.sandbox import channel as ch
from tts_gym.sandbox import report
from tts_gym.sandbox.confine import readable_roots
from tts_gym.sandbox.controller import Configure, ControllerSetting, LoadedClass
from tts_gym.sandbox.limits import (
    DEFAULT_LIMITS,
    MEMORY_SHARE,
    Limits,
    available_memory_mb,
    processes_that_fit,
)
from tts_gym.sandbox.processes import Interruptible
from tts_gym.sandbox.server import Ended, EpisodeSpec, Rejection
from tts_gym.sandbox.session import Schedule, Session
from tts_gym.sandbox.wording import bounded, difference, error_sentence
from tts_gym.sandbox.zygote import Zygote
from tts_gym.store.replay import ReplayStore

REPLAYS_PER_CELL = 8
"""Episodes per (store, setting) replayed alone in a fresh process."""
SWEEP_SESSIONS = 4
"""Fresh processes the sweep is spread over (each plays every question, one episode at a time)."""
REPLAY_SESSIONS = 8
"""Replayed episodes played at the same time (each in its own fresh process), at most."""
MAX_MISMATCHES = 3
MAX_SOURCE_BYTES = 1 << 20


@dataclass
class IsolatedRun:
    """What came out of a sandboxed run: problems, or outcomes per (store, setting) index."""

    problems: list[str] = field(default_factory=list)
    isolation: dict[str, str] = field(default_factory=dict)
    loaded: LoadedClass | None = None
    outcomes: dict[tuple[int, int], Outcomes] = field(default_factory=dict)
    reads: list[set[str]] = field(default_factory=list)  # mapping keys read, per setting
    replayed: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def check_out_of_reach(stores: Sequence[ReplayStore]) -> None:
    """Refuse stores that a sandboxed process could read (their gold would be in reach)."""
    roots = readable_roots()
    for store in stores:
        path = Path(os.path.realpath(store.path))
        for root in roots:
            if path.is_relative_to(root):
                raise TTSGymError(
                    f"store file {path} lies inside {root}, which sandboxed controllers can "
                    "read; keep replay stores outside the Python installation and tts-gym."
                )


def run_isolated(
    path: Path,
    class_name: str,
    stores: Sequence[ReplayStore],
    orders: Orders,
    configure: Configure,
    *,
    questions: Sequence[int] | None = None,
    trace_orders: int | None = 0,
    replays: int = REPLAYS_PER_CELL,
    limits: Limits = DEFAULT_LIMITS,
    kernel: bool = True,
    allow_missing_layers: bool = False,
    preload: Sequence[str] = ("numpy",),
    seed: int | None = None,
) -> IsolatedRun:
    """Play `path:class_name` on every (store, question, order, setting), confined.

    `orders` as for `play`; `questions`: the question indices (default all, the same for
    every store); `trace_orders`: trace the first N orders of every question (None: all);
    `replays`: episodes per (store, setting) replayed in a fresh process; `kernel=False`
    leaves out the kernel layers (namespaces, Landlock, seccomp), to show what holds without
    them; with `kernel=True` a run whose core layers are missing (`report`) is refused unless
    `allow_missing_layers`; `preload`: modules the worker imports before confining itself
    (speed only); `seed`: the secret seed of the schedule and the replay sample (default:
    drawn afresh).
    """
    check_out_of_reach(stores)
    run = IsolatedRun()
    source = path.read_bytes()
    require_layers = kernel and not allow_missing_layers
    width, memory = processes_that_fit(limits.memory_mb, max(SWEEP_SESSIONS, REPLAY_SESSIONS))
    run.problems = _refusals(path.name, source, limits, width, require_layers)
    if run.problems:
        return run
    deadline = time.monotonic() + limits.wall_seconds
    rng = random.Random(secrets.randbits(64) if seed is None else seed)
    with Interruptible() as interruptible:
        zygote = watchdog = None
        try:
            zygote = Zygote(source, class_name, limits, kernel, preload, deadline)
            interruptible.stop_with(zygote.interrupt)
            run.isolation = {
                **zygote.layers,
                "memory": memory,
                "disk": f"{limits.disk_mb} MiB for all its folders together",
                "output": f"own pipes, {limits.output_kb:,} KiB in all, drained by the parent",
            }
            watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), zygote.expire)
            watchdog.daemon = True
            watchdog.start()
            if require_layers and report.missing_in(run.isolation, sessions=False):
                raise Rejection(report.refusal(report.missing_in(run.isolation, sessions=False)))
            played = Run(zygote, run, stores, orders, questions, limits, rng, width)
            played.candidate, played.require_layers = (path.name, class_name), require_layers
            played.play(configure, trace_orders, replays)
        except Rejection as rejection:
            run.problems = bounded([str(problem) for problem in rejection.args])
        finally:
            if watchdog is not None:
                watchdog.cancel()
            if zygote is not None:
                zygote.close()
    if kernel and allow_missing_layers and report.missing_in(run.isolation):
        run.isolation[report.ALLOWED_KEY] = report.allowed(report.missing_in(run.isolation))
    return run


def _refusals(
    filename: str, source: bytes, limits: Limits, width: int, require_layers: bool
) -> list[str]:
    """What refuses a run before anything starts: the file's size, the memory, the layers."""
    if len(source) > MAX_SOURCE_BYTES:
        return [
            f"{filename} is {len(source):,} bytes; the sandbox plays controller files of at "
            f"most {MAX_SOURCE_BYTES:,}."
        ]
    if width < 1:
        return [
            f"a sandboxed process may take {limits.memory_mb:,} MiB, more than "
            f"{MEMORY_SHARE:.0%} of the {available_memory_mb():,} MiB this machine has "
            "available; lower the memory limit."
        ]
    missing = report.missing_core_layers() if require_layers else []
    return [report.refusal(missing)] if missing else []


class Run:
    """One run: the sweep spread over a few fresh sessions, then each sampled episode alone."""

    def __init__(
        self,
        zygote: Zygote,
        result: IsolatedRun,
        stores: Sequence[ReplayStore],
        orders: Orders,
        questions: Sequence[int] | None,
        limits: Limits,
        rng: random.Random,
        width: int,
    ) -> None:
        """`width`: the most sessions alive at once (what the run's memory budget allows)."""
        self.zygote = zygote
        self.candidate = ("candidate.py", "Controller")  # as the user named them (sentences)
        self.require_layers = False  # refuse a session whose confinement lacks a core layer
        self.width = width
        self.result = result
        self.stores = stores
        self.orders = orders
        self.limits = limits
        self.rng = rng
        self.questions = [
            list(range(store.n_questions)) if questions is None else list(questions)
            for store in stores
        ]
        self.settings: list[ControllerSetting] = []
        self._orders: dict[tuple[int, int], Sequence[Sequence[int]]] = {}

    def play(self, configure: Configure, trace_orders: int | None, replays: int) -> None:
        """The sweep, then the replays."""
        counts = {
            len(self.question_orders(s, q)) for s, qs in enumerate(self.questions) for q in qs
        }
        if len(counts) != 1:
            raise ValueError("every question must be played under the same number of orders.")
        (n_orders,) = counts

        def traced(spec: EpisodeSpec) -> bool:
            return trace_orders is None or spec.order < trace_orders

        sample: set[EpisodeSpec] = set()
        first = Session(self, sample, traced)
        self._guard(first, lambda: first.open(configure))
        specs = [
            EpisodeSpec(s, q, o, k)
            for s in range(len(self.stores))
            for k in range(len(self.settings))
            for q in self.questions[s]
            for o in range(n_orders)
        ]
        for s in range(len(self.stores)):
            for k in range(len(self.settings)):
                cell = [spec for spec in specs if (spec.store, spec.setting) == (s, k)]
                sample.update(self.rng.sample(cell, min(replays, len(cell))))
        n_sessions = min(SWEEP_SESSIONS, self.width)
        schedule = Schedule(specs, n_sessions, self.rng)
        sessions: list[Session] = []

        def start(index: int) -> Session:
            session = first if index == 0 else Session(self, sample, traced)
            sessions.append(session)
            if index:
                self._guard(session, lambda: session.open(None))
            self._guard(session, lambda: session.begin(schedule, index))
            return session

        self._drive((lambda i=i: start(i) for i in range(n_sessions)), n_sessions)
        ended = [item for session in sessions for item in session.ended]
        self.result.outcomes = self._outcomes(ended, n_orders, trace_orders)
        self._replay([item for item in ended if item.actions is not None])

    def _replay(self, sampled: list[Ended]) -> None:
        """Each sampled episode alone in a fresh process: the same actions, the same answer."""
        self.rng.shuffle(sampled)
        replays: list[tuple[Ended, Session]] = []

        def start(first: Ended) -> Session:
            session = Session(self, {first.spec}, lambda _: False, concurrency=1)
            replays.append((first, session))
            self._guard(session, lambda: session.open(None))
            self._guard(session, lambda: session.begin(Schedule([first.spec], 1, self.rng), 0))
            return session

        width = min(REPLAY_SESSIONS, self.width)
        self._drive((lambda f=first: start(f) for first in sampled), width)
        mismatches = []
        for first, session in replays:
            different = difference(first, session.ended[0])
            if different:
                mismatches.append(f"{self.where(first.spec)}: {different}")
        self.result.replayed = len(replays)
        if mismatches:
            raise Rejection(
                "replayed alone in a fresh process, it acted differently from the sweep ("
                + "; ".join(mismatches[:MAX_MISMATCHES])
                + (f"; and {len(mismatches) - MAX_MISMATCHES} more" if len(mismatches) > 3 else "")
                + "). A controller must act on what the episode at hand revealed: state kept "
                "across episodes (module globals, class attributes, caches) and unseeded random "
                "numbers are not allowed."
            )

    def _drive(self, starts: Iterator[Callable[[], Session]], width: int) -> None:
        """Keep up to `width` sessions playing (started as others end); answer whichever
        speaks next until all have ended."""
        poller = select.poll()
        sessions: list[Session] = []
        playing: dict[int, Session] = {}

        def launch() -> None:
            while len(playing) < width:
                start = next(starts, None)
                if start is None:
                    return
                session = start()
                sessions.append(session)
                if session.in_flight:
                    playing[session.sock.fileno()] = session
                    poller.register(session.sock, select.POLLIN)
                else:
                    self._guard(session, session.finish)

        try:
            launch()
            while playing:
                for fd, _ in poller.poll():
                    session = playing[fd]
                    try:
                        session.step()
                        while session.in_flight and session.channel.has_frame():
                            session.step()
                    except ch.ChannelError as error:
                        raise session.broken(error) from None
                    if not session.in_flight:
                        poller.unregister(fd)
                        del playing[fd]
                        self._guard(session, session.finish)
                        launch()
        finally:
            for session in sessions:
                session.close()

    @staticmethod
    def _guard(session: Session, action: Callable[[], None]) -> None:
        try:
            action()
        except ch.ChannelError as error:
            raise session.broken(error) from None

    # ---- results ----------------------------------------------------------------------------
    def question_orders(self, store: int, question: int) -> Sequence[Sequence[int]]:
        key = (store, question)
        if key not in self._orders:
            n_branches = self.stores[store].questions[question].n_branches
            orders = self.orders
            self._orders[key] = orders(question, n_branches) if callable(orders) else orders
        return self._orders[key]

    def _outcomes(
        self, ended: list[Ended], n_orders: int, trace_orders: int | None
    ) -> dict[tuple[int, int], Outcomes]:
        outcomes: dict[tuple[int, int], Outcomes] = {}
        for s, questions in enumerate(self.questions):
            for k in range(len(self.settings)):
                outcomes[(s, k)] = Outcomes(
                    [[None] * n_orders for _ in questions],
                    np.zeros((len(questions), n_orders), dtype=np.int64),
                    np.zeros((len(questions), n_orders), dtype=np.int64),
                    None if trace_orders == 0 else [[None] * n_orders for _ in questions],
                )
        rows = [{q: r for r, q in enumerate(questions)} for questions in self.questions]
        for item in ended:
            spec = item.spec
            cell = outcomes[(spec.store, spec.setting)]
            row = rows[spec.store][spec.question]
            cell.answers[row][spec.order] = item.answer
            cell.tokens[row, spec.order] = item.tokens
            cell.seq_tokens[row, spec.order] = item.seq_tokens
            if cell.traces is not None:
                cell.traces[row][spec.order] = item.trace
        return outcomes

    # ---- wording ----------------------------------------------------------------------------
    def where(self, spec: EpisodeSpec) -> str:
        where = f"question {spec.question} of {self.stores[spec.store].name}, order {spec.order}"
        label = self.settings[spec.setting].label if self.settings else ""
        return where + (f", {label}" if label else "")

    def in_episode(self, rejection: Rejection) -> str:
        if rejection.spec is None:
            return str(rejection)
        where = f"(on {self.where(rejection.spec)})"
        if rejection.error:
            error = ch.load_json(rejection.error, "error")
            return error_sentence(error, self.limits, where)
        return f"{str(rejection).rstrip('.')} {where}."

    def load_failure(self, failure: Any) -> str:
        filename, class_name = self.candidate
        if isinstance(failure, dict) and failure.get("missing") is True:
            return f"{filename} defines no class '{class_name}'."
        return f"importing {filename} failed: " + error_sentence(failure, self.limits)
