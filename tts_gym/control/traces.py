"""Per-episode traces: every action with the answer it revealed and the tokens spent so far.

Engine and imperative controllers are traced by playing them on `TracingEpisode`, an
`Episode` that records its actions (the untraced hot path stays free of any recording); step
policies are traced from the env's `info`.
"""

from __future__ import annotations

from typing import Any

from tts_gym.engine import Episode

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
