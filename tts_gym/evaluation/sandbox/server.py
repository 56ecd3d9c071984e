"""The trusted side of the boundary: the parent's own episodes, driven by a sandbox's actions.

`EpisodeServer` is the one place where the parent applies what a sandboxed controller asked
for: each action goes to the parent's `Episode` (the engine decides legality and cost), and
the reply carries only what that action revealed: per-episode answer ids in order of first
reveal (so ids say nothing about the store), the text of an answer the first time the episode
sees it, the slot, whether the branch finished, and the tokens and sequential tokens spent. A
batch call (`ADVANCE_MANY`, `OPEN_MANY`, `READ_MANY`) is one wave on the episode whose results
all go in the same reply. Answers, tokens and traces of the run are read off these episodes,
never off what the sandbox says.

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

from tts_gym.control.traces import TracingEpisode
from tts_gym.engine import NO_ANSWER, Episode
from tts_gym.errors import IllegalActionError
from tts_gym.evaluation.sandbox import channel as ch
from tts_gym.store.replay import Question


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
    __slots__ = ("spec", "episode", "question", "local", "n_local", "log")

    def __init__(self, spec: EpisodeSpec, episode: Episode, record: bool) -> None:
        self.spec = spec
        self.episode = episode
        self.question = episode.question
        self.local = [-1] * len(episode.question.answers)  # answer id -> per-episode id
        self.n_local = 0
        self.log: list[tuple[int, Any]] | None = [] if record else None

    def local_id(self, answer: int, index: int, texts: list[tuple[int, bytes]]) -> int:
        """The per-episode id of an answer (NO_ANSWER stays); its text goes to `texts` the
        first time (`apply` inlines this for the single actions)."""
        if answer < 0:
            return answer
        local = self.local[answer]
        if local < 0:
            local = self.local[answer] = self.n_local
            self.n_local += 1
            texts.append((index, self.question.answers[answer].encode()))
        return local


class EpisodeServer:
    """Applies batched actions to the parent's episodes; see the module docstring."""

    def __init__(self) -> None:
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
        """Open an episode; its START record (a random id, nothing else told)."""
        episode = (TracingEpisode if trace else Episode)(question, order)
        episode_id = secrets.randbits(32)
        while episode_id in self._ids:
            episode_id = secrets.randbits(32)
        self._ids.add(episode_id)
        self._live[episode_id] = _Live(spec, episode, record)
        return episode_id, spec.setting, question.probe_freq, len(order)

    def apply(self, actions: ch.Actions) -> tuple[ch.Results, list[Ended]]:
        """Apply one ACTIONS message: the RESULTS for it (starts empty) and the ended episodes.

        The message must name every running episode exactly once, and its slot list must be
        exactly the slots its batch advances ask for.
        """
        live = self._live
        named = actions.episodes + [end[0] for end in actions.ends]
        if len(named) != len(live) or set(named) != live.keys():
            raise Rejection(self._coverage_problem(named))
        results = ch.Results.empty()
        add, add_text = results.records.extend, results.texts.append
        continue_, branch = ch.CONTINUE, ch.BRANCH
        batch = _Batches(actions.slots, results)
        index = -1
        records = iter(actions.records)
        for episode_id, op, slot in zip(records, records, records, strict=True):
            index += 1
            item = live[episode_id]
            episode = item.episode
            try:
                if op == continue_:
                    answer, done = episode.advance(slot)
                elif op == branch:
                    answer, slot, done = episode.open()
                elif op == ch.READ:
                    answer = episode.read()
                    slot, done = episode.n_opened - 1, True
                elif op == ch.PROBE:
                    answer = episode.probe(slot)
                    done = episode.finished[slot]
                elif op == ch.PRUNE:
                    episode.prune(slot)
                    answer, done = NO_ANSWER, False
                elif op in ch.BATCH_OPS:
                    batch.apply(item, op, slot, index)
                    continue
                else:
                    raise Rejection(f"it sent an unknown action (code {op}).", spec=item.spec)
            except IllegalActionError as error:
                add((ch.ILLEGAL, slot, 0, episode.tokens, episode.seq_tokens))
                add_text((index, str(error).encode()))
                continue
            if item.log is not None:
                item.log.append((op, slot))
            if answer >= 0:  # item.local_id, inlined: the hottest path of the parent
                local = item.local[answer]
                if local < 0:
                    local = item.local[answer] = item.n_local
                    item.n_local += 1
                    add_text((index, item.question.answers[answer].encode()))
                answer = local
            add((answer, slot, done, episode.tokens, episode.seq_tokens))
        batch.check_used()
        return results, [self._end(live.pop(eid), kind, text) for eid, kind, text in actions.ends]

    def _end(self, item: _Live, kind: int, text: bytes) -> Ended:
        if kind == ch.END_ERROR:
            raise Rejection("it raised an exception.", spec=item.spec, error=text)
        answer = None
        if kind == ch.END_ANSWER:
            answer = text.decode("utf-8", "replace")
            known = item.question.answers
            answer_id = _index(known, answer)
            if answer_id < 0 or item.local[answer_id] < 0:
                raise Rejection(
                    f"it answered {ch.printable(answer, 200)!r}, which that episode never "
                    "revealed; a controller may answer only with what its own actions revealed.",
                    spec=item.spec,
                )
            item.episode.finish(answer_id)
        else:
            item.episode.finish(None)
        episode = item.episode
        trace = episode.record(answer) if isinstance(episode, TracingEpisode) else None
        log = tuple(item.log) if item.log is not None else None
        return Ended(item.spec, answer, episode.tokens, episode.seq_tokens, trace, log)

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


