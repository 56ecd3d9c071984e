"""Per-episode traces: every action with the answer it revealed and the tokens spent so far.

Engine and imperative controllers are traced by replaying them on `TracingEpisode`, an
`Episode` that records its actions (the untraced hot path stays free of any recording); step
policies are traced from the env's `info`. Traces are written as JSONL, one episode a line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tts_gym.engine import Episode
from tts_gym.store.files import write_file

if TYPE_CHECKING:
    from tts_gym.evaluation.evaluate import Cell

STOP_ANSWER = "answer"
STOP_NO_ANSWER = "no_answer"


def action_record(
    action: str, slot: int, revealed: str | None, finished: bool, tokens: int
) -> dict[str, Any]:
    return {
        "action": action,
        "slot": slot,
        "revealed": revealed,
        "finished": finished,
        "tokens": tokens,
    }


def episode_record(
    actions: list[dict[str, Any]], answer: str | None, tokens: int, stop_reason: str | None = None
) -> dict[str, Any]:
    if stop_reason is None:
        stop_reason = STOP_NO_ANSWER if answer is None else STOP_ANSWER
    return {"actions": actions, "answer": answer, "tokens": tokens, "stop_reason": stop_reason}


class TracingEpisode(Episode):
    """An `Episode` that keeps a record of every action a controller takes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actions: list[dict[str, Any]] = []

    def _log(self, action: str, slot: int, answer: int, finished: bool) -> None:
        self.actions.append(
            action_record(action, slot, self.answer_text(answer), finished, self.tokens)
        )

    def open(self) -> tuple[int, int, bool]:
        answer, slot, finished = super().open()
        self._log("BRANCH", slot, answer, finished)
        return answer, slot, finished

    def advance(self, slot: int) -> tuple[int, bool]:
        answer, finished = super().advance(slot)
        self._log("CONTINUE", slot, answer, finished)
        return answer, finished

    def probe(self, slot: int) -> int:
        answer = super().probe(slot)
        self._log("PROBE", slot, answer, self.finished[slot])
        return answer

    def prune(self, slot: int) -> None:
        super().prune(slot)
        self.actions.append(action_record("PRUNE", slot, None, False, self.tokens))

    def read(self) -> int:
        answer = super().read()
        self._log("READ", self.n_opened - 1, answer, True)
        return answer

    def record(self, answer: str | None) -> dict[str, Any]:
        return episode_record(self.actions, answer, self.tokens)


def trace_records(cells: Iterable[Cell]) -> Iterator[dict[str, Any]]:
    """Per-episode records of the traced cells, labelled with store, method and correctness."""
    for cell in cells:
        if cell.outcomes.traces is None:
            continue
        for q, row in enumerate(cell.outcomes.traces):
            for o, record in enumerate(row):
                yield {
                    "store": cell.store.name,
                    "method": cell.method,
                    "question": q,
                    "order": o,
                    "correct": bool(cell.correct[q, o]),
                    **record,
                }


def write_traces(path: str | os.PathLike, cells: Iterable[Cell]) -> Path:
    """All traces as JSONL, one episode a line, written atomically."""
    return write_file(path, "".join(json.dumps(r) + "\n" for r in trace_records(cells)))
