"""The one error type of live runs (a `TTSGymError`: the CLI prints it as one line)."""

from tts_gym.errors import TTSGymError


class LiveError(TTSGymError):
    """A live run that cannot go on: an engine that fails, a server that does not answer."""
