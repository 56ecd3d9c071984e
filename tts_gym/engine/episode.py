"""One episode of the replay MDP: the readable reference for dynamics, cost and legality.

The rules are the replay semantics of docs/design.md, with legality, the token budget and
latency as stated in `tts_gym.engine.rules`. A question's branches are visited in the episode's
`order`; opened branches get slots 0, 1, 2, ... Answers are integer ids into `question.answers`
(`NO_ANSWER` = -1 means "not revealed"). Per-slot state lives in parallel lists because
controllers read it one element at a time in tight Python loops. The compiled batch core
(`tts_gym.engine.core`) is the same MDP for N episodes at once; tests hold the two equal.

Latency (docs/design.md): `seq_tokens` is when the episode's last generation ends: the sum of
its waves' durations, or the end of a write-up still running after them (a write-up does not
hold its wave up; see `tts_gym.engine.rules`). Each action is a wave of its own, except the
batch actions (`advance_many`, `open_many`, `read_many`), each one wave whose results are
returned together when it ends; trusted reference controllers group their own actions into
one wave with `with episode.wave(): ...`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from tts_gym.engine.actions import BATCH_KINDS, ActionKind, action_name
from tts_gym.engine.rules import (
    NO_ANSWER,
    can_continue,
    can_open,
    can_probe,
    can_prune,
    can_submit,
    parallel_limit,
    token_limit,
    wave_timing,
    why_advance_many_illegal,
    why_illegal,
)
from tts_gym.engine.voting import leader
from tts_gym.errors import IllegalActionError
from tts_gym.store.replay import Question

__all__ = ["NO_ANSWER", "Episode"]


class Episode:
    """Replay one question: open, advance, probe, prune and read branches; then answer.

    `reveal_on_continue=True` (the paper's setting) reveals each newly reached answer as part
    of the advance; with False an advance only spends tokens and `probe(slot)` reveals the
    answer at the slot's current depth for `probe_cost` tokens. `max_branches` caps the slots
    (default: the whole order), `budget` the tokens (see `tts_gym.engine.rules`) and
    `max_parallel` the branches a wave runs at once (None: no cap). An illegal action raises
    `IllegalActionError` saying why and changes nothing.
    """

    __slots__ = (
        "question", "order", "probe_cost", "reveal_on_continue", "max_branches", "budget",
        "max_parallel", "_limit", "_width", "_interval", "_probes", "_lengths", "_finals",
        "tokens", "n_opened", "n_alive", "branch", "depth", "charged", "finished", "pruned",
        "current", "revealed", "votes", "done", "answer", "_overlap", "_wave", "_writeups",
        "_writeup_end",
    )  # fmt: skip

    def __init__(
        self,
        question: Question,
        order: Sequence[int],
        *,
        probe_cost: int = 0,
        reveal_on_continue: bool = True,
        max_branches: int | None = None,
        budget: int | None = None,
        max_parallel: int | None = None,
    ) -> None:
        if probe_cost < 0:
            raise ValueError(f"probe_cost must be non-negative, got {probe_cost}.")
        if budget is not None and budget <= 0:
            raise ValueError(f"budget must be positive, got {budget}.")
        if max_branches is not None and max_branches < 1:
            raise ValueError(f"max_branches must be at least 1, got {max_branches}.")
        if max_parallel is not None and max_parallel < 1:
            raise ValueError(f"max_parallel must be at least 1, got {max_parallel}.")
        self.question = question
        self.order = order
        self.probe_cost = probe_cost
        self.reveal_on_continue = reveal_on_continue
        self.max_branches = len(order) if max_branches is None else max_branches
        self.budget = budget
        self.max_parallel = max_parallel
        self._limit = token_limit(budget)
        self._width = parallel_limit(max_parallel)
        self._interval = question.probe_freq
        self._probes = question.probes
        self._lengths = question.tokens
        self._finals = question.finals

        self.tokens = 0
        self.n_opened = 0
        self.n_alive = 0  # open slots neither finished nor pruned
        # per slot
        self.branch: list[int] = []  # stored branch index
        self.depth: list[int] = []  # explore count d
        self.charged: list[int] = []  # tokens charged to this branch so far
        self.finished: list[bool] = []
        self.pruned: list[bool] = []
        self.current: list[int] = []  # answer at the current depth (revealed or not)
        self.revealed: list[int] = []  # last revealed answer, NO_ANSWER before the first reveal
        # votes: revealed answers of slots that are not pruned, by answer id
        self.votes: dict[int, int] = {}

        self.done = False
        self.answer: int = NO_ANSWER
        # latency: the clock (the sum of the waves' durations) is tokens - _overlap, the
        # tokens of ended waves that ran beside longer ones or were write-ups; `_writeup_end`
        # is when the last write-up ends. `_wave` holds (tokens, charged per slot) at the
        # start of an open wave and `_writeups` its write-ups' tokens by slot.
        self._overlap = 0
        self._writeup_end = 0
        self._wave: tuple[int, list[int]] | None = None
        self._writeups: dict[int, int] = {}

    # ---- queries -------------------------------------------------------------------------
    @property
    def can_open(self) -> bool:
        """BRANCH and READ are legal (an unopened branch, a free slot, budget left)."""
        return not self.done and can_open(
            self.n_opened, len(self.order), self.max_branches, self.tokens, self._limit
        )

    @property
    def n_unopened(self) -> int:
        return len(self.order) - self.n_opened

    @property
    def seq_tokens(self) -> int:
        """Sequential tokens (docs/design.md): when the last generation so far ends, the sum of
        the waves' durations or a write-up's end. An open wave counts all its tokens until it
        ends, when its overlap is taken off."""
        clock = self.tokens - self._overlap
        return clock if clock >= self._writeup_end else self._writeup_end

    def alive_slots(self) -> list[int]:
        """Open slots neither finished nor pruned, in slot order (what ADVANCE_ALL advances)."""
        finished, pruned = self.finished, self.pruned
        return [s for s in range(self.n_opened) if not (finished[s] or pruned[s])]

    def can_advance(self, slot: int) -> bool:
        return not (self.finished[slot] or self.pruned[slot])

    def can_probe(self, slot: int) -> bool:
        return not self.pruned[slot] and self.revealed[slot] != self.current[slot]

    def why_illegal(self, kind: ActionKind, slot: int = 0) -> str | None:
        """Why `kind` on `slot` is illegal now (`tts_gym.engine.rules`); None if legal."""
        return why_illegal(self, kind, slot)

    def answer_text(self, answer: int) -> str | None:
        return None if answer == NO_ANSWER else self.question.answers[answer]

    @property
    def correct(self) -> bool:
        return self.answer != NO_ANSWER and self.answer == self.question.gold_id

    def majority(self) -> int:
        """Majority of revealed answers of unpruned slots; ties go to the lowest slot."""
        if not self.votes:
            return NO_ANSWER
        best = leader(self.votes)[1]
        revealed, pruned, votes = self.revealed, self.pruned, self.votes
        for slot in range(self.n_opened):
            answer = revealed[slot]
            if answer != NO_ANSWER and not pruned[slot] and votes[answer] == best:
                return answer
        raise AssertionError("vote counts out of sync with slots")

    # ---- actions -------------------------------------------------------------------------
    def open(self) -> tuple[int, int, bool]:
        """BRANCH: open the next branch in the order and explore it once.

        Returns (answer id or NO_ANSWER if not revealed, slot, finished).
        """
        slot = self._new_slot(ActionKind.BRANCH)
        answer, finished = self._explore(slot)
        return answer, slot, finished

    def advance(self, slot: int) -> tuple[int, bool]:
        """CONTINUE(slot): explore once. Returns (answer id or NO_ANSWER, finished)."""
        if self.done or not (
            0 <= slot < self.n_opened
            and can_continue(self.finished[slot], self.pruned[slot], self.tokens, self._limit)
        ):
            raise self._illegal(ActionKind.CONTINUE, slot)
        return self._explore(slot)

    def probe(self, slot: int) -> int:
        """PROBE(slot): reveal the answer at the slot's current depth for `probe_cost` tokens."""
        if self.done or not (
            0 <= slot < self.n_opened
            and can_probe(
                self.pruned[slot],
                self.revealed[slot],
                self.current[slot],
                self.tokens,
                self._limit,
                self.probe_cost,
            )
        ):
            raise self._illegal(ActionKind.PROBE, slot)
        self._charge(slot, self.probe_cost)
        self._reveal(slot, self.current[slot])
        return self.current[slot]

    def prune(self, slot: int) -> None:
        """PRUNE(slot): stop the branch for good; its answer leaves the vote. Free."""
        if self.done or not (
            0 <= slot < self.n_opened and can_prune(self.finished[slot], self.pruned[slot])
        ):
            raise self._illegal(ActionKind.PRUNE, slot)
        self.pruned[slot] = True
        self.n_alive -= 1
        self._unvote(self.revealed[slot])

    def read(self) -> int:
        """READ: open the next branch and charge its whole length for its final answer."""
        return self._read(self._new_slot(ActionKind.READ))

    def submit(self, slot: int) -> int:
        """SUBMIT(slot): end the episode with the slot's last revealed answer."""
        if self.done or not (0 <= slot < self.n_opened and can_submit(self.revealed[slot])):
            raise self._illegal(ActionKind.SUBMIT, slot)
        return self.finish(self.revealed[slot])

    def finish(self, answer: int | None) -> int:
        """ANSWER: end the episode with an answer id (None or NO_ANSWER: no answer, wrong)."""
        if self.done:
            raise self._illegal(ActionKind.ANSWER)
        self.answer = NO_ANSWER if answer is None else answer
        self.done = True
        return self.answer

    # ---- waves ---------------------------------------------------------------------------
    @contextmanager
    def wave(self) -> Iterator[None]:
        """Group the actions taken inside into one wave (docs/design.md): per branch the tokens
        charged in it add up, distinct branches overlap, so it lasts as long as the branch
        that generated most (with `max_parallel`, its sub-waves one after another).

        For the engine's batch actions and for trusted reference controllers whose wave
        structure is fixed; an untrusted controller gets batch calls that return every
        result at the wave's end instead. Waves do not nest.
        """
        if self._wave is not None:
            raise IllegalActionError(f"wave: {self._why_no_wave()}.")
        self._wave = (self.tokens, self.charged.copy())
        try:
            yield
        finally:
            tokens, charged = self._wave
            self._wave = None
            before = len(charged)
            segments = [c - charged[s] if s < before else c for s, c in enumerate(self.charged)]
            writeups = [0] * len(segments)
            for slot, writeup in self._writeups.items():
                segments[slot] -= writeup
                writeups[slot] = writeup
            self._writeups.clear()
            duration, end = wave_timing(segments, writeups, self._width)
            if end:
                self._writeup_end = max(self._writeup_end, tokens - self._overlap + end)
            self._overlap += self.tokens - tokens - duration

    def advance_many(self, slots: Sequence[int]) -> list[tuple[int, bool]]:
        """CONTINUE each of `slots` once, as one wave: (answer id or NO_ANSWER, finished) per
        slot, in the order given, returned when the wave has ended. Legal when the slots are
        distinct and each one's CONTINUE is legal at the start."""
        reason = why_advance_many_illegal(self, slots) or self._why_no_wave()
        if reason is not None:
            raise IllegalActionError(f"advance_many({list(slots)}): {reason}.")
        with self.wave():
            return [self._explore(slot) for slot in slots]

    def open_many(self, k: int) -> list[tuple[int, int, bool]]:
        """BRANCH k times as one wave: (answer id or NO_ANSWER, slot, finished) per branch."""
        self._check_batch(ActionKind.OPEN_MANY, k)
        results = []
        with self.wave():
            for _ in range(k):
                slot = self._add_slot()
                answer, finished = self._explore(slot)
                results.append((answer, slot, finished))
        return results

    def read_many(self, k: int) -> list[int]:
        """READ k times as one wave: the k final answer ids, in slot order."""
        self._check_batch(ActionKind.READ_MANY, k)
        with self.wave():
            return [self._read(self._add_slot()) for _ in range(k)]

    def apply_wave(self, kind: ActionKind, k: int = 0) -> list[tuple[int, int, bool]]:
        """A batch action of the env's vocabulary (ADVANCE_ALL, OPEN_MANY(k), READ_MANY(k)):
        (slot, answer id or NO_ANSWER, finished) per branch in it, in slot order."""
        if kind is ActionKind.ADVANCE_ALL:
            self._check_batch(kind, 0)
            slots = self.alive_slots()
            return [(s, *result) for s, result in zip(slots, self.advance_many(slots), strict=True)]
        if kind is ActionKind.OPEN_MANY:
            return [(slot, answer, finished) for answer, slot, finished in self.open_many(k)]
        first = self.n_opened
        return [(first + j, answer, True) for j, answer in enumerate(self.read_many(k))]

    def apply(self, kind: ActionKind, slot: int = 0) -> tuple[int, int, bool]:
        """Any action by its kind (the env's vocabulary): returns (slot acted on, -1 for
        ANSWER and the batch actions; answer id it revealed or NO_ANSWER (always for a batch
        action); whether it finished a branch). `slot` is the width k of OPEN_MANY and
        READ_MANY."""
        if kind in BATCH_KINDS:
            finished = any(ended for _, _, ended in self.apply_wave(kind, slot))
            return -1, NO_ANSWER, finished
        if kind is ActionKind.CONTINUE:
            return (slot, *self.advance(slot))
        if kind is ActionKind.BRANCH:
            answer, slot, finished = self.open()
            return slot, answer, finished
        if kind is ActionKind.READ:
            return self.n_opened, self.read(), True
        if kind is ActionKind.PROBE:
            return slot, self.probe(slot), False
        if kind is ActionKind.PRUNE:
            self.prune(slot)
        elif kind is ActionKind.SUBMIT:
            self.submit(slot)
        else:
            self.finish(self.majority())
            slot = -1
        return slot, NO_ANSWER, False

    # ---- internals -----------------------------------------------------------------------
    def _illegal(self, kind: ActionKind, slot: int = 0) -> IllegalActionError:
        return IllegalActionError(f"{action_name(kind, slot)}: {why_illegal(self, kind, slot)}.")

    def _why_no_wave(self) -> str | None:
        return None if self._wave is None else "a wave is already open (waves do not nest)"

    def _check_batch(self, kind: ActionKind, k: int) -> None:
        reason = why_illegal(self, kind, k) or self._why_no_wave()
        if reason is not None:
            raise IllegalActionError(f"{action_name(kind, k)}: {reason}.")

    def _new_slot(self, kind: ActionKind) -> int:
        if not self.can_open:
            raise self._illegal(kind)
        return self._add_slot()

    def _add_slot(self) -> int:
        slot = self.n_opened
        self.n_opened += 1
        self.n_alive += 1
        self.branch.append(self.order[slot])
        self.depth.append(0)
        self.charged.append(0)
        self.finished.append(False)
        self.pruned.append(False)
        self.current.append(NO_ANSWER)
        self.revealed.append(NO_ANSWER)
        return slot

    def _explore(self, slot: int) -> tuple[int, bool]:
        # The hottest code of every depth controller (~1,500 calls per Parallel-Probe
        # episode), so the reveal is inlined; the slot is open and unpruned here.
        b = self.branch[slot]
        depth = self.depth[slot]
        probes = self._probes[b]
        if depth < len(probes):
            answer = probes[depth]
            self.depth[slot] = depth + 1
            cost = self._interval
            finished = False
        else:
            answer = self._finals[b]
            cost = max(0, self._lengths[b] - self.charged[slot])
            self.finished[slot] = finished = True
            self.n_alive -= 1
            if probes and probes[-1] == answer:
                self._write_up(slot, cost)
        self.charged[slot] += cost
        self.tokens += cost
        self.current[slot] = answer
        if not self.reveal_on_continue:
            return NO_ANSWER, finished
        previous = self.revealed[slot]
        if previous != answer:
            self.revealed[slot] = answer
            votes = self.votes
            if previous != NO_ANSWER:
                left = votes[previous] - 1
                if left:
                    votes[previous] = left
                else:
                    del votes[previous]
            votes[answer] = votes.get(answer, 0) + 1
        return answer, finished

    def _write_up(self, slot: int, cost: int) -> None:
        """The explore about to charge `cost` tokens to `slot` is its write-up: alone, a wave
        that lasts no time but ends when the write-up does; in an open wave, noted for it."""
        if self._wave is None:
            self._writeup_end = max(self._writeup_end, self.tokens - self._overlap + cost)
            self._overlap += cost
        else:
            self._writeups[slot] = cost

    def _read(self, slot: int) -> int:
        b = self.branch[slot]
        self.depth[slot] = len(self._probes[b])
        self._charge(slot, self._lengths[b])
        self.finished[slot] = True
        self.n_alive -= 1
        self.current[slot] = self._finals[b]
        self._reveal(slot, self._finals[b])
        return self._finals[b]

    def _reveal(self, slot: int, answer: int) -> None:
        previous = self.revealed[slot]
        if previous == answer:
            return
        self.revealed[slot] = answer
        if not self.pruned[slot]:
            self._unvote(previous)
            self.votes[answer] = self.votes.get(answer, 0) + 1

    def _unvote(self, answer: int) -> None:
        if answer == NO_ANSWER:
            return
        left = self.votes[answer] - 1
        if left:
            self.votes[answer] = left
        else:
            del self.votes[answer]

    def _charge(self, slot: int, cost: int) -> None:
        self.charged[slot] += cost
        self.tokens += cost
