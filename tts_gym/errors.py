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


def printable(text: object) -> str:
    """`text` with every non-printable character (controls, ANSI escapes, bidi overrides,
    line separators) written as its Python escape (`\\n`, `\\x1b`): a name from a user or a
    disk can then neither split a one-line message nor drive the terminal."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )
