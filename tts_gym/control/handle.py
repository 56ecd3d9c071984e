"""The imperative controller's view of one episode: answers as strings, never the gold answer.

`QuestionHandle` speaks two vocabularies over the same episode so that any `solve(q)` runs
whichever one it was written in: tts-gym's (`branch`, `advance`, `probe`, `prune`, `read`) and
AutoTTS's (`probe_new`, `probe_more`, `get_new_branch_final_answer`,
`get_seq_and_total_tokens`). Illegal actions raise `IllegalActionError`, a `ValueError`, which
is also what AutoTTS's question raises when its branches are exhausted.

Latency (docs/design.md): every call is one wave, and the batch calls (`advance_many`,
`branch_many`, `read_many`) are one wave each whose results come back together as a list
when the wave has ended, so a controller cannot act on part of a wave. AutoTTS's vocabulary
has no batch call: code written in it runs one wave per call, and its sequential tokens are
its total tokens.

The episode may be the engine's `Episode` or anything with its action methods (the env adapter
passes a proxy whose every action is one `env.step`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class EpisodeLike(Protocol):
    """The part of `tts_gym.engine.Episode` that controllers drive."""

    tokens: int
    n_opened: int

    @property
    def can_open(self) -> bool: ...
    @property
    def seq_tokens(self) -> int: ...
    def open(self) -> tuple[int, int, bool]: ...
    def advance(self, slot: int) -> tuple[int, bool]: ...
    def probe(self, slot: int) -> int: ...
    def prune(self, slot: int) -> None: ...
    def read(self) -> int: ...
    def advance_many(self, slots: Sequence[int]) -> list[tuple[int, bool]]: ...
    def open_many(self, k: int) -> list[tuple[int, int, bool]]: ...
    def read_many(self, k: int) -> list[int]: ...
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

    def advance_many(self, slots: Sequence[int]) -> list[tuple[str | None, bool]]:
        """Advance each of `slots` (distinct, each advanceable) one interval, as one wave:
        (answer, finished) per slot, in the order given."""
        text = self._episode.answer_text
        return [(text(answer), done) for answer, done in self._episode.advance_many(slots)]

    def branch_many(self, k: int) -> list[tuple[str | None, int, bool]]:
        """Open the next `k` branches and advance each one interval, as one wave: (answer,
        slot, finished) per branch."""
        text = self._episode.answer_text
        return [(text(answer), slot, done) for answer, slot, done in self._episode.open_many(k)]

    def read_many(self, k: int) -> list[str | None]:
        """Open the next `k` branches and read each to its end, as one wave: their final
        answers, in slot order."""
        return [self._episode.answer_text(answer) for answer in self._episode.read_many(k)]

    @property
    def tokens(self) -> int:
        return self._episode.tokens

    @property
    def seq_tokens(self) -> int:
        """Sequential tokens so far: when the last generation ends (docs/design.md's waves,
        with write-ups running on: `tts_gym.engine.rules`)."""
        return self._episode.seq_tokens

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
        """(sequential tokens, total tokens); AutoTTS's own version returns 0 for the first."""
        return self.seq_tokens, self.tokens

    @property
    def probe_freq(self) -> int:
        return self.probe_interval
