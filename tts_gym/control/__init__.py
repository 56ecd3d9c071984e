"""Layer 4: controllers. Built-ins, the imperative question handle, loading, the env adapter."""

from tts_gym.control.base import PolicyKind, check_answer, policy_kind, policy_name
from tts_gym.control.env_adapter import EnvAdapter
from tts_gym.control.errors import PolicyError, PolicyLoadError
from tts_gym.control.handle import QuestionHandle
from tts_gym.control.loading import BUILTINS, load_policy, parse_config

__all__ = [
    "BUILTINS",
    "EnvAdapter",
    "PolicyError",
    "PolicyKind",
    "PolicyLoadError",
    "QuestionHandle",
    "check_answer",
    "load_policy",
    "parse_config",
    "policy_kind",
    "policy_name",
]
