"""Layer 3: the `TTSControl-v0` and `TTSControlMacro-v0` Gymnasium environments.

`TTSControlEnv` (one episode), `TTSControlVectorEnv` (N episodes, one compiled call per step),
`MacroEnv` / `TTSControlMacroEnv` and `TTSControlMacroVectorEnv` (the same in macro actions),
and `SB3VecEnv` (Stable-Baselines3's `VecEnv` over the compiled vector envs). The vector envs
(and the compiled core under them) and `SB3VecEnv` (and SB3) are imported on first use, so
that `import tts_gym` loads neither numba nor SB3.
"""

from importlib import import_module
from typing import Any

from tts_gym.engine.actions import ActionKind, decode_action, encode_action, n_actions
from tts_gym.env.arguments import EnvArgumentError, EnvConfig
from tts_gym.env.macro import Macro, MacroEnv, TTSControlMacroEnv
from tts_gym.env.observation import GLOBAL_FEATURES, SLOT_FEATURES
from tts_gym.env.tts_control import TTSControlEnv

_LAZY = {
    "TTSControlVectorEnv": "tts_gym.env.vector",
    "TTSControlMacroVectorEnv": "tts_gym.env.macro_vector",
    "SB3VecEnv": "tts_gym.env.sb3",
}

__all__ = [
    "GLOBAL_FEATURES",
    "SLOT_FEATURES",
    "ActionKind",
    "EnvArgumentError",
    "EnvConfig",
    "Macro",
    "MacroEnv",
    "SB3VecEnv",
    "TTSControlEnv",
    "TTSControlMacroEnv",
    "TTSControlMacroVectorEnv",
    "TTSControlVectorEnv",
    "decode_action",
    "encode_action",
    "n_actions",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tts_gym.env' has no attribute '{name}'")
