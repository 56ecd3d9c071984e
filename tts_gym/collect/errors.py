"""The one error type of store collection (a `TTSGymError`: the CLI prints it as one line)."""

from tts_gym.errors import TTSGymError


class CollectError(TTSGymError):
    """Bad collection input: a malformed question file, a bad setting, an unusable model."""


def first_line(error: BaseException) -> str:
    """A third-party exception's message cut to one line, for a one-sentence error."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
