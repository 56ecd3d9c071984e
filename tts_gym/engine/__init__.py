"""Layer 2: the replay MDP and its voting primitives (no Gymnasium import)."""

from tts_gym.engine.actions import ActionKind, decode_action, encode_action, n_actions
from tts_gym.engine.episode import NO_ANSWER, Episode
from tts_gym.engine.voting import beta_confidence, count_votes, leader, majority, vote_stats

__all__ = [
    "NO_ANSWER",
    "ActionKind",
    "Episode",
    "beta_confidence",
    "count_votes",
    "decode_action",
    "encode_action",
    "leader",
    "majority",
    "n_actions",
    "vote_stats",
]
