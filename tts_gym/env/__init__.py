"""Layer 3: the `TTSControl-v0` Gymnasium environments (single and vector).

`TTSControlVectorEnv` (and the compiled core under it) is imported on first use, so that
`import tts_gym` does not load numba.
"""

from typing import Any

from tts_gym.engine.actions import ActionKind, decode_action, encode_action, n_actions
from tts_gym.env.arguments import EnvArgumentError
from tts_gym.env.observation import GLOBAL_FEATURES, SLOT_FEATURES
from tts_gym.env.tts_control import TTSControlEnv

__all__ = [
    "GLOBAL_FEATURES",
    "SLOT_FEATURES",
    "ActionKind",
    "EnvArgumentError",
    "TTSControlEnv",
    "TTSControlVectorEnv",
    "decode_action",
    "encode_action",
    "n_actions",
]


def __getattr__(name: str) -> Any:
    if name == "TTSControlVectorEnv":
        from tts_gym.env.vector import TTSControlVectorEnv

        return TTSControlVectorEnv
    raise AttributeError(f"module 'tts_gym.env' has no attribute '{name}'")
