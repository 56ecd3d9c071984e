"""SC@N+SAC: self-consistency whose branches stop early once their answer has converged.

Parallel-Probe's `MajorityVoteSolver` over `ConvergenceProbeStrategy(n=14)` (docs/design.md):
each of N branches is advanced interval by interval and stops once its probed answer has
been the same `patience` times in a row (counting the first), else at its end; the answer is
the majority of the N answers (first seen among ties).
"""

from __future__ import annotations

from dataclasses import dataclass

from tts_gym.control.builtin.settings import check_settings, setting
from tts_gym.engine import NO_ANSWER, Episode, majority

DEFAULT_PATIENCE = 14


@dataclass(frozen=True)
class SelfConsistencySAC:
    """SC@N with a self-adaptive convergence stop per branch (`sac` in `--policy`).

    Waves: one. The N branches run in lockstep and each stops by itself, so every decision
    is local to its branch (a chain of intervals) and none waits for another branch; the
    sequential tokens are the longest per-branch cost. Without a token budget the result is
    the same whether the chains are run side by side or one after another, which is how
    `run` plays them inside the one wave.
    """

    n_branches: int = setting(64, low=1)
    patience: int = setting(DEFAULT_PATIENCE, low=1)
    __post_init__ = check_settings  # settings.py: --config n=2.5 is refused, not played

    @property
    def name(self) -> str:
        base = f"SC@{self.n_branches}+SAC"
        return base if self.patience == DEFAULT_PATIENCE else f"{base}(patience={self.patience})"

    def run(self, episode: Episode) -> int:
        answers = []
        advance, patience = episode.advance, self.patience
        with episode.wave():
            while len(answers) < self.n_branches and episode.can_open:
                answer, slot, done = episode.open()
                last, streak = answer, 1
                while not done and streak < patience:
                    answer, done = advance(slot)
                    if answer == last:
                        streak += 1
                    else:
                        last, streak = answer, 1
                answers.append(answer)
        winner = majority(answers)
        return NO_ANSWER if winner is None else winner
