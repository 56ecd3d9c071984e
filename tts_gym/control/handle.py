"""The imperative controller's view of one episode: answers as strings, never the gold answer.

`QuestionHandle` speaks two vocabularies over the same episode so that any `solve(q)` runs
whichever one it was written in: tts-gym's (`branch`, `advance`, `probe`, `prune`, `read`) and
AutoTTS's (`probe_new`, `probe_more`, `get_new_branch_final_answer`,
`get_seq_and_total_tokens`). Illegal actions raise `IllegalActionError`, a `ValueError`, which
is also what AutoTTS's question raises when its branches are exhausted.

The episode may be the engine's `Episode` or anything with its action methods (the env adapter
passes a proxy whose every action is one `env.step`).
"""

from __future__ import annotations

from typing import Protocol


class EpisodeLike(Protocol):
    """The part of `tts_gym.engine.Episode` that controllers drive."""

    tokens: int
    n_opened: int

    @property
    def can_open(self) -> bool: ...
    def open(self) -> tuple[int, int, bool]: ...
    def advance(self, slot: int) -> tuple[int, bool]: ...
    def probe(self, slot: int) -> int: ...
    def prune(self, slot: int) -> None: ...
    def read(self) -> int: ...
    def answer_text(self, answer: int) -> str | None: ...


class QuestionHandle:
    """One episode for `solve(q)`; answers are strings, None where nothing was revealed."""

    __slots__ = ("_episode", "_interval")

    def __init__(self, episode: EpisodeLike, probe_interval: int) -> None:
        self._episode = episode
        self._interval = probe_interval

    def __repr__(self) -> str:
        return f"<QuestionHandle: {self.n_open} branches open, {self.tokens} tokens>"

    # ---- tts-gym vocabulary ---------------------------------------------------------------
    def branch(self) -> tuple[str | None, int, bool]:
        """Open the next branch and advance it one interval: (answer, slot, finished)."""
        answer, slot, finished = self._episode.open()
        return self._episode.answer_text(answer), slot, finished

    def advance(self, slot: int) -> tuple[str | None, bool]:
        """Advance slot `slot` one interval (or to its end): (answer, finished)."""
        answer, finished = self._episode.advance(slot)
        return self._episode.answer_text(answer), finished

    def probe(self, slot: int) -> str | None:
        """Reveal slot `slot`'s answer at its current depth (only needed without reveal)."""
        return self._episode.answer_text(self._episode.probe(slot))

    def prune(self, slot: int) -> None:
        """Drop slot `slot` for good (free)."""
        self._episode.prune(slot)

    def read(self) -> str | None:
        """Open the next branch and pay its whole length for its final answer."""
        return self._episode.answer_text(self._episode.read())

    @property
    def tokens(self) -> int:
        return self._episode.tokens

    @property
    def n_open(self) -> int:
        """Branches opened so far (slots 0 .. n_open - 1), pruned and finished ones included."""
        return self._episode.n_opened

    @property
    def can_branch(self) -> bool:
        """Whether another branch can be opened (by `branch` or `read`)."""
        return self._episode.can_open

    @property
    def probe_interval(self) -> int:
        """Tokens per interval (AutoTTS's `probe_freq`)."""
        return self._interval

    # ---- AutoTTS vocabulary ---------------------------------------------------------------
    def probe_new(self) -> tuple[str | None, int, bool]:
        return self.branch()

    def probe_more(self, index: int) -> tuple[str | None, bool]:
        return self.advance(index)

    def get_new_branch_final_answer(self) -> str | None:
        return self.read()

    def get_seq_and_total_tokens(self) -> tuple[int, int]:
        return 0, self.tokens

    @property
    def probe_freq(self) -> int:
        return self.probe_interval
