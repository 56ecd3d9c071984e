"""What sandboxed processes print: a pipe of their own each, drained by the parent, bounded.

Every sandboxed process (the worker and each session) writes its stdout and stderr into a
pipe whose only reader is the parent, so what one process writes no other sandboxed process
can read back (a shared log file was a channel between episodes). A thread drains every pipe
as it fills, keeps the last `TAIL_BYTES` of each (the tail quoted when a process crashes) and
counts the run's total; past the run's cap it calls `on_excess` once (the run then ends,
saying so). The same thread calls `tick` about every `TICK_SECONDS` (the disk accounting of
runs without a tmpfs of their own).
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Callable

TAIL_BYTES = 4096
"""Bytes kept of each process's output (its last ones)."""
TICK_SECONDS = 0.5


class Pipe:
    """The read end of one process's output: its tail and whether it reached its end."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.tail = bytearray()
        self.ended = threading.Event()

    def text(self, wait: float = 0.0, lines: int = 5) -> str:
        """Its last `lines` lines, once it ended (waiting at most `wait` seconds)."""
        self.ended.wait(wait)
        text = bytes(self.tail).decode("utf-8", "replace")
        return "\n".join(text.strip().splitlines()[-lines:])


class Output:
    """Drains the pipes of a run's processes on one thread; `cap` bytes in all."""

    def __init__(
        self,
        cap: int,
        on_excess: Callable[[], None],
        tick: Callable[[], None] | None = None,
    ) -> None:
        self.cap = cap
        self.total = 0
        self.exceeded = False
        self._on_excess = on_excess
        self._tick = tick
        self._pipes: dict[int, Pipe] = {}
        self._lock = threading.Lock()
        self._wake_read, self._wake_write = os.pipe()
        self._closed = False
        self._thread = threading.Thread(target=self._drain, name="sandbox-output", daemon=True)
        self._thread.start()

    def watch(self, fd: int) -> Pipe:
        """Start draining `fd` (which this object now owns and closes at its end)."""
        pipe = Pipe(fd)
        with self._lock:
            self._pipes[fd] = pipe
        os.write(self._wake_write, b"+")
        return pipe

    def close(self) -> None:
        """Stop the thread and close every pipe still open."""
        if self._closed:
            return
        self._closed = True
        os.write(self._wake_write, b"x")
        self._thread.join()
        for pipe in self._pipes.values():
            with contextlib.suppress(OSError):
                os.close(pipe.fd)
            pipe.ended.set()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _drain(self) -> None:
        poller = select.poll()
        poller.register(self._wake_read, select.POLLIN)
        watched: set[int] = set()
        timeout = None if self._tick is None else TICK_SECONDS * 1000
        next_tick = time.monotonic() + TICK_SECONDS
        while True:
            with self._lock:
                for fd in self._pipes.keys() - watched:
                    poller.register(fd, select.POLLIN)
                    watched.add(fd)
            for fd, _ in poller.poll(timeout):
                if fd == self._wake_read:
                    if b"x" in os.read(self._wake_read, 64):
                        return
                    continue
                data = os.read(fd, 1 << 16)
                pipe = self._pipes[fd]
                if not data:
                    poller.unregister(fd)
                    watched.discard(fd)
                    with self._lock:
                        del self._pipes[fd]
                    os.close(fd)
                    pipe.ended.set()
                    continue
                pipe.tail += data
                del pipe.tail[:-TAIL_BYTES]
                self.total += len(data)
                if self.total > self.cap and not self.exceeded:
                    self.exceeded = True
                    self._on_excess()
            if self._tick is not None and time.monotonic() >= next_tick:
                next_tick = time.monotonic() + TICK_SECONDS
                self._tick()
