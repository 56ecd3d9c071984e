"""Errors a controller causes: the CLI prints them as one sentence naming the controller."""

from __future__ import annotations

from tts_gym.errors import TTSGymError


class PolicyError(TTSGymError):
    """A controller raised, returned something that is not an answer, or broke the rules."""


class PolicyLoadError(PolicyError):
    """A policy spec could not be turned into a controller (bad file, missing class, ...)."""


def brief(error: BaseException) -> str:
    """`Type: first line of the message`, to name an exception inside one sentence."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
