"""The trusted side of the boundary: the parent's own episodes, driven by a sandbox's actions.

`EpisodeServer` is the one place where the parent applies what a sandboxed controller asked
for: each action goes to the parent's own episode, a row of the compiled core that plays as
`Episode` does (the engine decides legality and cost; `server_kernel.apply_message` runs a whole
message in one call), and the reply carries only what that action revealed: per-episode
answer ids in order of first reveal (so ids say nothing about the store), the text of an
answer the first time the episode sees it, the slot, whether the branch finished, and the
tokens and sequential tokens spent. A batch call (`ADVANCE_MANY`, `OPEN_MANY`,
`READ_MANY`) is one wave on the episode whose results all go in the same reply. Answers,
tokens and traces of the run are read off these episodes, never off what the sandbox says.

Anything but a well-formed reply to the last message is a `Rejection` naming it: an action
for an episode it was not given or that has ended, two actions for one episode, an episode
left without an action, an unknown action, a slot list that does not match the batch
advances, or an answer the episode never revealed. An action the engine refuses (a batch
call included) is not: the controller gets the engine's reason, as it would in process.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tts_gym.control.traces import action_record, episode_record
from tts_gym.engine import NO_ANSWER
from tts_gym.engine.actions import ActionKind, action_name
from tts_gym.engine.core.batch import BatchEpisodes
from tts_gym.engine.core.layout import ANSWER, DONE, SEQ_TOKENS, TOKENS
from tts_gym.engine.rules import why_advance_many_illegal, why_illegal
from tts_gym.sandbox import channel as ch
from tts_gym.sandbox.server_kernel import (
    FIRST_ITEM,
    FIRST_LISTED,
    GLOBAL_ANSWER,
    KINDS,
    OK,
    UNKNOWN_OP,
    apply_message,
    start_episode,
)
from tts_gym.store.replay import Question, ReplayStore
from tts_gym.store.tables import StoreTables


class Rejection(Exception):
    """Ends a sandboxed run: sentences saying what the sandboxed side did.

    `spec` names the episode it happened in; `error` carries the controller's own report of
    an exception it raised (the parent words it).
    """

    def __init__(self, *problems: str, spec: EpisodeSpec | None = None, error: bytes = b"") -> None:
        super().__init__(*problems)
        self.spec = spec
        self.error = error


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode of a run: which store, question, order and controller setting."""

    store: int
    question: int
    order: int
    setting: int


@dataclass
class Ended:
    """What the parent's episode recorded: the answer, both token counts, and on request more."""

    spec: EpisodeSpec
    answer: str | None
    tokens: int
    seq_tokens: int
    trace: dict[str, Any] | None
    actions: tuple[tuple[int, Any], ...] | None  # (op, slot | k | slots), if recorded


class _Live:
    """A running episode: its row in the batch, and what the parent notes of it besides."""

    __slots__ = ("spec", "row", "question", "log", "trace")

    def __init__(
        self, spec: EpisodeSpec, row: int, question: Question, record: bool, trace: bool
    ) -> None:
        self.spec = spec
        self.row = row
        self.question = question
        self.log: list[tuple[int, Any]] | None = [] if record else None
        self.trace: list[dict[str, Any]] | None = [] if trace else None

    def text(self, answer: int) -> str | None:
        return None if answer < 0 else self.question.answers[answer]


