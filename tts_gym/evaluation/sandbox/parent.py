"""Run an untrusted controller file through the boundary and read its results off our episodes.

`run_isolated` starts the worker (a zygote, see `worker`) in a fresh folder and asks it for
sessions, each a fresh process that loads the candidate: a few that share the sweep, then one
per replayed episode. The parent drives all sessions at once (`poll` over their sockets),
each message carrying the pending actions of every episode running in that session. Every
answer, token count and trace comes from the parent's own episodes (`EpisodeServer`); the
sandbox only ever sends actions and final answers.

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

import contextlib
import json
import os
import random
import secrets
import select
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tts_gym.control.outcomes import Orders, Outcomes
from tts_gym.errors import TTSGymError
from tts_gym.evaluation.sandbox import channel as ch
from tts_gym.evaluation.sandbox.confine import VIOLATION_EXIT, readable_roots
from tts_gym.evaluation.sandbox.processes import kill_group, sandbox_folder, start_group
from tts_gym.evaluation.sandbox.server import Ended, EpisodeServer, EpisodeSpec, Rejection
from tts_gym.store.replay import ReplayStore

REPLAYS_PER_CELL = 8
"""Episodes per (store, setting) replayed alone in a fresh process."""
CONCURRENCY = 48
"""Most episodes running at once in one sandboxed process (fewer when there are fewer
questions). Wider messages save round trips but interleave more episodes, whose state then
falls out of the CPU caches on both sides: on the loop's default sweep 32 or 48 took less CPU
than 120 (every question at once) in sequential runs, and 12 paid more in round trips than it
saved (docs/discovery.md, "The price of the boundary")."""
SWEEP_SESSIONS = 4
"""Fresh processes the sweep is spread over (each plays every question, one episode at a time)."""
REPLAY_SESSIONS = 8
"""Replayed episodes played at the same time (each in its own fresh process)."""
FILE_LIMIT_MB = 64
CPU_SHARE = 0.9
STDERR_TAIL_LINES = 5
MAX_MISMATCHES = 3
_TOO_SLOW = "(an endless loop, or far too slow)."


@dataclass(frozen=True)
class Limits:
    """Per run: wall-clock seconds (parent), CPU seconds per process and address space."""

    wall_seconds: float = 300.0
    cpu_seconds: int = 240
    memory_mb: int = 2048

    @classmethod
    def from_wall(cls, wall_seconds: float, memory_mb: int) -> Limits:
        """The CPU-time limit is 90% of the wall time (a busy loop hits it first)."""
        return cls(wall_seconds, max(1, int(wall_seconds * CPU_SHARE)), memory_mb)

    def describe(self) -> str:
        return (
            f"{self.wall_seconds:g} s wall, {self.cpu_seconds} s CPU, {self.memory_mb} MiB memory"
        )


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str  # inspect.Parameter kind name, e.g. "POSITIONAL_OR_KEYWORD", "VAR_KEYWORD"
    has_default: bool


@dataclass(frozen=True)
class LoadedClass:
    """What the sandbox says it loaded (the sandbox's word: checks on it are advisory)."""

    name: str
    is_class: bool
    methods: tuple[str, ...]
    parameters: tuple[Parameter, ...] | None
    label: str = ""  # its `name` (or AutoTTS `NAME`) attribute, as tables name it

    @classmethod
    def parse(cls, data: Any) -> LoadedClass:
        try:
            parameters = data["parameters"]
            loaded = cls(
                label=_text(data["label"]),
                name=_text(data["name"]),
                is_class=data["is_class"] is True,
                methods=tuple(_text(m) for m in data["methods"]),
                parameters=None
                if parameters is None
                else tuple(Parameter(_text(n), _text(k), d is True) for n, k, d in parameters),
            )
        except (KeyError, TypeError, ValueError):
            raise Rejection("it sent a malformed description of its class.") from None
        return loaded


@dataclass(frozen=True)
class ControllerSetting:
    """One way to construct the controller: keyword arguments (JSON) and a label for messages."""

    label: str
    kwargs: Mapping[str, Any]


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


Configure = Callable[[LoadedClass], Sequence[ControllerSetting]]
"""Turns the loaded class into the settings to play; raises `Rejection(*problems)` to refuse."""


def require_solve(settings: Sequence[ControllerSetting]) -> Configure:
    """The plain `Configure`: the class must have solve(q); play it with `settings`."""

    def configure(loaded: LoadedClass) -> Sequence[ControllerSetting]:
        if not loaded.is_class:
            raise Rejection(f"{loaded.name} is not a class.")
        if "solve" not in loaded.methods:
            raise Rejection(
                f"{loaded.name} has no solve(q) method: the sandbox runs controllers written "
                "against the question handle (tts-gym's or AutoTTS's). run(episode) would need "
                "the parent's episode itself and act(obs, info) observations of it, which the "
                "boundary does not hand out."
            )
        return settings

    return configure


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
    limits: Limits = Limits(),
    kernel: bool = True,
    preload: Sequence[str] = ("numpy",),
    seed: int | None = None,
) -> IsolatedRun:
    """Play `path:class_name` on every (store, question, order, setting), confined.

    `orders` as for `play`; `questions`: the question indices (default all, the same for
    every store); `trace_orders`: trace the first N orders of every question (None: all);
    `replays`: episodes per (store, setting) replayed in a fresh process; `kernel=False`
    leaves out the kernel layers (network namespace, Landlock, seccomp), to show what holds
    without them; `preload`: modules the worker imports before confining itself (speed only);
    `seed`: the secret seed of the schedule and the replay sample (default: drawn afresh).
    """
    check_out_of_reach(stores)
    deadline = time.monotonic() + limits.wall_seconds
    rng = random.Random(secrets.randbits(64) if seed is None else seed)
    run = IsolatedRun()
    with sandbox_folder() as folder:
        work = folder / "work"
        work.mkdir()
        shutil.copyfile(path, work / path.name)
        zygote = watchdog = None
        try:
            zygote = _Zygote(folder, path.name, class_name, limits, kernel, preload, deadline)
            run.isolation = dict(zygote.layers)
            watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), zygote.expire)
            watchdog.daemon = True
            watchdog.start()
            _Run(zygote, run, stores, orders, questions, limits, rng).play(
                configure, trace_orders, replays
            )
        except Rejection as rejection:
            run.problems = [str(problem) for problem in rejection.args]
        except TimeoutError:
            run.problems = [
                f"it ran past the wall-time limit of {limits.wall_seconds:g} s {_TOO_SLOW}"
            ]
        finally:
            if watchdog is not None:
                watchdog.cancel()
            if zygote is not None:
                zygote.close()
    return run


