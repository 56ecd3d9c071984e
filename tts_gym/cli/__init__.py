"""`tts-gym` command line: each subcommand is a thin shell over the library, in its own module.

A command module exposes `register(subparsers)`, which adds its parser and sets
`func(args) -> int`. User errors (`TTSGymError`) become one line on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tts_gym.errors import TTSGymError

# subcommand name -> module under tts_gym.cli
COMMANDS = {
    "stores": "stores",
    "fetch": "fetch",
    "validate": "validate",
    "reproduce": "reproduce",
    "eval": "evaluate",
    "train": "train",
    "discover": "discover",
    "check-controller": "check_controller",
    "collect": "collect",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tts-gym", description="Test-time-scaling control on replayed reasoning branches."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMANDS.values():
        importlib.import_module(f"tts_gym.cli.{module_name}").register(subparsers)
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
