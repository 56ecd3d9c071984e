"""tts-gym: test-time-scaling control as a Gymnasium environment over replayed reasoning.

Importing the package registers the environments and stays light: the evaluation harness
(`tts_gym.evaluate`), the vector env and the compiled core (numba) are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gymnasium.envs.registration import register, registry

from tts_gym.engine.actions import ActionKind, decode_action, encode_action
from tts_gym.env import TTSControlEnv

if TYPE_CHECKING:
    from tts_gym.env.vector import TTSControlVectorEnv
    from tts_gym.evaluation import evaluate

__version__ = "0.1.0"

ENV_ID = "TTSControl-v0"
MACRO_ENV_ID = "TTSControlMacro-v0"
ENV_IDS = {
    ENV_ID: ("tts_gym.env:TTSControlEnv", "tts_gym.env.vector:TTSControlVectorEnv"),
    MACRO_ENV_ID: (
        "tts_gym.env.macro:TTSControlMacroEnv",
        "tts_gym.env.macro_vector:TTSControlMacroVectorEnv",
    ),
}
"""Every env this package registers: id -> (entry point, vector entry point)."""
for _id, (_entry, _vector) in ENV_IDS.items():
    if _id not in registry:
        register(id=_id, entry_point=_entry, vector_entry_point=_vector)

__all__ = [
    "ENV_ID",
    "ENV_IDS",
    "MACRO_ENV_ID",
    "ActionKind",
    "TTSControlEnv",
    "TTSControlVectorEnv",
    "decode_action",
    "encode_action",
    "evaluate",
]


def __getattr__(name: str) -> Any:
    if name == "evaluate":
        from tts_gym.evaluation import evaluate

        return evaluate
    if name == "TTSControlVectorEnv":
        from tts_gym.env.vector import TTSControlVectorEnv

        return TTSControlVectorEnv
    raise AttributeError(f"module 'tts_gym' has no attribute '{name}'")
