"""The three kinds of controller the harness accepts, and how a controller is named in tables.

- engine controllers: `run(episode) -> answer id` against `tts_gym.engine.Episode` (the
  built-ins; fastest);
- imperative controllers: `solve(q) -> str | None` against a `QuestionHandle`;
- step policies: `act(obs, info) -> action index`, run through `TTSControl-v0`.
"""

from __future__ import annotations

from typing import Any, Literal

from tts_gym.control.errors import PolicyError

PolicyKind = Literal["engine", "imperative", "step"]


def policy_kind(policy: Any) -> PolicyKind | None:
    """Which kind `policy` is (`run` before `solve` before `act`), None if none of them."""
    for method, kind in (("run", "engine"), ("solve", "imperative"), ("act", "step")):
        if callable(getattr(policy, method, None)):
            return kind
    return None


def policy_name(policy: Any) -> str:
    """`name` (built-ins), else `NAME` (AutoTTS methods), else the class name."""
    for attribute in ("name", "NAME"):
        value = getattr(policy, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(policy).__name__


def check_answer(name: str, answer: Any) -> None:
    """An imperative controller answers with a string, or None for no answer."""
    if answer is not None and not isinstance(answer, str):
        raise PolicyError(
            f"policy '{name}' returned {answer!r} ({type(answer).__name__}) from solve(q), "
            "not an answer string or None"
        )
