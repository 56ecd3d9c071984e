"""One sandboxed process and the episodes it plays, and the schedule they are drawn from.

A `Session` is a fresh process forked by the zygote: it checks its confinement and class,
takes the settings, and plays episodes that the `Schedule` hands it (in an order drawn from a
secret seed, never two of one question at once), each message carrying the pending actions
of all its running episodes. The parent answers from its own episodes (`EpisodeServer`).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from tts_gym.sandbox import channel as ch
from tts_gym.sandbox import report
from tts_gym.sandbox.controller import Configure, LoadedClass
from tts_gym.sandbox.server import Ended, EpisodeServer, EpisodeSpec, Rejection
from tts_gym.sandbox.wording import crash_reason

if TYPE_CHECKING:
    from tts_gym.sandbox.run import Run

CONCURRENCY = 48
"""Most episodes running at once in one sandboxed process (fewer when there are fewer
questions). Wider messages save round trips but interleave more episodes, whose state then
falls out of the CPU caches on both sides: on the loop's default sweep 32 or 48 took less CPU
than 120 (every question at once) in sequential runs, and 12 paid more in round trips than it
saved (docs/discovery.md, "The price of the boundary")."""


class Schedule:
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


class Session:
    """One fresh sandboxed process and the episodes it plays (one per question at a time)."""

    def __init__(
        self,
        run: Run,
        sample: set[EpisodeSpec],
        traced: Callable[[EpisodeSpec], bool],
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.run = run
        self.pid, self.sock, self.output = run.zygote.fork()
        self.channel = ch.Channel(self.sock)
        self.sample = sample
        self.traced = traced
        self.concurrency = concurrency
        self.schedule = Schedule((), 1, run.rng)
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
            layers = {ch.printable(k, 50): ch.printable(v, 300) for k, v in layers.items() if v}
            run.result.isolation.update(layers)
        if run.require_layers and report.missing_in(run.result.isolation):
            raise Rejection(report.refusal(report.missing_in(run.result.isolation)))
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

    def begin(self, schedule: Schedule, index: int) -> None:
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
            for key in keys[: ch.MAX_READS - len(known)]:
                known.add(ch.printable(key, 200))
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
        self.run.zygote.check()
        if not error.closed:
            return Rejection(
                f"it sent {error}; the channel carries actions and final answers only, "
                "in the sandbox's format."
            )
        status = self.run.zygote.reap(self.pid)
        self.run.zygote.check()
        return Rejection(crash_reason(status, self.output.text(wait=1.0), self.run.limits))

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
