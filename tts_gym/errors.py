"""User-facing errors: the CLI prints their message as one sentence and exits non-zero."""


class TTSGymError(Exception):
    """Base class of every error that is the user's to fix (bad input, missing file)."""


class StoreError(TTSGymError):
    """A replay store is missing, malformed or fails its checksum."""


class IllegalActionError(TTSGymError, ValueError):
    """An action that the current episode state does not allow."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def brief(error: BaseException) -> str:
    """`Type: first line of the message`, to name an exception inside one sentence."""
    text = first_line(error)
    name = type(error).__name__
    return name if text == name else f"{name}: {text}"
