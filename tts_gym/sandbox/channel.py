"""The wire between the trusted parent and a sandboxed process: frames, kinds, strict codecs.

Every message is a frame: a 4-byte little-endian length, then a body whose first byte is its
kind. A few kinds carry JSON (rare, small messages); the two on the hot path are binary:

- `ACTIONS` (sandbox -> parent): the pending action of every running episode and the end of
  every episode whose controller returned, in one message: `u32 n | n x i64 (episode, op,
  arg) | u32 w | w x i64 slot | u32 m | m x (u32 episode, u8 end kind, u32 length, UTF-8)`.
  `arg` is the slot of a single action, the width k of `OPEN_MANY`/`READ_MANY`, and for
  `ADVANCE_MANY` the number of its slots, which follow in the slot list in the order of the
  records (a batch call is one request, its slots in the list). End kinds `END_NONE`
  (answered None), `END_ANSWER` (an answer string), `END_ERROR` (the controller raised; the
  bytes say what);
- `RESULTS` (parent -> sandbox): what each of those actions revealed, in the same order, and
  the episodes to start: `u32 n | n x i64 (answer: a per-episode id in order of first
  reveal, NO_ANSWER or ILLEGAL; slot, or for a batch action the number of its results;
  finished; tokens spent; sequential tokens) | u32 v | v x i64 (answer, slot, finished): the
  results of the batch actions, in the order of their records, each wave whole | u32 t | t x
  (u32 index, u32 length, UTF-8: the text of a newly revealed answer, in the order of the
  ids, or why the action was illegal) | u32 s | s x (u32 episode, u16 setting, u32 probe
  interval, u32 branches)`.

Records are flat int64 arrays on the wire. In the sandbox they are flat lists of ints (each
action costs one `list.extend`, ten times cheaper than `array.extend`; each message one
conversion); the parent reads and writes them as numpy arrays, which its compiled server
applies in one call.

Decoding checks every length; the parent treats anything that does not parse as a violation.
"""

from __future__ import annotations

import json
import socket
import struct
from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_FRAME = 64 * 1024 * 1024
MAX_TEXT = 1 << 16
"""Longest answer or error text accepted from a sandbox (bytes)."""
MAX_JSON = 1 << 20
"""Longest JSON message accepted from a sandbox (bytes): the rare, small ones."""
MAX_PARAMETERS = 64
"""Most constructor parameters a class may declare (its description stays small)."""
MAX_READS = 32
"""Most config keys a session reports as read, per setting (the first, sorted)."""

# message kinds
CONFINED = b"C"  # sandbox: the layers that hold (JSON), sent before untrusted code runs
LOADED = b"H"  # sandbox: the loaded class (JSON: name, kind, parameters)
FAILED = b"F"  # sandbox: the candidate could not be loaded (JSON: problem)
VIOLATION = b"V"  # sandbox: the audit hook refused an action (JSON: reason)
PLAY = b"P"  # parent: the settings to construct (JSON)
RESULTS = b"R"
ACTIONS = b"A"
DONE = b"D"  # parent: no more episodes
END = b"E"  # sandbox: finished (JSON: mapping keys read per setting)

# actions (ops) of the question handle; the last three are batch calls, one wave each
BRANCH, CONTINUE, PROBE, PRUNE, READ, ADVANCE_MANY, OPEN_MANY, READ_MANY = range(8)
OP_NAMES = (
    "BRANCH", "CONTINUE", "PROBE", "PRUNE", "READ", "ADVANCE_MANY", "OPEN_MANY", "READ_MANY"
)  # fmt: skip
BATCH_OPS = frozenset((ADVANCE_MANY, OPEN_MANY, READ_MANY))
# result codes besides per-episode answer ids (>= 0)
NO_ANSWER, ILLEGAL = -1, -2
# episode ends
END_NONE, END_ANSWER, END_ERROR = 0, 1, 2

_U32 = struct.Struct("<I")
_END = struct.Struct("<IBI")
_TEXT = struct.Struct("<II")
_START = struct.Struct("<IHII")


