"""What every `tts-gym` command spells the same way: stores, data folder, output, quiet.

Defaults come from the layers' config objects (`default_of`), never restated here or in a
command: change a default in its dataclass and every command and `--help` follows.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Sequence
from typing import Any

from tts_gym.evaluation.evaluate import DEFAULT_ENGINE, ENGINES
from tts_gym.evaluation.protocols import PROTOCOLS, Protocol
from tts_gym.evaluation.report import emit, to_csv, to_json
from tts_gym.store.catalog import CATALOG, expand_store_names
from tts_gym.store.fetch import fetch
from tts_gym.store.paths import catalog_path, data_dir

FORMATS = ("table", "csv", "json")


def default_of(config: type, field: str) -> Any:
    """The default of dataclass `config`'s `field` (a default factory is called)."""
    for candidate in dataclasses.fields(config):
        if candidate.name == field:
            if candidate.default_factory is not dataclasses.MISSING:
                return candidate.default_factory()
            return candidate.default
    raise KeyError(f"{config.__name__} has no field '{field}'")


def add_stores(
    parser: argparse.ArgumentParser,
    *,
    default: Sequence[str] | None,
    help: str,
    shown: Sequence[str] | None = None,
) -> None:
    """`--stores STORE...` (catalog names, groups or paths) and `--data-dir`.

    Without a `default` the option is required, unless `shown` names the default that the
    command applies itself (so that it can tell "not given" from "given").
    """
    shown = default if shown is None else shown
    parser.add_argument(
        "--stores",
        nargs="+",
        metavar="STORE",
        required=shown is None,
        default=None if default is None else list(default),
        help=f"{help}: catalog names, groups (search, held-out, all) or paths "
        + (f"(default: {' '.join(shown)})" if shown is not None else "(required)"),
    )
    add_data_dir(parser)


def add_fetch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-fetch",
        dest="fetch",
        action="store_false",
        help="do not download catalog stores missing from the data folder (they are an error)",
    )


def fetch_missing(args: argparse.Namespace, specs: Sequence[str]) -> None:
    """Download the catalog stores among `specs` that the data folder lacks (unless
    `--no-fetch`), saying so in one line; checksummed, atomic, with a progress bar."""
    if not args.fetch:
        return
    names = [name for name in expand_store_names(list(specs)) if name.lower() in CATALOG]
    missing = [n for n in names if not catalog_path(CATALOG[n.lower()], args.data_dir).is_file()]
    if missing:
        folder = data_dir(args.data_dir)
        print(
            f"fetching {len(missing)} missing catalog store(s) into {folder} "
            "(--no-fetch to refuse)",
            file=sys.stderr,
        )
        fetch(missing, args.data_dir, progress=show_progress(args))


def add_engine(parser: argparse.ArgumentParser) -> None:
    """`--engine` and `--jobs`: how the harness plays (same numbers either way)."""
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default=DEFAULT_ENGINE,
        help=f"compiled: built-in controllers on the compiled core; python: every controller "
        f"on the reference Episode (same numbers, slower) (default: {DEFAULT_ENGINE})",
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        metavar="N",
        help="worker processes, threads when compiled (default: every core)",
    )


def add_protocol(parser: argparse.ArgumentParser) -> None:
    """`--protocol`, `--orders` and `--seed`: which branch orders each question is played under."""
    name, orders, seed = (default_of(Protocol, f) for f in ("name", "n_orders", "seed"))
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default=name,
        help=f"autotts: the paper's random.Random(s) orders; default: seeded numpy orders with "
        f"bootstrap intervals (default: {name})",
    )
    parser.add_argument(
        "--orders", type=int, default=orders, help=f"orders per question (default: {orders})"
    )
    parser.add_argument(
        "--seed", type=int, default=seed, help=f"orders and bootstrap seed (default: {seed})"
    )


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", metavar="D", help="data folder (default: $TTS_GYM_DATA, else the cache)"
    )


def add_quiet(parser: argparse.ArgumentParser, what: str = "no progress bar") -> None:
    parser.add_argument("--quiet", "-q", action="store_true", help=what)


def show_progress(args: argparse.Namespace) -> bool:
    """A progress bar unless `--quiet`, and only on a terminal."""
    return not args.quiet and sys.stderr.isatty()


def add_format(parser: argparse.ArgumentParser) -> None:
    """`--format table|csv|json` and `--output FILE` (csv/json written atomically)."""
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("--output", "-o", metavar="FILE", help="write csv/json here (atomic)")


def render(args: argparse.Namespace, rows: list[dict[str, Any]], table: Callable[[], None]) -> None:
    """Rows as `--format` says: CSV or JSON (to `--output` or stdout), else `table()`."""
    if args.format == "csv":
        emit(to_csv(rows), args.output)
    elif args.format == "json":
        emit(to_json(rows), args.output)
    else:
        table()
