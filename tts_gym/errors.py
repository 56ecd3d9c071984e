"""User-facing errors: the CLI prints their message as one sentence and exits non-zero."""


class TTSGymError(Exception):
    """Base class of every error that is the user's to fix (bad input, missing file)."""


class StoreError(TTSGymError):
    """A replay store is missing, malformed or fails its checksum."""


class IllegalActionError(TTSGymError, ValueError):
    """An action that the current episode state does not allow."""
