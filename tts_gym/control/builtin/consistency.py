"""Sampling baselines that read whole branches: SC@N, ASC and ESC (docs/evaluation.md).

Their waves (docs/design.md) are the reference ones: SC@N reads its N branches in one wave, ASC
one branch per wave (each decision needs the previous answer), ESC one wave per window.
"""

from __future__ import annotations

from dataclasses import dataclass

from tts_gym.control.builtin.settings import check_settings, setting
from tts_gym.engine import NO_ANSWER, Episode, beta_confidence, count_votes, leader, vote_stats


def _winner(counts: dict[int, int]) -> int:
    answer = leader(counts)[0]
    return NO_ANSWER if answer is None else answer


@dataclass(frozen=True)
class SelfConsistency:
    """SC@N: read N whole branches, answer their majority.

    Waves: one, reading the N branches side by side (sequential tokens: the longest read).
    """

    n: int = setting(64, low=1)
    __post_init__ = check_settings  # settings.py: --config n=2.5 is refused, not played

    @property
    def name(self) -> str:
        return f"SC@{self.n}"

    def run(self, episode: Episode) -> int:
        answers = []
        with episode.wave():
            while len(answers) < self.n and episode.can_open:
                answers.append(episode.read())
        return _winner(count_votes(answers))


@dataclass(frozen=True)
class AdaptiveConsistency:
    """ASC: read one branch at a time until the Beta-majority confidence passes a threshold.

    Waves: one per read, since each decision needs the previous answer (sequential tokens:
    the total).
    """

    max_samples: int = setting(64, low=1)
    threshold: float = setting(0.95, low=0.0, high=1.0)
    name: str = "ASC"
    __post_init__ = check_settings  # settings.py: --config n=2.5 is refused, not played

    def run(self, episode: Episode) -> int:
        counts: dict[int, int] = {}
        n_read = 0
        while n_read < self.max_samples and episode.can_open:
            answer = episode.read()
            counts[answer] = counts.get(answer, 0) + 1
            n_read += 1
            if n_read >= 2:
                winner, top1, top2 = vote_stats(counts)
                if beta_confidence(top1, top2) > self.threshold:
                    return winner
        return _winner(counts)


@dataclass(frozen=True)
class EarlyStoppingConsistency:
    """ESC: read windows of branches; stop at the first window whose answers all agree.

    Waves: one per window of reads (sequential tokens: the sum of each window's longest read).
    """

    max_samples: int = setting(64, low=1)
    window: int = setting(8, low=1)
    name: str = "ESC"
    __post_init__ = check_settings  # settings.py: --config n=2.5 is refused, not played

    def run(self, episode: Episode) -> int:
        counts: dict[int, int] = {}
        for _ in range(self.max_samples // self.window):
            window_answers = []
            with episode.wave():
                while len(window_answers) < self.window and episode.can_open:
                    window_answers.append(episode.read())
            if not window_answers:
                continue
            for answer in window_answers:
                counts[answer] = counts.get(answer, 0) + 1
            if window_answers.count(window_answers[0]) == len(window_answers):
                return window_answers[0]
        return _winner(counts)
