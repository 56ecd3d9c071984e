"""`LiveEpisode`: the engine's `Episode`, over branches a model generates while it is played.

The episode is the replay MDP itself (`tts_gym.engine.Episode`: legality, cost, waves,
votes), replaying a snapshot of what the live question knows. Its two reads of branch data,
an explore (`_explore`, which `open`, `advance` and their batch forms use) and a read to the
end (`_read`), first ask whether the data is known; where it is not, the episode asks the
engine for it. So every controller that drives an `Episode` or a question handle runs
unchanged, and with a replay engine it gives exactly what replay gives.

How a pass works. A controller is played in passes: each pass plays it from the start on a
fresh snapshot. Outside a wave, the first action that needs new data ends the pass at once
(`NeedData`). Inside a wave, the actions do not depend on one another's results (the wave
contract, docs/design.md), so the pass goes on with a placeholder answer (`PENDING`) and
collects every request of the wave until the wave ends, when the pass ends. A second step on
a branch already waiting in the wave (a chain, such as a burst of advances) cannot be asked
before the first is answered: in the pass, that placeholder branch just ends there, so the
wave goes on to its other branches and the chain continues in the next pass. The runner has
the engine generate all the requests of a pass together, concurrently, and plays the next
pass. The pass that finishes without needing anything is the episode: every answer it saw
was real, so its answer, tokens and sequential tokens are those of the replay MDP on the
data generated. A controller must therefore be a deterministic function of what it sees (as
replay evaluation assumes); the placeholder results of an abandoned pass never count.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from tts_gym.engine import Episode
from tts_gym.live.branches import LiveQuestion


class NeedData(BaseException):
    """Ends a pass: the episode needs data the engine has not generated yet. A BaseException,
    so that a controller's `except Exception` cannot swallow it."""


@dataclass(frozen=True)
class Need:
    """What one branch must have generated: its `depth + 1`-th interval explored (its probe
    answer, or its end), or, with `depth` None, its end (a read)."""

    branch: int
    depth: int | None


class LiveEpisode(Episode):
    """One pass of a controller over a live question (see the module docstring)."""

    def __init__(self, question: LiveQuestion, order: Sequence[int]) -> None:
        snapshot = question.snapshot()
        super().__init__(snapshot, order)
        self.live = question
        self.pending = len(snapshot.answers) - 1  # the PENDING answer id
        self.needs: dict[int, Need] = {}  # by branch, in the order asked

    def _explore(self, slot: int) -> tuple[int, bool]:
        b, depth = self.branch[slot], self.depth[slot]
        branch = self.live.branches.get(b)
        if (branch is None or not branch.can_explore(depth)) and not self._chained(b):
            self._need(Need(b, depth))
            self._probes[b].append(self.pending)  # the placeholder answer, not finished
        return super()._explore(slot)

    def _read(self, slot: int) -> int:
        b = self.branch[slot]
        branch = self.live.branches.get(b)
        if branch is None or not branch.ended:
            self._need(Need(b, None))  # the snapshot already reads it as PENDING, 0 tokens
        return super()._read(slot)

    @contextmanager
    def wave(self) -> Iterator[None]:
        with super().wave():
            yield
        if self.needs:
            raise NeedData

    def _chained(self, b: int) -> bool:
        """A wave's second step on a branch that already waits: it cannot be asked before the
        first is answered, so the placeholder branch simply ends here (no answer, no cost),
        which ends the chain and lets the wave go on to its other branches."""
        return self._wave is not None and b in self.needs

    def _need(self, need: Need) -> None:
        """Note `need`; end the pass unless a wave can go on without its result."""
        self.needs[need.branch] = need
        if self._wave is None:
            raise NeedData