class _Zygote:
    """The worker process and its control socket: forks sessions, reaps them."""

    def __init__(
        self,
        folder: Path,
        filename: str,
        class_name: str,
        limits: Limits,
        kernel: bool,
        preload: Sequence[str],
        deadline: float,
    ) -> None:
        self.deadline = deadline
        self.expired = False
        self.filename = filename
        self.class_name = class_name
        self.log = open(folder / "stderr.log", "w+b")  # noqa: SIM115 - closed in close()
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        work = folder / "work"
        env = {
            "PATH": os.defpath,
            "HOME": str(work),
            "TMPDIR": str(work),
            "LANG": "C.UTF-8",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        command = [sys.executable, "-s", "-B", "-m", "tts_gym.evaluation.sandbox.worker"]
        self.process = start_group(
            [*command, str(theirs.fileno())],
            cwd=work,
            env=env,
            stdout=self.log,
            stderr=self.log,
            pass_fds=(theirs.fileno(),),
        )
        theirs.close()
        request = {
            "filename": filename,
            "class_name": class_name,
            "memory_mb": limits.memory_mb,
            "cpu_seconds": limits.cpu_seconds,
            "kernel": kernel,
            "preload": list(preload),
        }
        self.control.send(json.dumps(request).encode())
        try:
            self.layers = json.loads(self._receive())
        except ch.ChannelError:
            raise Rejection(f"the sandbox did not start: {self.stderr_tail() or '?'}") from None

    def expire(self) -> None:
        """The watchdog's call at the deadline: kill the sandbox, which closes its sockets."""
        self.expired = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def fork(self) -> tuple[int, socket.socket]:
        """A fresh process: its pid and our end of its channel."""
        self.control.send(b"fork")
        self._wait()
        try:
            message, fds, _, _ = socket.recv_fds(self.control, 64, 1)
        except OSError:
            message, fds = b"", []
        if self.expired:
            raise TimeoutError
        if not message or len(fds) != 1:
            raise Rejection(f"the sandbox could not start a process: {self.stderr_tail() or '?'}")
        return int(message), socket.socket(fileno=fds[0])

    def reap(self, pid: int) -> int | None:
        """Wait for the process to end; its exit status (negative: the signal), None if lost."""
        with contextlib.suppress(OSError):
            self.control.send(b"reap %d" % pid)
        try:
            return int(self._receive())
        except (ch.ChannelError, ValueError, OSError):
            if self.expired:
                raise TimeoutError from None
            return None

    def _receive(self) -> bytes:
        self._wait()
        message = self.control.recv(1 << 16)
        if not message:
            raise ch.ChannelError("the sandbox closed its control channel", closed=True)
        return message

    def _wait(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0 or self.expired:
            raise TimeoutError
        self.control.settimeout(left)

    def stderr_tail(self) -> str:
        self.log.flush()
        self.log.seek(0, os.SEEK_END)
        size = self.log.tell()
        self.log.seek(max(0, size - 4000))
        text = self.log.read().decode("utf-8", "replace")
        return "\n".join(text.strip().splitlines()[-STDERR_TAIL_LINES:])

    def close(self) -> None:
        kill_group(self.process)
        self.control.close()
        self.log.close()


class _Schedule:
    """Which episode a session starts next: random (secret seed), and never one of a question
    already running in that session. Sessions draw from one queue per question, so a hard
    question's episodes spread over every session instead of queueing in one."""

    def __init__(self, specs: Sequence[EpisodeSpec], sessions: int, rng: random.Random) -> None:
        self.rng = rng
        self.queues: dict[tuple[int, int], list[EpisodeSpec]] = {}
        for spec in specs:
            self.queues.setdefault((spec.store, spec.question), []).append(spec)
        for queue in self.queues.values():
            rng.shuffle(queue)
        self.ready = [list(self.queues) for _ in range(sessions)]  # keys free in each session

    @property
    def width(self) -> int:
        return len(self.queues)

    def take(self, session: int) -> EpisodeSpec | None:
        ready = self.ready[session]
        while ready:
            index = self.rng.randrange(len(ready))
            ready[index], ready[-1] = ready[-1], ready[index]
            queue = self.queues[ready.pop()]
            if queue:
                return queue.pop()
        return None

    def release(self, session: int, spec: EpisodeSpec) -> None:
        key = (spec.store, spec.question)
        if self.queues[key]:
            self.ready[session].append(key)


class _Session:
    """One fresh sandboxed process and the episodes it plays (one per question at a time)."""

    def __init__(
        self,
        run: _Run,
        sample: set[EpisodeSpec],
        traced: Callable[[EpisodeSpec], bool],
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.run = run
        self.pid, self.sock = run.zygote.fork()
        self.channel = ch.Channel(self.sock)
        self.sample = sample
        self.traced = traced
        self.concurrency = concurrency
        self.schedule = _Schedule((), 1, run.rng)
        self.index = 0  # this session's number in the schedule
        self.server = EpisodeServer(run.stores, concurrency)
        self.ended: list[Ended] = []
        self.in_flight = False  # RESULTS sent, its ACTIONS not yet received
        self.closed = False

    def open(self, configure: Configure | None) -> None:
        """Check its confinement and class, and hand it the settings."""
        run = self.run
        layers = ch.load_json(self._expect(ch.CONFINED), "confinement")
        if isinstance(layers, dict):
            run.result.isolation.update({str(k): str(v) for k, v in layers.items() if v})
        kind, body = self._receive((ch.LOADED, ch.FAILED))
        if kind == ch.FAILED:
            raise Rejection(run.load_failure(ch.load_json(body, "failure")))
        loaded = LoadedClass.parse(ch.load_json(body, "class"))
        if configure is not None:
            run.result.loaded = loaded
            run.settings = list(configure(loaded))
            run.result.reads = [set() for _ in run.settings]
        elif loaded != run.result.loaded:
            raise Rejection("loaded in a fresh process, it described its class differently.")
        self.channel.send_json(ch.PLAY, {"settings": [dict(s.kwargs) for s in run.settings]})

    def begin(self, schedule: _Schedule, index: int) -> None:
        """Start its first episodes; it takes them from `schedule` as session `index`."""
        self.schedule, self.index = schedule, index
        results = ch.Results.empty()
        self._start(results, min(self.concurrency, schedule.width))
        self._send(results)

    def step(self) -> None:
        """Take its next ACTIONS message and answer it."""
        kind, body = self.channel.receive()
        if kind != ch.ACTIONS:
            self._unexpected(kind, body, (ch.ACTIONS,))
        actions = ch.decode_actions(body)
        self.in_flight = False
        try:
            results, done = self.server.apply(actions)
        except Rejection as rejection:
            raise Rejection(self.run.in_episode(rejection)) from None
        for item in done:
            self.schedule.release(self.index, item.spec)
        self.ended.extend(done)
        self._start(results, len(done))
        self._send(results)

    def _send(self, results: ch.Results) -> None:
        if self.server.running:
            self.channel.send(ch.RESULTS, ch.encode_results(results))
            self.in_flight = True

    def finish(self) -> None:
        """All its episodes ended: let it go, read which mapping keys it used, reap it."""
        self.channel.send(ch.DONE)
        end = ch.load_json(self._expect(ch.END), "end")
        reads = end.get("reads") if isinstance(end, dict) else None
        if not isinstance(reads, list) or len(reads) != len(self.run.settings):
            raise ch.ChannelError("a malformed end message")
        for known, keys in zip(self.run.result.reads, reads, strict=True):
            if not isinstance(keys, list):
                raise ch.ChannelError("a malformed end message")
            known.update(ch.printable(key, 200) for key in keys)
        self.close()
        self.run.zygote.reap(self.pid)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sock.close()

    def broken(self, error: ch.ChannelError) -> Rejection:
        """Why its channel broke: what it sent, or how its process ended."""
        self.close()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signal.SIGKILL)
        if self.run.zygote.expired:
            raise TimeoutError
        if not error.closed:
            return Rejection(
                f"it sent {error}; the channel carries actions and final answers only, "
                "in the sandbox's format."
            )
        status = self.run.zygote.reap(self.pid)
        return Rejection(_crash_reason(status, self.run.zygote.stderr_tail(), self.run.limits))

    def _start(self, results: ch.Results, n: int) -> None:
        run = self.run
        for _ in range(n):
            spec = self.schedule.take(self.index)
            if spec is None:
                return
            question = run.stores[spec.store].questions[spec.question]
            order = run.question_orders(spec.store, spec.question)[spec.order]
            results.starts.append(
                self.server.start(
                    spec,
                    question,
                    order,
                    trace=self.traced(spec),
                    record=spec in self.sample,
                )
            )

    def _receive(self, kinds: tuple[bytes, ...]) -> tuple[bytes, bytes]:
        kind, body = self.channel.receive()
        if kind not in kinds:
            self._unexpected(kind, body, kinds)
        return kind, body

    def _unexpected(self, kind: bytes, body: bytes, kinds: tuple[bytes, ...]) -> None:
        """A message not due now: the audit hook's last word, or a violation of the format."""
        if kind == ch.VIOLATION:
            reason = ch.load_json(body, "violation")
            reason = reason.get("reason") if isinstance(reason, dict) else None
            raise Rejection(f"the sandbox stopped it: it {ch.printable(reason)}.")
        raise ch.ChannelError(
            f"a message of kind {kind!r} where {' or '.join(map(repr, kinds))} was due"
        )

    def _expect(self, kind: bytes) -> bytes:
        return self._receive((kind,))[1]


class _Run:
    """One run: the sweep spread over a few fresh sessions, then each sampled episode alone."""

    def __init__(
        self,
        zygote: _Zygote,
        result: IsolatedRun,
        stores: Sequence[ReplayStore],
        orders: Orders,
        questions: Sequence[int] | None,
        limits: Limits,
        rng: random.Random,
    ) -> None:
        self.zygote = zygote
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
        counts = {
            len(self.question_orders(s, q)) for s, qs in enumerate(self.questions) for q in qs
        }
        if len(counts) != 1:
            raise ValueError("every question must be played under the same number of orders.")
        (n_orders,) = counts

        def traced(spec: EpisodeSpec) -> bool:
            return trace_orders is None or spec.order < trace_orders

        sample: set[EpisodeSpec] = set()
        first = _Session(self, sample, traced)
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
        schedule = _Schedule(specs, SWEEP_SESSIONS, self.rng)
        sessions: list[_Session] = []

        def start(index: int) -> _Session:
            session = first if index == 0 else _Session(self, sample, traced)
            sessions.append(session)
            if index:
                self._guard(session, lambda: session.open(None))
            self._guard(session, lambda: session.begin(schedule, index))
            return session

        self._drive((lambda i=i: start(i) for i in range(SWEEP_SESSIONS)), SWEEP_SESSIONS)
        ended = [item for session in sessions for item in session.ended]
        self.result.outcomes = self._outcomes(ended, n_orders, trace_orders)
        self._replay([item for item in ended if item.actions is not None])

    def _replay(self, sampled: list[Ended]) -> None:
        """Each sampled episode alone in a fresh process: the same actions, the same answer."""
        self.rng.shuffle(sampled)
        replays: list[tuple[Ended, _Session]] = []

        def start(first: Ended) -> _Session:
            session = _Session(self, {first.spec}, lambda _: False, concurrency=1)
            replays.append((first, session))
            self._guard(session, lambda: session.open(None))
            self._guard(session, lambda: session.begin(_Schedule([first.spec], 1, self.rng), 0))
            return session

        self._drive((lambda f=first: start(f) for first in sampled), REPLAY_SESSIONS)
        mismatches = []
        for first, session in replays:
            difference = _difference(first, session.ended[0])
            if difference:
                mismatches.append(f"{self.where(first.spec)}: {difference}")
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

    def _drive(self, starts: Iterator[Callable[[], _Session]], width: int) -> None:
        """Keep up to `width` sessions playing (started as others end); answer whichever
        speaks next until all have ended."""
        poller = select.poll()
        sessions: list[_Session] = []
        playing: dict[int, _Session] = {}

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
    def _guard(session: _Session, action: Callable[[], None]) -> None:
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
            return _error_sentence(error, self.limits, where)
        return f"{str(rejection).rstrip('.')} {where}."

    def load_failure(self, failure: Any) -> str:
        filename = self.zygote.filename
        if isinstance(failure, dict) and failure.get("missing") is True:
            return f"{filename} defines no class '{self.zygote.class_name}'."
        return f"importing {filename} failed: " + _error_sentence(failure, self.limits)


def _text(value: Any) -> str:
    """A string field of a message from the sandbox (anything else is malformed)."""
    if not isinstance(value, str):
        raise TypeError("not a string")
    return ch.printable(value, 200)


def _difference(first: Ended, again: Ended) -> str | None:
    a, b = first.actions or (), again.actions or ()
    if a != b:
        i = next(
            (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
        )
        return f"action {i + 1} was {_action(a, i)} in the sweep but {_action(b, i)} alone"
    if first.answer != again.answer:
        return f"it answered {first.answer!r} in the sweep but {again.answer!r} alone"
    return None


def _action(log: Sequence[tuple[int, Any]], i: int) -> str:
    if i >= len(log):
        return "its answer"
    op, arg = log[i]
    name = ch.OP_NAMES[op]
    if op in (ch.BRANCH, ch.READ):
        return name
    return f"{name}({list(arg) if isinstance(arg, tuple) else arg})"


def _error_sentence(error: Any, limits: Limits, where: str = "") -> str:
    """The controller's report of an exception, worded: type, message, where, its lines."""
    error = error if isinstance(error, dict) else {}
    kind = ch.printable(error.get("type") or "an exception", 100)
    message = ch.printable(error.get("message") or "", 500)
    if error.get("policy_error") is True and message:
        text = message
    else:
        text = f"{kind}: {message}" if message else kind
    if error.get("cause") == "MemoryError":
        text = f"it ran out of memory (the limit is {limits.memory_mb} MiB): {text}"
    frames = error.get("frames")
    frames = [ch.printable(f, 300) for f in frames[:3]] if isinstance(frames, list) else []
    sentence = text.rstrip(".") + (f" {where}." if where else ".")
    return sentence + "".join(f"\n    {frame}" for frame in frames)


def _crash_reason(status: int | None, stderr: str, limits: Limits) -> str:
    if status in (-signal.SIGXCPU, -signal.SIGKILL):
        return f"it ran past the CPU-time limit of {limits.cpu_seconds} s {_TOO_SLOW}"
    if status == -signal.SIGXFSZ:
        return f"it wrote more than the file-size limit of {FILE_LIMIT_MB} MiB."
    if status == VIOLATION_EXIT:
        return "the sandbox stopped it: it did something the sandbox refuses."
    if "MemoryError" in stderr:
        return f"it ran out of memory (the limit is {limits.memory_mb} MiB)."
    if status is None:
        how = "no exit status"
    else:
        how = f"signal {-status}" if status < 0 else f"exit status {status}"
    return f"its process ended in the middle of the run ({how})" + (
        f":\n{stderr}" if stderr else "."
    )
