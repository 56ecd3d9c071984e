"""Errors a controller causes: the CLI prints them as one sentence naming the controller."""

from __future__ import annotations

from tts_gym.errors import TTSGymError


class PolicyError(TTSGymError):
    """A controller raised, returned something that is not an answer, or broke the rules."""


class PolicyLoadError(PolicyError):
    """A policy spec could not be turned into a controller (bad file, missing class, ...)."""
