"""Layer 4: controllers. Built-ins, the imperative question handle, loading, the env adapter."""

from tts_gym.policies.base import PolicyKind, check_answer, policy_kind, policy_name
from tts_gym.policies.env_adapter import EnvAdapter
from tts_gym.policies.errors import PolicyError, PolicyLoadError
from tts_gym.policies.handle import QuestionHandle
from tts_gym.policies.loading import BUILTINS, load_policy, parse_config

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
