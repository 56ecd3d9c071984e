"""Layer 3: the `TTSControl-v0` Gymnasium environment."""

from tts_gym.engine.actions import ActionKind, decode_action, encode_action, n_actions
from tts_gym.env.observation import GLOBAL_FEATURES, SLOT_FEATURES
from tts_gym.env.tts_control import TTSControlEnv

__all__ = [
    "GLOBAL_FEATURES",
    "SLOT_FEATURES",
    "ActionKind",
    "TTSControlEnv",
    "decode_action",
    "encode_action",
    "n_actions",
]
