"""A session's play: every episode in its own greenlet, one message a round.

Every episode the parent starts runs `solve(q)` in its own greenlet against a
`QuestionHandle` over `RemoteEpisode`, whose actions pause the greenlet; the pending actions
of all running episodes go to the parent in one message (`Hub`), and the reply resumes each
greenlet with what its action revealed. Nothing here holds a store, an episode or a gold
answer: only the answers the actions revealed.
"""

from __future__ import annotations

import inspect
import json
import operator
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import greenlet

from tts_gym.control.errors import PolicyError
from tts_gym.control.handle import QuestionHandle
from tts_gym.control.protocols import check_answer
from tts_gym.errors import IllegalActionError
from tts_gym.sandbox import channel as ch

MAX_FRAMES = 3
"""The candidate's own stack frames quoted with an error."""
MAX_MESSAGE = 1000
"""Characters of an exception's message sent to the parent."""
_CONTINUE, _ILLEGAL = ch.CONTINUE, ch.ILLEGAL  # module constants: the hot path reads them


class RemoteEpisode:
    """The engine `Episode`'s action interface, each action answered by the parent.

    An action switches to the hub greenlet, which sends it with every other pending action
    and switches back with what the parent's episode revealed: a per-episode answer id (its
    text arrives the first time), the slot, whether the branch finished, and the tokens and
    sequential tokens of the parent's episode. A batch call is one request and one wave; its
    results arrive together, once the parent has run the whole wave.
    """

    __slots__ = (
        "id", "tokens", "seq_tokens", "n_opened", "n_branches", "texts", "inbox", "hub", "wire",
        "runner",
    )  # fmt: skip

    def __init__(self, episode_id: int, n_branches: int, wire: _Wire) -> None:
        self.id = episode_id
        self.tokens = 0
        self.seq_tokens = 0
        self.n_opened = 0
        self.n_branches = n_branches
        self.texts: list[str] = []  # revealed answers by per-episode id
        self.inbox: list[str] = []  # texts that came with the last result
        self.hub = wire.hub
        self.wire = wire
        self.runner: greenlet.greenlet | None = None

    @property
    def can_open(self) -> bool:
        return self.n_opened < self.n_branches

    def answer_text(self, answer: int) -> str | None:
        return None if answer < 0 else self.texts[answer]

    def _act(self, op: int, slot: int) -> tuple[int, int, int]:
        answer, slot, finished, self.tokens, self.seq_tokens = self.hub.switch((self.id, op, slot))
        if answer == len(self.texts):  # revealed for the first time: its text came along
            self.texts.append(self.inbox.pop())
        elif answer == ch.ILLEGAL:
            raise IllegalActionError(self.inbox.pop())
        return answer, slot, finished

    def open(self) -> tuple[int, int, bool]:
        answer, slot, finished = self._act(ch.BRANCH, 0)
        self.n_opened += 1
        return answer, slot, bool(finished)

    def advance(self, slot: int) -> tuple[int, bool]:
        # the hottest call of every controller: `_act`, inlined
        answer, _, finished, self.tokens, self.seq_tokens = self.hub.switch(
            (self.id, _CONTINUE, slot)
        )
        if answer == len(self.texts):
            self.texts.append(self.inbox.pop())
        elif answer == _ILLEGAL:
            raise IllegalActionError(self.inbox.pop())
        return answer, finished == 1

    def probe(self, slot: int) -> int:
        return self._act(ch.PROBE, slot)[0]

    def prune(self, slot: int) -> None:
        self._act(ch.PRUNE, slot)

    def read(self) -> int:
        answer = self._act(ch.READ, 0)[0]
        self.n_opened += 1
        return answer

    # ---- batch calls: one request, one wave, every result at its end ----------------------
    def advance_many(self, slots: Sequence[int]) -> list[tuple[int, bool]]:
        wave = [_wire_int(slot) for slot in slots]  # read whole before anything is sent
        items = self._wave(ch.ADVANCE_MANY, len(wave), wave)
        return [(answer, finished == 1) for answer, _, finished in items]

    def open_many(self, k: int) -> list[tuple[int, int, bool]]:
        items = self._wave(ch.OPEN_MANY, _wire_int(k))
        self.n_opened += len(items)
        return [(answer, slot, finished == 1) for answer, slot, finished in items]

    def read_many(self, k: int) -> list[int]:
        items = self._wave(ch.READ_MANY, _wire_int(k))
        self.n_opened += len(items)
        return [answer for answer, _, _ in items]

    def _wave(self, op: int, arg: int, slots: Sequence[int] = ()) -> list[tuple[int, int, int]]:
        """Send one batch call and wait for the wave's results, all of them. Its slots go to
        the message's slot list now: the hub adds the request right after this switch, so
        both keep the order of the records."""
        wire = self.wire
        wire.slots.extend(slots)
        answer, n, _, self.tokens, self.seq_tokens = wire.hub.switch((self.id, op, arg))
        if answer == ch.ILLEGAL:
            raise IllegalActionError(self.inbox.pop())
        self.texts += self.inbox  # the wave's new answers, in the order of their ids
        self.inbox.clear()
        take = wire.items.__next__
        return [(take(), take(), take()) for _ in range(n)]


