"""What a live run knows of one question's branches, grown as the engine generates them.

A branch is known as far as it was generated: the answers probed after 1, 2, ... intervals
(a prefix, since a branch is explored depth by depth), and, once it has ended, its length,
its final answer and how many probe entries it has in all. Episodes read it through a
snapshot (`LiveQuestion.snapshot`, a `Question` the engine's `Episode` replays); engines
write into it; at the end it becomes the question's entry of a replay store, each branch as
far as it was generated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tts_gym.store.replay import ERR, Question

PENDING = "\x00pending"
"""The answer a speculative pass sees where the engine has not answered yet (never final)."""


@dataclass
class LiveBranch:
    probes: list[str] = field(default_factory=list)  # answer after 1, 2, ... intervals
    raw_probes: list[str] = field(default_factory=list)  # as read, before matching to the gold
    tokens: int = 0  # generated so far; the branch's length once it has ended
    ended: bool = False
    n_probes: int = 0  # once ended: its probe entries in all (an explore past them finishes it)
    final: str = ERR
    raw_final: str = ERR
    record: Any = None  # the engine's own record of the branch (its prompt and tokens, or text)

    def can_explore(self, depth: int) -> bool:
        """Whether exploring it at `depth` (its `depth + 1`-th interval) needs nothing new."""
        return depth < len(self.probes) or (self.ended and depth == self.n_probes)

    def goes_on(self, tokens: int) -> bool:
        """Whether the branch is longer than `tokens` (so it has a probe entry there)."""
        return not self.ended or self.tokens > tokens

    def add_probe(self, raw: str, matched: str) -> None:
        self.raw_probes.append(raw)
        self.probes.append(matched)

    def end(self, tokens: int, n_probes: int, raw: str, matched: str) -> None:
        self.tokens, self.ended, self.n_probes = tokens, True, n_probes
        self.raw_final, self.final = raw, matched


@dataclass
class LiveQuestion:
    """One question of a live run: its text, gold answer ("" when unknown) and branches
    0 .. n_branches-1, generated on demand; `generated` and `probe_tokens` count what the
    engine really produced for it (speculation included), `requests` its calls."""

    index: int
    text: str
    gold: str
    interval: int
    n_branches: int
    branches: dict[int, LiveBranch] = field(default_factory=dict)
    generated: int = 0
    probe_tokens: int = 0
    requests: int = 0

    def branch(self, b: int) -> LiveBranch:
        found = self.branches.get(b)
        if found is None:
            found = self.branches[b] = LiveBranch()
        return found

    def snapshot(self) -> Question:
        """What is known, as a gold-free `Question` an `Episode` replays: unknown parts read
        as PENDING (the last answer id), lengths of unfinished branches as 0. The lists are
        fresh: a pass may extend them with placeholders."""
        ids: dict[str, int] = {}
        probes: list[list[int]] = []
        finals: list[int | None] = []
        tokens: list[int] = []
        for b in range(self.n_branches):
            branch = self.branches.get(b)
            ended = branch is not None and branch.ended
            probes.append(
                [] if branch is None else [ids.setdefault(a, len(ids)) for a in branch.probes]
            )
            finals.append(ids.setdefault(branch.final, len(ids)) if ended else None)
            tokens.append(branch.tokens if ended else 0)
        pending = ids.setdefault(PENDING, len(ids))
        return Question(
            index=self.index,
            text="",
            gold="",
            probe_freq=self.interval,
            answers=tuple(ids),
            probes=probes,  # type: ignore[arg-type]  # lists: placeholders are appended
            tokens=tokens,  # type: ignore[arg-type]
            finals=[pending if f is None else f for f in finals],  # type: ignore[arg-type]
        )

    def entry(self) -> dict[str, Any]:
        """The question as a replay-store entry: the branches that were generated, in
        branch order, each as far as it was (an unfinished one ends, for a replay, at its
        last probed answer after the tokens generated so far)."""
        ids = sorted(self.branches)
        rows = []
        for b in ids:
            branch = self.branches[b]
            final = branch.final if branch.ended else (branch.probes or [ERR])[-1]
            rows.append([list(branch.probes), branch.tokens, final])
        return {
            "question": self.text,
            "gold_answer": self.gold,
            "probe_freq": self.interval,
            "final_answers_trace": [row[2] for row in rows],
            "each_branch": rows,
            "branch_ids": ids,
            "finished": [self.branches[b].ended for b in ids],
            "raw_probe_answers": [list(self.branches[b].raw_probes) for b in ids],
            "raw_final_answers": [
                self.branches[b].raw_final if self.branches[b].ended else None for b in ids
            ],
        }
