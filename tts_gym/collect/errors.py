"""The one error type of store collection (a `TTSGymError`: the CLI prints it as one line)."""

from tts_gym.errors import TTSGymError


class CollectError(TTSGymError):
    """Bad collection input: a malformed question file, a bad setting, an unusable model."""
