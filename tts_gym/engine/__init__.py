"""Layer 2: the replay MDP and its voting primitives (no Gymnasium import)."""

from tts_gym.engine.episode import NO_ANSWER, Episode
from tts_gym.engine.voting import beta_confidence, count_votes, leader, majority, vote_stats

__all__ = [
    "NO_ANSWER",
    "Episode",
    "beta_confidence",
    "count_votes",
    "leader",
    "majority",
    "vote_stats",
]