class _Batches:
    """The batch calls of one message: each one wave on the parent's episode, its results
    returned whole (or, if the engine refuses it, nothing charged and the engine's reason)."""

    __slots__ = ("slots", "taken", "results")

    def __init__(self, slots: list[int], results: ch.Results) -> None:
        self.slots = slots
        self.taken = 0
        self.results = results

    def apply(self, item: _Live, op: int, arg: int, index: int) -> None:
        episode = item.episode
        results = self.results
        if op == ch.ADVANCE_MANY:
            left = len(self.slots) - self.taken
            if not 0 <= arg <= left:
                raise Rejection(
                    f"it sent a batch advance of {arg} slots where the message lists {left} more.",
                    spec=item.spec,
                )
            wave = self.slots[self.taken : self.taken + arg]
            self.taken += arg
            arg_logged: int | tuple[int, ...] = tuple(wave)
        else:
            arg_logged = arg
        try:
            if op == ch.ADVANCE_MANY:
                items = [
                    (answer, slot, done)
                    for slot, (answer, done) in zip(wave, episode.advance_many(wave), strict=True)
                ]
            elif op == ch.OPEN_MANY:
                items = episode.open_many(arg)
            else:
                answers = episode.read_many(arg)
                first = episode.n_opened - len(answers)
                items = [(answer, first + j, True) for j, answer in enumerate(answers)]
        except IllegalActionError as error:
            results.records.extend((ch.ILLEGAL, 0, 0, episode.tokens, episode.seq_tokens))
            results.texts.append((index, str(error).encode()))
            return
        if item.log is not None:
            item.log.append((op, arg_logged))
        add_item = results.waves.extend
        for answer, slot, done in items:
            add_item((item.local_id(answer, index, results.texts), slot, done))
        results.records.extend((ch.NO_ANSWER, len(items), 0, episode.tokens, episode.seq_tokens))

    def check_used(self) -> None:
        if self.taken != len(self.slots):
            raise Rejection(
                f"it sent {len(self.slots) - self.taken} slots that no batch advance asked for."
            )


def _index(answers: tuple[str, ...], answer: str) -> int:
    try:
        return answers.index(answer)
    except ValueError:
        return -1
