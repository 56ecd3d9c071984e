"""`tts-gym` command line: each subcommand is a thin shell over the library, in its own module.

A command module exposes `register(subparsers)`, which adds its parser and sets
`func(args) -> int`. The core commands live here; packages above the core (the agents:
`train`, `discover`, `check-controller`) add theirs through the `tts_gym.commands` entry-point
group, so nothing here imports them.

Every way a command can fail because of its input ends in one line on stderr: usage errors
(exit code 2, `Parser`), outputs that would replace an input or cannot be written, checked
before any work (`options.at_the_door`), user errors (`TTSGymError`) and the disk's
errors (exit code 1), Ctrl-C (130). What is printed is escaped and encoded for the terminal
(`terminal`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import entry_points

from tts_gym import __version__
from tts_gym.cli.options import at_the_door
from tts_gym.cli.terminal import one_line_warnings, printable, say, use_terminal_encoding
from tts_gym.errors import TTSGymError

# subcommand name -> module under tts_gym.cli
COMMANDS = {
    "stores": "stores",
    "fetch": "fetch",
    "validate": "validate",
    "reproduce": "reproduce",
    "eval": "evaluate",
    "collect": "collect",
    "live": "live",
}
COMMAND_GROUP = "tts_gym.commands"
"""Entry-point group of commands that packages above the core add (name -> module)."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, naming where help is."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, usage_error(self.prog, message))


def usage_error(prog: str, message: str) -> str:
    return f"{prog}: {printable(message).rstrip('.')} (see `{prog} --help`).\n"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="tts-gym", description="Test-time-scaling control on replayed reasoning branches."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    added = sorted(entry_points(group=COMMAND_GROUP), key=lambda point: point.name)
    modules = [f"tts_gym.cli.{module}" for module in COMMANDS.values()]
    modules += [point.value for point in added if point.name not in COMMANDS]
    for module in modules:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `tts-gym ARGV`; returns the exit code (2: usage, 1: error, 130: interrupted)."""
    use_terminal_encoding()
    try:
        args, unknown = build_parser().parse_known_args(argv)
    except SystemExit as done:  # --help, --version, or a usage error (already printed)
        return done.code if isinstance(done.code, int) else 0
    if unknown:  # said by the command, not by `tts-gym` as argparse would
        prog = f"tts-gym {args.command}"
        sys.stderr.write(usage_error(prog, f"unrecognized arguments: {' '.join(unknown)}"))
        return 2
    with one_line_warnings(args.command):
        try:
            at_the_door(args)
            return int(args.func(args) or 0)
        except TTSGymError as error:
            say(args.command, error)
        except OSError as error:  # the disk's, where no writer named it: still one line
            if error.filename is None:
                raise
            say(args.command, f"{error.filename}: {error.strerror or error}.")
        except KeyboardInterrupt:
            say(args.command, "interrupted.")
            return 130
    return 1
