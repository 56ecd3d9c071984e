"""tts-gym: test-time-scaling control as a Gymnasium environment over replayed reasoning."""

from gymnasium.envs.registration import register, registry

from tts_gym.env import ActionKind, TTSControlEnv, decode_action, encode_action
from tts_gym.evaluation import evaluate

__version__ = "0.1.0"

ENV_ID = "TTSControl-v0"
if ENV_ID not in registry:
    register(id=ENV_ID, entry_point="tts_gym.env:TTSControlEnv")

__all__ = ["ENV_ID", "ActionKind", "TTSControlEnv", "decode_action", "encode_action", "evaluate"]
