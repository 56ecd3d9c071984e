"""What reaches the terminal: control characters escaped, in the terminal's encoding.

File and store names come from users and from disk; a newline in one must not split an error
line, and an ANSI escape must not colour (or clear) the terminal: `tts_gym.errors.printable`
shows such characters as Python escapes. Names that the terminal's encoding cannot show (a
Japanese store name on an ASCII terminal, `PYTHONIOENCODING=ascii`) are written as backslash
escapes rather than ending the command with `UnicodeEncodeError`.
Warnings become one line each, like errors, without the source line Python adds.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from rich.markup import escape

from tts_gym.errors import printable


def cell(text: object) -> str:
    """`printable(text)` for a rich table or line: also escapes rich markup, so a label
    such as `Agree [k=2]` keeps its brackets, and what stdout's encoding lacks (so that rich
    measures the width that is printed)."""
    text = printable(text)
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        text = text.encode(encoding, "backslashreplace").decode(encoding)
    except LookupError:  # an encoding Python does not know: leave it to the stream
        pass
    return escape(text)


def use_terminal_encoding() -> None:
    """Let stdout and stderr write what their encoding lacks as backslash escapes."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", None) == "strict":
            reconfigure(errors="backslashreplace")


def say(command: str, message: object) -> None:
    """One line on stderr: `tts-gym COMMAND: message`."""
    print(f"tts-gym {command}: {printable(message)}", file=sys.stderr)


@contextmanager
def one_line_warnings(command: str) -> Iterator[None]:
    """Within it, each warning is one `tts-gym COMMAND: warning: ...` line.

    What a user of the command cannot act on is not shown: numpy's floating-point warnings
    (`RuntimeWarning`: overflow in a cast, a division by zero; the values they concern are
    checked where they matter, arguments at the door and stores when loaded) and the
    libraries' notices to their programmers (deprecations, `FutureWarning`).
    """
    with warnings.catch_warnings():
        for category in (
            RuntimeWarning,
            DeprecationWarning,
            PendingDeprecationWarning,
            FutureWarning,
        ):
            warnings.simplefilter("ignore", category)
        warnings.showwarning = lambda message, *_, **__: say(command, f"warning: {message}")
        yield
