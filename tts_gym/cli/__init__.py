"""`tts-gym` command line: each subcommand is a thin shell over the library, in its own module.

A command module exposes `register(subparsers)`, which adds its parser and sets
`func(args) -> int`. The core commands live here; packages above the core (the agents:
`train`, `discover`, `check-controller`) add theirs through the `tts_gym.commands` entry-point
group, so nothing here imports them. User errors (`TTSGymError`) become one line on stderr
and exit code 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import entry_points

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tts-gym", description="Test-time-scaling control on replayed reasoning branches."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    added = sorted(entry_points(group=COMMAND_GROUP), key=lambda point: point.name)
    modules = [f"tts_gym.cli.{module}" for module in COMMANDS.values()]
    modules += [point.value for point in added if point.name not in COMMANDS]
    for module in modules:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TTSGymError as error:
        print(f"tts-gym {args.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"tts-gym {args.command}: interrupted.", file=sys.stderr)
        return 130
