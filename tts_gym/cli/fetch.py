"""`tts-gym fetch`: download catalog stores into the data folder (checksummed, atomic)."""

from __future__ import annotations

import argparse

from tts_gym.cli.options import add_data_dir, add_quiet
from tts_gym.cli.terminal import printable
from tts_gym.errors import TTSGymError
from tts_gym.store.fetch import MIRROR_ENV_VAR, check_mirror, fetch


def mirror_url(text: str) -> str:
    """An argparse type: a mirror's base URL (http, https or file)."""
    try:
        return check_mirror(text)
    except TTSGymError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fetch",
        help="download replay stores into the data folder",
        description=(
            "Download replay stores by catalog name or group (search, held-out, all) into the "
            "data folder, verifying each against its catalog sha256. Prints the stores' paths."
        ),
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="store name or group")
    parser.add_argument("--all", action="store_true", help="every store in the catalog")
    add_data_dir(parser)
    parser.add_argument(
        "--mirror",
        type=mirror_url,
        metavar="URL",
        help=f"base URL serving <collection>/<Model>/<benchmark>.json (default: ${MIRROR_ENV_VAR})",
    )
    add_quiet(parser, "no progress bar or status lines")

    def run(args: argparse.Namespace) -> int:
        if bool(args.names) == args.all:
            parser.error("name the stores to fetch, or give --all (not both)")
        names = ["all"] if args.all else args.names
        paths = fetch(names, args.data_dir, mirror=args.mirror, progress=not args.quiet)
        for path in paths:
            print(printable(path))
        return 0

    parser.set_defaults(func=run)
