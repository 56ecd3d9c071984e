"""Parallel-Probe: advance many branches in lockstep, prune off-track ones, stop when stable."""

from __future__ import annotations

from dataclasses import dataclass

from tts_gym.engine import NO_ANSWER, Episode, majority


@dataclass(frozen=True)
class ParallelProbe:
    num_chains: int = 64
    stable_steps: int = 40  # T in the paper
    prune_patience: int = 7
    warm_up: int = 15
    max_steps: int = 100
    name: str = "Parallel-Probe"

    def run(self, episode: Episode) -> int:
        latest: list[int] = []
        finished: list[bool] = []
        while len(latest) < self.num_chains and episode.can_open:
            answer, _, done = episode.open()
            latest.append(answer)
            finished.append(done)
        n = len(latest)
        if n == 0:
            return NO_ANSWER
        pruned = [False] * n
        off_track = [0] * n
        stable, previous = 0, NO_ANSWER
        for step in range(self.max_steps):
            for slot in range(n):
                if not (pruned[slot] or finished[slot]):
                    latest[slot], finished[slot] = episode.advance(slot)
            active = [slot for slot in range(n) if not pruned[slot]]
            if not active:
                return previous
            winner = majority([latest[slot] for slot in active])
            if step >= self.warm_up and len(active) > 1:
                any_pruned = False
                for slot in active:
                    if finished[slot]:
                        continue
                    off_track[slot] = off_track[slot] + 1 if latest[slot] != winner else 0
                    if off_track[slot] >= self.prune_patience:
                        pruned[slot] = any_pruned = True
                        episode.prune(slot)
                if any_pruned:
                    active = [slot for slot in active if not pruned[slot]]
                    if not active:
                        return previous
                    winner = majority([latest[slot] for slot in active])
            stable = stable + 1 if winner == previous else 0
            if stable >= self.stable_steps:
                return winner
            previous = winner
            if all(finished[slot] or pruned[slot] for slot in range(n)):
                return winner
        return previous