class EpisodeServer:
    """Applies batched actions to the parent's episodes; see the module docstring.

    The episodes are rows of the compiled core (`BatchEpisodes` over `stores`, at most
    `capacity` running at once), each played as `Episode(question, order)` would be: every
    slot a branch, no budget, answers revealed as branches advance.
    """

    def __init__(self, stores: Sequence[ReplayStore], capacity: int) -> None:
        tables = StoreTables.of(stores)
        self.batch = batch = BatchEpisodes(stores, capacity, max_branches=tables.max_branches)
        self._table = (batch.table.addresses, batch.table.shapes)
        self._offsets = tables.offsets.tolist()
        m = batch.max_branches
        self._local = np.full((capacity, max(1, tables.max_answers)), -1, dtype=np.int32)
        self._n_local = np.zeros(capacity, dtype=np.int64)
        self._replies = np.zeros((capacity, 5), dtype=np.int64)
        self._extra = np.zeros((capacity, 3), dtype=np.int64)
        self._items = np.zeros((capacity * m, 4), dtype=np.int64)  # each branch once a wave
        self._news = np.zeros((capacity * m, 2), dtype=np.int64)
        self._noted = np.zeros(capacity, dtype=np.int8)  # rows whose actions are logged
        self._noted_records = np.zeros(capacity, dtype=np.int64)
        self._mark = np.zeros(m, dtype=np.int8)
        self._outcome = np.zeros(7, dtype=np.int64)
        self._free = list(range(capacity - 1, -1, -1))
        self._at_row: list[_Live | None] = [None] * capacity
        self._live: dict[int, _Live] = {}
        self._ids: set[int] = set()

    @property
    def running(self) -> int:
        return len(self._live)

    def start(
        self,
        spec: EpisodeSpec,
        question: Question,
        order: Sequence[int],
        *,
        trace: bool = False,
        record: bool = False,
    ) -> tuple[int, int, int, int]:
        """Open an episode of `question` (question `spec.question` of store `spec.store`);
        its START record (a random id, nothing else told)."""
        if not self._free:
            raise RuntimeError(f"more than {len(self._replies)} episodes at once")
        row = self._free.pop()
        self.batch.order[row, : len(order)] = order
        global_question = self._offsets[spec.store] + spec.question
        start_episode(*self._table, row, global_question, len(order), self._local, self._n_local)
        episode_id = secrets.randbits(32)
        while episode_id in self._ids:
            episode_id = secrets.randbits(32)
        self._ids.add(episode_id)
        self._live[episode_id] = self._at_row[row] = _Live(spec, row, question, record, trace)
        self._noted[row] = record or trace
        return episode_id, spec.setting, question.probe_freq, len(order)

    def apply(self, actions: ch.Actions) -> tuple[ch.Results, list[Ended]]:
        """Apply one ACTIONS message: the RESULTS for it (starts empty) and the ended episodes.

        The message must name every running episode exactly once, and its slot list must be
        exactly the slots its batch advances ask for.
        """
        live = self._live
        episodes = actions.episodes
        named = episodes + [end[0] for end in actions.ends] if actions.ends else episodes
        if len(named) != len(live) or set(named) != live.keys():
            raise Rejection(self._coverage_problem(named))
        n = len(episodes)
        records = np.asarray(actions.records, dtype=np.int64).reshape(n, 3)
        rows = [live[episode_id].row for episode_id in episodes]
        listed = np.asarray(actions.slots, dtype=np.int64)
        replies = self._replies
        apply_message(
            *self._table, np.array(rows, dtype=np.int64), records, listed, self._local,
            self._n_local, self._noted, replies, self._extra, self._items, self._news,
            self._noted_records, self._mark, self._outcome,
        )  # fmt: skip
        status, fault, n_items, n_news, taken, n_illegal, n_noted = self._outcome.tolist()
        at_row = self._at_row
        if status != OK:
            raise self._malformed(status, records[fault], at_row[rows[fault]], listed, taken)
        if taken != len(listed):
            raise Rejection(f"it sent {len(listed) - taken} slots that no batch advance asked for.")
        texts = [
            (k, at_row[rows[k]].question.answers[answer].encode())
            for k, answer in self._news[:n_news].tolist()
        ]
        if n_illegal:
            for k in np.flatnonzero(replies[:n, 0] == ch.ILLEGAL).tolist():
                item = at_row[rows[k]]
                texts.append((k, self._why_illegal(item, records[k], k, listed).encode()))
            texts.sort(key=lambda entry: entry[0])  # stable: a wave's texts stay in order
        for k in self._noted_records[:n_noted].tolist():
            self._note(at_row[rows[k]], records[k], k)
        results = ch.Results(
            replies[:n].ravel().copy(), texts, [], self._items[:n_items, :3].ravel()
        )
        return results, [self._end(live.pop(eid), kind, text) for eid, kind, text in actions.ends]

    def _note(self, item: _Live, record: np.ndarray, k: int) -> None:
        """What a recorded episode's log and a traced episode's trace keep of its legal action
        `record`, the k-th of the message (traced as `TracingEpisode` traces a controller that
        cannot group actions into waves: each action a wave of its own, a batch call one
        record)."""
        op, arg = int(record[1]), int(record[2])
        _, slot, finished, tokens, seq_tokens = self._replies[k].tolist()
        if op in ch.BATCH_OPS:
            first = int(self._extra[k, FIRST_ITEM])
            wave = self._items[first : first + arg].tolist()  # (id, slot, finished, answer)
            slot = [w[1] for w in wave]
            logged: Any = tuple(slot) if op == ch.ADVANCE_MANY else arg
            revealed: Any = [item.text(w[3]) for w in wave]
            finished = [bool(w[2]) for w in wave]
        else:
            logged = slot
            revealed, finished = item.text(int(self._extra[k, GLOBAL_ANSWER])), bool(finished)
        if item.log is not None:
            item.log.append((op, logged))
        if item.trace is not None:
            name, wave_index = ch.OP_NAMES[op], len(item.trace)
            item.trace.append(
                action_record(name, slot, revealed, finished, tokens, seq_tokens, wave_index)
            )

    def _why_illegal(self, item: _Live, record: np.ndarray, k: int, listed: np.ndarray) -> str:
        """The engine's sentence for a refused action, as `Episode` words it (the episode's
        state is as before the message: it had this one action in it)."""
        op, arg = int(record[1]), int(record[2])
        view = self.batch.view(item.row)
        view.max_branches = view.n_opened + view.n_unopened  # an `Episode`'s: its whole order
        if op == ch.ADVANCE_MANY:
            first = int(self._extra[k, FIRST_LISTED])
            slots = listed[first : first + arg]  # the check stops at the first bad slot
            return f"advance_many({_shown(slots)}): {why_advance_many_illegal(view, slots)}."
        kind = ActionKind(int(KINDS[op]))
        slot = 0 if op in (ch.BRANCH, ch.READ) else arg
        return f"{action_name(kind, slot)}: {why_illegal(view, kind, slot)}."

    @staticmethod
    def _malformed(
        status: int, record: np.ndarray, item: _Live, listed: np.ndarray, taken: int
    ) -> Rejection:
        """The rejection for the record `apply_message` stopped at."""
        op, arg = int(record[1]), int(record[2])
        if status == UNKNOWN_OP:
            return Rejection(f"it sent an unknown action (code {op}).", spec=item.spec)
        return Rejection(
            f"it sent a batch advance of {arg} slots where the message lists "
            f"{len(listed) - taken} more.",
            spec=item.spec,
        )

    def _end(self, item: _Live, kind: int, text: bytes) -> Ended:
        if kind == ch.END_ERROR:
            raise Rejection("it raised an exception.", spec=item.spec, error=text)
        answer = None
        answer_id = NO_ANSWER
        if kind == ch.END_ANSWER:
            answer = text.decode("utf-8", "replace")
            answer_id = _index(item.question.answers, answer)
            if answer_id < 0 or self._local[item.row, answer_id] < 0:
                raise Rejection(
                    f"it answered {ch.printable(answer, 200)!r}, which that episode never "
                    "revealed; a controller may answer only with what its own actions revealed.",
                    spec=item.spec,
                )
        row = self.batch.episodes[item.row]
        row[ANSWER], row[DONE] = answer_id, 1
        tokens, seq_tokens = int(row[TOKENS]), int(row[SEQ_TOKENS])
        self._free.append(item.row)
        self._at_row[item.row] = None  # its log and trace leave with it
        trace = None
        if item.trace is not None:
            trace = episode_record(item.trace, answer, tokens, seq_tokens)
        log = tuple(item.log) if item.log is not None else None
        return Ended(item.spec, answer, tokens, seq_tokens, trace, log)

    def _coverage_problem(self, named: list[int]) -> str:
        seen: set[int] = set()
        for episode_id in named:
            if episode_id in seen:
                return "it sent two actions for one episode in one message."
            seen.add(episode_id)
            if episode_id not in self._live:
                if episode_id in self._ids:
                    return "it sent an action for an episode that had already ended."
                return f"it sent an action for episode {episode_id}, which it was never given."
        return "it left a running episode without an action or an answer."


def _index(answers: tuple[str, ...], answer: str) -> int:
    try:
        return answers.index(answer)
    except ValueError:
        return -1


SHOWN_SLOTS = 8
"""Slots of a refused batch call quoted in its reason (the rest are counted)."""


def _shown(slots: np.ndarray) -> str:
    """A slot list for a sentence: all of a short one, the head and the count of a long one."""
    head = ", ".join(str(int(slot)) for slot in slots[:SHOWN_SLOTS])
    if len(slots) <= SHOWN_SLOTS:
        return f"[{head}]"
    return f"[{head}, ... {len(slots):,} slots in all]"
