"""Per-episode traces: every action with the answer it revealed, the tokens spent so far and
its wave.

Engine and imperative controllers are traced by playing them on `TracingEpisode`, an
`Episode` that records its actions (the untraced hot path stays free of any recording); step
policies are traced from the env's `info`.

An action record holds `action` (the kind's name), `slot`, `revealed` (the answer string, None
when nothing was revealed), `finished`, `tokens` (total so far), `seq_tokens` (sequential
tokens once its wave has ended) and `wave` (the index of its wave, from 0: docs/design.md). Single
actions are a wave each; the actions a reference controller groups with `episode.wave()` are
recorded one by one under one wave index; a batch call (`advance_many`, `open_many`,
`read_many`: `ADVANCE_MANY`, `OPEN_MANY`, `READ_MANY`) is one record for its whole wave, whose
`slot`, `revealed` and `finished` are lists with one entry per branch, in the call's order.
A step policy's trace has one record per env step, each its own wave; a batch action's
record holds what the env's `info` says of it (`slot` -1, `revealed` None, `finished`: it
finished some branch).
An episode record holds the actions, the `answer`, `tokens`, `seq_tokens` and `stop_reason`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from tts_gym.engine import Episode

STOP_ANSWER = "answer"
STOP_NO_ANSWER = "no_answer"


def action_record(
    action: str,
    slot: int | list[int],
    revealed: str | None | list[str | None],
    finished: bool | list[bool],
    tokens: int,
    seq_tokens: int,
    wave: int,
) -> dict[str, Any]:
    return {
        "action": action,
        "slot": slot,
        "revealed": revealed,
        "finished": finished,
        "tokens": tokens,
        "seq_tokens": seq_tokens,
        "wave": wave,
    }


def episode_record(
    actions: list[dict[str, Any]],
    answer: str | None,
    tokens: int,
    seq_tokens: int,
    stop_reason: str | None = None,
) -> dict[str, Any]:
    if stop_reason is None:
        stop_reason = STOP_NO_ANSWER if answer is None else STOP_ANSWER
    return {
        "actions": actions,
        "answer": answer,
        "tokens": tokens,
        "seq_tokens": seq_tokens,
        "stop_reason": stop_reason,
    }


class TracingEpisode(Episode):
    """An `Episode` that keeps a record of every action a controller takes, wave by wave."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actions: list[dict[str, Any]] = []
        self._n_waves = 0  # waves ended so far (the index of the next one)
        self._grouping = False  # inside `wave()`: the actions share the open wave's index

    def _log(self, action: str, slot: Any, revealed: Any, finished: Any) -> None:
        wave = self._n_waves  # the open wave's index, else a wave of its own
        if not self._grouping:
            self._n_waves += 1
        self.actions.append(
            action_record(action, slot, revealed, finished, self.tokens, self.seq_tokens, wave)
        )

    def _log_answer(self, action: str, slot: int, answer: int, finished: bool) -> None:
        self._log(action, slot, self.answer_text(answer), finished)

    @contextmanager
    def wave(self) -> Iterator[None]:
        first = len(self.actions)
        with super().wave():
            self._grouping = True
            try:
                yield
            finally:
                self._grouping = False
        if len(self.actions) > first:  # (a wave with no action takes no index)
            for record in self.actions[first:]:  # the wave's duration is known now
                record["seq_tokens"] = self.seq_tokens
            self._n_waves += 1

    def open(self) -> tuple[int, int, bool]:
        answer, slot, finished = super().open()
        self._log_answer("BRANCH", slot, answer, finished)
        return answer, slot, finished

    def advance(self, slot: int) -> tuple[int, bool]:
        answer, finished = super().advance(slot)
        self._log_answer("CONTINUE", slot, answer, finished)
        return answer, finished

    def probe(self, slot: int) -> int:
        answer = super().probe(slot)
        self._log_answer("PROBE", slot, answer, self.finished[slot])
        return answer

    def prune(self, slot: int) -> None:
        super().prune(slot)
        self._log("PRUNE", slot, None, False)

    def read(self) -> int:
        answer = super().read()
        self._log_answer("READ", self.n_opened - 1, answer, True)
        return answer

    def advance_many(self, slots: Sequence[int]) -> list[tuple[int, bool]]:
        results = super().advance_many(slots)
        answers, finished = ([column[k] for column in results] for k in (0, 1))
        self._log_wave("ADVANCE_MANY", list(slots), answers, finished)
        return results

    def open_many(self, k: int) -> list[tuple[int, int, bool]]:
        results = super().open_many(k)
        answers, slots, finished = (list(column) for column in zip(*results, strict=True))
        self._log_wave("OPEN_MANY", slots, answers, finished)
        return results

    def read_many(self, k: int) -> list[int]:
        answers = super().read_many(k)
        first = self.n_opened - len(answers)
        slots = list(range(first, self.n_opened))
        self._log_wave("READ_MANY", slots, answers, [True] * len(answers))
        return answers

    def _log_wave(
        self, action: str, slots: list[int], answers: list[int], finished: list[bool]
    ) -> None:
        # the batch call ran as a `self.wave()` that logged nothing: this record is that wave
        self._log(action, slots, [self.answer_text(a) for a in answers], finished)

    def record(self, answer: str | None) -> dict[str, Any]:
        return episode_record(self.actions, answer, self.tokens, self.seq_tokens)
