"""What a controller did on each episode of a store: its answer and what it spent.

Spent means both cost axes: total tokens, and sequential tokens (the latency proxy of
docs/design.md: when the episode's last generation ends, see `tts_gym.engine.rules`).

`Outcomes` is what every player returns (the harness scores it against the gold answers
afterwards, outside the episodes); `Orders` says which branch orders a store is played under.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Orders = Sequence[Sequence[int]] | Callable[[int, int], Sequence[Sequence[int]]]
"""One list of branch orders for every question, or `f(question_index, n_branches) -> orders`."""


@dataclass
class Outcomes:
    """What a controller did on each (question, order): its answer and the tokens it spent."""

    answers: list[list[str | None]]  # [question][order]
    tokens: np.ndarray  # int64 [n_questions, n_orders]
    seq_tokens: np.ndarray  # int64 [n_questions, n_orders], sequential tokens
    traces: list[list[dict[str, Any]]] | None = None  # [question][order], when asked for
    seconds: float = 0.0  # CPU time the episodes took (for throughput figures)

    @property
    def n_questions(self) -> int:
        return len(self.answers)

    @property
    def n_orders(self) -> int:
        return int(self.tokens.shape[1]) if self.tokens.ndim == 2 else 0

    def __repr__(self) -> str:  # not every episode's answer
        traced = "" if self.traces is None else ", traced"
        return f"Outcomes(questions={self.n_questions}, orders={self.n_orders}{traced})"

    @classmethod
    def concat(cls, parts: Sequence[Outcomes]) -> Outcomes:
        """Join outcomes of consecutive question ranges."""
        traces = None
        if parts and all(part.traces is not None for part in parts):
            traces = [row for part in parts for row in part.traces]
        return cls(
            answers=[row for part in parts for row in part.answers],
            tokens=np.concatenate([part.tokens for part in parts], axis=0),
            seq_tokens=np.concatenate([part.seq_tokens for part in parts], axis=0),
            traces=traces,
            seconds=sum(part.seconds for part in parts),
        )