def _wire_int(value: Any) -> int:
    """An int that fits the wire (out of range: illegal, as the engine would say)."""
    value = operator.index(value)
    if not -(1 << 62) <= value < 1 << 62:
        raise IllegalActionError(f"{value} is out of range.")
    return value


class _Wire:
    """What a round shares between the hub and its episodes: the hub greenlet, the slot list
    of the message being built, and the batch results of the message being answered."""

    __slots__ = ("hub", "slots", "items")

    def __init__(self, hub: greenlet.greenlet) -> None:
        self.hub = hub
        self.slots: list[int] = []
        self.items: Iterator[int] = iter(())


class RecordingDict(dict):
    """A mapping argument that notes which keys the controller read (knob checks)."""

    def __init__(self, data: dict, reads: set[str]) -> None:
        super().__init__(data)
        self.reads = reads

    def __getitem__(self, key: Any) -> Any:
        self.reads.add(str(key))
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self.reads.add(str(key))
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.reads.add(str(key))
        return super().__contains__(key)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self.reads.add(str(key))
        return super().setdefault(key, default)


def describe(cls: Any) -> dict[str, Any]:
    """What the parent needs to check the class: name, methods, constructor parameters."""
    methods = [name for name in ("solve", "run", "act") if callable(getattr(cls, name, None))]
    parameters = None
    n_parameters = 0
    if inspect.isclass(cls):
        try:
            signature = inspect.signature(cls)
            n_parameters = len(signature.parameters)
            parameters = [
                [p.name[:200], p.kind.name, p.default is not inspect.Parameter.empty]
                for p in list(signature.parameters.values())[: ch.MAX_PARAMETERS]
            ]
        except (TypeError, ValueError):
            parameters = None
    name = getattr(cls, "__name__", type(cls).__name__)
    label = getattr(cls, "name", None) or getattr(cls, "NAME", None)  # as tables name it
    return {
        "name": str(name)[:200],
        "label": (label if isinstance(label, str) else str(name))[:200],
        "is_class": inspect.isclass(cls),
        "methods": methods,
        "parameters": parameters,
        "n_parameters": n_parameters,
    }


def error_report(error: BaseException, path: Path) -> dict[str, Any]:
    """An exception as the parent words it: type, first line, the candidate's own frames
    (each bounded: the report always fits one message)."""
    cause = error.__cause__ or error
    try:
        text = str(error).strip()
    except BaseException:  # noqa: BLE001 - its own __str__ raised
        text = "(its message could not be made into text)"
    frames = [
        f"line {frame.lineno} in {frame.name}: {(frame.line or '').strip()[:200]}"
        for frame in traceback.extract_tb(cause.__traceback__)
        if Path(frame.filename) == path
    ][-MAX_FRAMES:]
    return {
        "type": type(error).__name__[:100],
        "cause": type(cause).__name__[:100],
        "policy_error": isinstance(error, PolicyError),
        "message": text.splitlines()[0][:MAX_MESSAGE] if text else "",
        "frames": frames,
    }


def _encoded(name: str, answer: str) -> bytes:
    """The answer as UTF-8; one that cannot be (a lone surrogate) is the controller's error."""
    try:
        return answer.encode()
    except UnicodeEncodeError as error:
        raise PolicyError(
            f"{name} answered {answer[:40]!r}, which cannot be sent as text: character "
            f"{error.start + 1} ({answer[error.start]!r}) has no UTF-8 encoding (a lone "
            "surrogate); answers must be strings of valid text."
        ) from None