class ChannelError(Exception):
    """The peer closed the channel (`closed`) or sent something malformed."""

    def __init__(self, message: str, *, closed: bool = False) -> None:
        super().__init__(message)
        self.closed = closed


def printable(value: object, limit: int = 2000) -> str:
    """Text from the other side, safe to show: printable characters only, and not too long."""
    text = "".join(c if c.isprintable() or c in "\n\t" else "?" for c in str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Channel:
    """Frames over a connected, blocking stream socket, read through one buffer.

    No timeouts here: the parent's watchdog kills the sandbox at its deadline, which closes
    the socket, so a receive never waits longer than the run may last.
    """

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(True)
        self.sock = sock
        self._buffer = bytearray(1 << 16)
        self._start = self._end = 0

    def send(self, kind: bytes, body: bytes = b"") -> None:
        try:
            self.sock.sendall(_U32.pack(len(body) + 1) + kind + body)
        except OSError as error:  # the peer is gone
            raise ChannelError(f"the channel closed ({error.strerror})", closed=True) from None

    def send_json(self, kind: bytes, data: Any) -> None:
        self.send(kind, json.dumps(data).encode())

    def receive(self) -> tuple[bytes, bytes]:
        """(kind, body); `ChannelError` on a closed channel or a frame of a bad size."""
        if self._end - self._start < 4:
            self._fill(4)
        (length,) = _U32.unpack_from(self._buffer, self._start)
        if not 1 <= length <= MAX_FRAME:
            self._start += 4
            raise ChannelError(f"a message of {length} bytes (at most {MAX_FRAME} are accepted)")
        if self._end - self._start < 4 + length:
            self._fill(4 + length)
        start = self._start + 4
        self._start = start + length
        buffer = self._buffer
        return bytes(buffer[start : start + 1]), bytes(buffer[start + 1 : start + length])

    def has_frame(self) -> bool:
        """Whether a whole message is already buffered (a select() would not say so)."""
        available = self._end - self._start
        if available < 4:
            return False
        (length,) = _U32.unpack_from(self._buffer, self._start)
        return available >= 4 + length

    def _fill(self, n: int) -> None:
        """Read until `n` bytes are buffered (as many as the socket has, in few reads)."""
        pending = self._buffer[self._start : self._end]
        if len(self._buffer) < n:
            self._buffer = bytearray(max(n, 2 * len(self._buffer)))
        self._buffer[: len(pending)] = pending
        self._start, self._end = 0, len(pending)
        view = memoryview(self._buffer)
        try:
            while self._end < n:
                try:
                    got = self.sock.recv_into(view[self._end :])
                except OSError as error:  # e.g. reset by a peer that died
                    raise ChannelError(
                        f"the channel closed ({error.strerror})", closed=True
                    ) from None
                if got == 0:
                    raise ChannelError("the channel closed", closed=True)
                self._end += got
        finally:
            view.release()


def load_json(body: bytes, what: str) -> Any:
    if len(body) > MAX_JSON:
        raise ChannelError(f"a {what} message of {len(body):,} bytes (at most {MAX_JSON:,})")
    try:
        return json.loads(body.decode())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ChannelError(f"a malformed {what} message") from None


# ---- ACTIONS --------------------------------------------------------------------------------
ACTION_FIELDS, _RESULT, _ITEM = 3, 5, 3  # int64 fields per record


def encode_actions(
    records: list[int], slots: list[int], ends: list[tuple[int, int, bytes]]
) -> bytes:
    """`records`: (episode, op, arg) triples, flat; `slots`: the slots of the batch advances;
    `ends`: (episode, kind, text)."""
    parts = [
        _U32.pack(len(records) // ACTION_FIELDS),
        array("q", records).tobytes(),
        _U32.pack(len(slots)),
        array("q", slots).tobytes(),
        _U32.pack(len(ends)),
    ]
    for episode, kind, text in ends:
        parts.append(_END.pack(episode, kind, len(text)))
        parts.append(text)
    return b"".join(parts)


@dataclass
class Actions:
    records: Any  # (episode, op, arg) triples, flat: a list of ints or an int64 array
    ends: list[tuple[int, int, bytes]]
    slots: Any = field(default_factory=list)  # of the batch advances, in record order

    @property
    def episodes(self) -> list[int]:
        episodes = self.records[::ACTION_FIELDS]
        return episodes.tolist() if hasattr(episodes, "tolist") else episodes


def decode_actions(body: bytes) -> Actions:
    """Parse an ACTIONS body; `ChannelError` naming what is wrong with it."""
    try:
        (n,) = _U32.unpack_from(body, 0)
        at = 4
        size = n * ACTION_FIELDS * 8
        if at + size > len(body):
            raise ChannelError("an ACTIONS message shorter than its count")
        records = np.frombuffer(body, dtype="<i8", count=n * ACTION_FIELDS, offset=at)
        at += size
        (w,) = _U32.unpack_from(body, at)
        at += 4
        if at + w * 8 > len(body):
            raise ChannelError("an ACTIONS message shorter than its slot list")
        slots = np.frombuffer(body, dtype="<i8", count=w, offset=at)
        at += w * 8
        (m,) = _U32.unpack_from(body, at)
        at += 4
        ends = []
        for _ in range(m):
            episode, kind, length = _END.unpack_from(body, at)
            at += _END.size
            if kind not in (END_NONE, END_ANSWER, END_ERROR) or length > MAX_TEXT:
                raise ChannelError("an episode end of unknown kind or too long")
            if at + length > len(body):
                raise ChannelError("an ACTIONS message shorter than its texts")
            ends.append((episode, kind, bytes(body[at : at + length])))
            at += length
    except struct.error:
        raise ChannelError("a truncated ACTIONS message") from None
    if at != len(body):
        raise ChannelError("an ACTIONS message with trailing bytes")
    return Actions(records, ends, slots)


# ---- RESULTS --------------------------------------------------------------------------------
@dataclass
class Results:
    records: Any  # (answer, slot, finished, tokens, seq_tokens) per action, flat: a list of
    # ints, or the parent's int64 array (native byte order: little-endian on every platform
    # tts-gym runs on)
    texts: list[tuple[int, bytes]]  # (action index, text), in index order
    starts: list[tuple[int, int, int, int]]  # (episode, setting, probe interval, branches)
    waves: Any = field(default_factory=list)  # (answer, slot, finished) per result, flat

    @classmethod
    def empty(cls) -> Results:
        return cls([], [], [])

    def __len__(self) -> int:
        return len(self.records) // _RESULT


def encode_results(results: Results) -> bytes:
    parts = [
        _U32.pack(len(results)),
        _int64_bytes(results.records),
        _U32.pack(len(results.waves) // _ITEM),
        _int64_bytes(results.waves),
        _U32.pack(len(results.texts)),
    ]
    for index, text in results.texts:
        parts += [_TEXT.pack(index, len(text)), text]
    parts.append(_U32.pack(len(results.starts)))
    parts += [_START.pack(*start) for start in results.starts]
    return b"".join(parts)


def decode_results(body: bytes) -> Results:
    """Parse a RESULTS body (the sandbox's side: the parent is trusted, so no checks)."""
    (n,) = _U32.unpack_from(body, 0)
    at = 4 + n * _RESULT * 8
    results = Results.empty()
    results.records = _int64s(body[4:at])
    (v,) = _U32.unpack_from(body, at)
    at += 4
    results.waves = _int64s(body[at : at + v * _ITEM * 8])
    at += v * _ITEM * 8
    (t,) = _U32.unpack_from(body, at)
    at += 4
    for _ in range(t):
        index, length = _TEXT.unpack_from(body, at)
        at += _TEXT.size
        results.texts.append((index, bytes(body[at : at + length])))
        at += length
    (s,) = _U32.unpack_from(body, at)
    at += 4
    for _ in range(s):
        results.starts.append(_START.unpack_from(body, at))
        at += _START.size
    return results


def _int64_bytes(values: Any) -> bytes:
    """A flat list of ints, or the parent's int64 array, as the wire's int64s."""
    return values.tobytes() if hasattr(values, "tobytes") else array("q", values).tobytes()


def _int64s(data: bytes) -> list[int]:
    values = array("q")
    values.frombytes(data)
    return values.tolist()
