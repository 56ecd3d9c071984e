"""Layer 4: what a controller is (`protocols`), how any controller plays a store (`play`), the
question handle, the built-ins, the policy-spec registry (`loading`) and the env adapter."""

from tts_gym.control.env_adapter import EnvAdapter
from tts_gym.control.errors import PolicyError, PolicyLoadError
from tts_gym.control.handle import QuestionHandle
from tts_gym.control.loading import BUILTINS, load_policy, parse_config
from tts_gym.control.outcomes import Orders, Outcomes
from tts_gym.control.play import play
from tts_gym.control.protocols import (
    Batched,
    EngineController,
    Imperative,
    PolicyKind,
    StepPolicy,
    check_answer,
    policy_config,
    policy_kind,
    policy_name,
)

__all__ = [
    "BUILTINS",
    "Batched",
    "EngineController",
    "EnvAdapter",
    "Imperative",
    "Orders",
    "Outcomes",
    "PolicyError",
    "PolicyKind",
    "PolicyLoadError",
    "QuestionHandle",
    "StepPolicy",
    "check_answer",
    "load_policy",
    "parse_config",
    "play",
    "policy_config",
    "policy_kind",
    "policy_name",
]