class Hub:
    """The child's main greenlet: runs every episode to its next action, one message a round."""

    def __init__(
        self, channel: ch.Channel, cls: Any, settings: list[dict[str, Any]], path: Path
    ) -> None:
        self.channel = channel
        self.cls = cls
        self.settings = settings
        self.path = path
        self.reads: list[set[str]] = [set() for _ in settings]
        self.name = describe(cls)["label"]
        self.wire = _Wire(greenlet.getcurrent())
        self.waiting: list[RemoteEpisode] = []  # in the order of the last ACTIONS message

    def run(self) -> None:
        while True:
            kind, message = self.channel.receive()
            if kind != ch.RESULTS:
                reads = [sorted(r)[: ch.MAX_READS] for r in self.reads]
                self.channel.send_json(ch.END, {"reads": reads})
                return
            self._round(ch.decode_results(message))

    def _round(self, results: ch.Results) -> None:
        """Resume each episode with its result, start the new ones, send all their actions."""
        records: list[int] = []
        add = records.extend
        ends: list[tuple[int, int, bytes]] = []
        waiting, pending = self.waiting, []
        wait = pending.append
        wire = self.wire
        wire.slots = []
        wire.items = iter(results.waves)
        for index, text in results.texts:
            waiting[index].inbox.append(text.decode())
        values = iter(results.records)
        fields = zip(values, values, values, values, values, strict=True)
        resumed = zip(waiting, fields, strict=True)
        for episode, result in resumed:
            runner = episode.runner
            request = runner.switch(result)
            if runner.dead:
                ends.append((episode.id, *request))
            else:
                add(request)
                wait(episode)
        for episode_id, setting, interval, n_branches in results.starts:
            episode = RemoteEpisode(episode_id, n_branches, wire)
            runner = episode.runner = greenlet.greenlet(self._body)
            request = runner.switch(episode, setting, interval)
            if runner.dead:
                ends.append((episode_id, *request))
            else:
                add(request)
                wait(episode)
        self.waiting = pending
        self.channel.send(ch.ACTIONS, self._encoded(records, ends))

    def _encoded(self, records: list[int], ends: list[tuple[int, int, bytes]]) -> bytes:
        """This round's ACTIONS message. Single actions send their slot unchecked (the hot
        path); when one does not fit the wire (`advance(1 << 70)`, `probe(1.5)`), its episode
        gets the error the batch calls' check raises, and its next request goes last."""
        while True:
            try:
                return ch.encode_actions(records, self.wire.slots, ends)
            except (OverflowError, TypeError):
                self._refuse_unsendable(records, ends)

    def _refuse_unsendable(self, records: list[int], ends: list[tuple[int, int, bytes]]) -> None:
        waiting, n = self.waiting, ch.ACTION_FIELDS  # records: (episode, op, arg) per waiting
        for k in range(len(waiting)):
            try:
                _wire_int(records[n * k + 2])
            except (TypeError, IllegalActionError) as error:
                refusal = error
                break
        else:
            raise AssertionError("an unsendable record that every check passes")
        episode = waiting.pop(k)
        del records[n * k : n * (k + 1)]
        request = episode.runner.throw(refusal)
        if episode.runner.dead:
            ends.append((episode.id, *request))
        else:
            records.extend(request)
            waiting.append(episode)

    def _body(self, episode: RemoteEpisode, setting: int, interval: int) -> tuple[int, bytes]:
        """One episode: construct the controller, solve, and end with its answer or error."""
        try:
            kwargs = {
                key: RecordingDict(value, self.reads[setting]) if isinstance(value, dict) else value
                for key, value in self.settings[setting].items()
            }
            answer = self.cls(**kwargs).solve(QuestionHandle(episode, interval))
            check_answer(self.name, answer)
            if answer is None:
                return ch.END_NONE, b""
            return ch.END_ANSWER, _encoded(self.name, answer)
        except BaseException as error:  # noqa: BLE001 - reported, the parent decides
            return ch.END_ERROR, json.dumps(error_report(error, self.path)).encode()
