"""Parallel-Probe: advance many branches in lockstep, prune off-track ones, stop when stable.

Waves (docs/design.md): the N branches are opened together (one wave), then each lockstep round,
which advances every running branch once, is one wave; pruning takes no time. Its sequential
tokens are the longest per-branch cost.

Hot path: ~1,500 advances per episode, so the loop keeps the slots still running and the
vote counts of the active answers up to date instead of rebuilding them every step.
"""

from __future__ import annotations

from dataclasses import dataclass

from tts_gym.control.builtin.settings import check_settings, setting
from tts_gym.engine import NO_ANSWER, Episode, count_votes


@dataclass(frozen=True)
class ParallelProbe:
    num_chains: int = setting(64, low=1)
    stable_steps: int = setting(40, low=1)  # T in the paper
    prune_patience: int = setting(7, low=1)
    warm_up: int = setting(15, low=0)
    max_steps: int = setting(100, low=1)
    name: str = "Parallel-Probe"
    __post_init__ = check_settings  # settings.py: --config n=2.5 is refused, not played

    def run(self, episode: Episode) -> int:
        latest: list[int] = []
        finished: list[bool] = []
        with episode.wave():
            while len(latest) < self.num_chains and episode.can_open:
                answer, _, done = episode.open()
                latest.append(answer)
                finished.append(done)
        n = len(latest)
        if n == 0:
            return NO_ANSWER
        advance, wave = episode.advance, episode.wave
        patience, warm_up = self.prune_patience, self.warm_up
        off_track = [0] * n
        active = list(range(n))  # not pruned, in slot order
        running = [slot for slot in active if not finished[slot]]  # active and not finished
        counts = count_votes(latest)  # answers of the active slots
        stable, previous = 0, NO_ANSWER
        for step in range(self.max_steps):
            any_finished = False
            with wave():
                for slot in running:
                    answer, done = advance(slot)
                    old = latest[slot]
                    if answer != old:  # move its vote (inlined: the hottest loop of all)
                        latest[slot] = answer
                        left = counts[old] - 1
                        if left:
                            counts[old] = left
                        else:
                            del counts[old]
                        counts[answer] = counts.get(answer, 0) + 1
                    if done:
                        finished[slot] = any_finished = True
            if any_finished:
                running = [slot for slot in running if not finished[slot]]
            winner = _majority(counts, latest, active)
            if step >= warm_up and len(active) > 1:
                pruned = []
                for slot in running:
                    off = off_track[slot] + 1 if latest[slot] != winner else 0
                    off_track[slot] = off
                    if off >= patience:
                        pruned.append(slot)
                        episode.prune(slot)
                        _remove_vote(counts, latest[slot])
                if pruned:
                    active = [slot for slot in active if slot not in pruned]
                    running = [slot for slot in running if slot not in pruned]
                    if not active:
                        return previous
                    winner = _majority(counts, latest, active)
            stable = stable + 1 if winner == previous else 0
            if stable >= self.stable_steps:
                return winner
            previous = winner
            if not running:
                return winner
        return previous


def _remove_vote(counts: dict[int, int], answer: int) -> None:
    left = counts[answer] - 1
    if left:
        counts[answer] = left
    else:
        del counts[answer]


def _majority(counts: dict[int, int], latest: list[int], active: list[int]) -> int:
    """Majority of the active answers, ties to the answer of the lowest active slot."""
    best = max(counts.values())
    for slot in active:
        if counts[latest[slot]] == best:
            return latest[slot]
    raise AssertionError("vote counts out of sync with the active slots")
