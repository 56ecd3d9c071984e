"""What every `tts-gym` command spells the same way: stores, data folder, output, quiet, and
the one rule for numbers given on the command line.

Defaults come from the layers' config objects (`default_of`), never restated here or in a
command: change a default in its dataclass and every command and `--help` follows.

Numbers are checked at the door, as argparse types, so that a bad one is a usage error
before anything runs: an integer is written as one (`1.5` and `1e6` are refused, not
truncated) and lies in its range (`count`: at least 1; `seed`: 0 to 2**32 - 1, what every
seeded library here takes), a real number is finite (`nan` and `inf` are refused) and lies
in its range. `--config` and `--sweep` values follow the same rule (`finite_values`).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tts_gym.cli.outputs import add_inputs, add_output, check_outputs
from tts_gym.errors import TTSGymError
from tts_gym.evaluation.evaluate import DEFAULT_ENGINE, ENGINES
from tts_gym.evaluation.protocols import PROTOCOLS, Protocol
from tts_gym.evaluation.report import emit, to_csv, to_json
from tts_gym.store.catalog import CATALOG, expand_store_names
from tts_gym.store.fetch import fetch
from tts_gym.store.paths import catalog_path, data_dir

FORMATS = ("table", "csv", "json")
INT64_MAX = 2**63 - 1
"""The largest integer an option takes: counts become numpy int64 sizes and counters."""
SEED_MAX = 2**32 - 1
"""The largest seed: numpy's legacy seeding (SB3's `set_random_seed`) takes 32 bits."""


def integer(at_least: int = 0, at_most: int = INT64_MAX) -> Callable[[str], int]:
    """An argparse type: a whole number in `[at_least, at_most]`."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except ValueError:
            value = None
        if value is None or not at_least <= value <= at_most:
            raise argparse.ArgumentTypeError(
                f"expected a whole number {_range(at_least, at_most)}, got {text!r}"
            )
        return value

    return parse


def number(
    at_least: float | None = None, above: float | None = None, at_most: float | None = None
) -> Callable[[str], float]:
    """An argparse type: a finite real number, at least `at_least` or above `above`, and at
    most `at_most`."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        low_ok = (at_least is None or value >= at_least) and (above is None or value > above)
        if not math.isfinite(value) or not low_ok or at_most is not None and value > at_most:
            bound = ""
            if at_least is not None:
                bound = f" of at least {at_least:g}"
            elif above is not None:
                bound = f" above {above:g}"
            if at_most is not None:
                bound += f"{' and' if bound else ''} at most {at_most:g}"
            raise argparse.ArgumentTypeError(f"expected a finite number{bound}, got {text!r}")
        return value

    return parse


def comma_separated(item: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    """An argparse type: one or more `item`s separated by commas (`0.05,0.1,0.2`)."""

    def parse(text: str) -> list[Any]:
        values = [item(part) for part in text.split(",") if part.strip()]
        if not values:
            raise argparse.ArgumentTypeError(f"expected comma-separated values, got {text!r}")
        return values

    return parse


count = integer(1)
"""How many of something (orders, envs, jobs, timesteps): at least 1."""
seed = integer(0, SEED_MAX)
non_negative = number(at_least=0.0)
positive = number(above=0.0)
fraction = number(above=0.0, at_most=1.0)


def finite_values(values: dict[str, Any], what: str) -> dict[str, Any]:
    """`values` (parsed `K=V` arguments), refusing a number that is not finite or not an
    int64, or a text that reads as one (`nan`, `inf`): one `TTSGymError` sentence."""
    for key, value in values.items():
        number_like = isinstance(value, (int, float)) and not isinstance(value, bool)
        text = str(value).strip().lower().lstrip("+-")
        if text in ("nan", "inf", "infinity") or number_like and not math.isfinite(value):
            raise TTSGymError(f"{what} {key}={value} is not a finite number.")
        if isinstance(value, int) and abs(value) > INT64_MAX:
            raise TTSGymError(f"{what} {key}={value} is beyond 64-bit integers.")
    return values


def _range(low: int, high: int) -> str:
    if high == INT64_MAX:
        return f"of at least {low}"
    return f"from {low} to {high}"


def config_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, config: type
) -> Callable[[str, Callable[[str], Any], str, str], None]:
    """An adder of options for the fields of dataclass `config`: `add("--top-p", parse, "P",
    help)` declares `--top-p` with `parse` as its type (the argument rule: `count`, `seed`,
    `number(...)`) and the field `top_p`'s default, shown in the help."""

    def add(flag: str, parse: Callable[[str], Any], metavar: str, text: str) -> None:
        default = default_of(config, flag[2:].replace("-", "_"))
        shown = "" if default is None else f" (default: {default})"
        parser.add_argument(flag, type=parse, default=default, metavar=metavar, help=text + shown)

    return add


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
    action = parser.add_argument(
        "--stores",
        nargs="+",
        metavar="STORE",
        required=shown is None,
        default=None if default is None else list(default),
        help=f"{help}: catalog names, groups (search, held-out, all) or paths "
        + (f"(default: {' '.join(shown)})" if shown is not None else "(required)"),
    )
    add_inputs(parser, "stores", action.dest)
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
        type=count,
        metavar="N",
        help="worker processes, threads when compiled (default: every core)",
    )


def add_protocol(parser: argparse.ArgumentParser) -> None:
    """`--protocol`, `--orders` and `--seed`: which branch orders each question is played under."""
    name, orders, default_seed = (default_of(Protocol, f) for f in ("name", "n_orders", "seed"))
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default=name,
        help=f"autotts: the paper's random.Random(s) orders; default: seeded numpy orders with "
        f"bootstrap intervals (default: {name})",
    )
    parser.add_argument(
        "--orders", type=count, default=orders, help=f"orders per question (default: {orders})"
    )
    parser.add_argument(
        "--seed",
        type=seed,
        default=default_seed,
        help=f"orders and bootstrap seed (default: {default_seed})",
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
    """`--format table|csv|json` and `--output FILE` (csv/json written atomically; the format
    follows the file's suffix when `--format` is not given)."""
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="table (printed), csv or json (default: table, or "
        "what the --output file's suffix says)",
    )
    add_output(parser, "--output", "-o", metavar="FILE", help="write csv/json here (atomic)")


def at_the_door(args: argparse.Namespace) -> None:
    """What every command checks before any work: its outputs (`check_outputs`) and, where
    it has `--format`, which format `--output` gets."""
    check_outputs(args)
    if "format" in args:
        args.format = _output_format(args.format, args.output)


def _output_format(given: str | None, output: str | None) -> str:
    if output is None:
        return given or "table"
    if given == "table":
        raise TTSGymError(
            f"a table is printed, not written: give --format csv or json for -o {output}."
        )
    if given is not None:
        return given
    suffix = Path(output).suffix.lower().lstrip(".")
    if suffix not in ("csv", "json"):
        raise TTSGymError(
            f"cannot tell the format of -o {output} from its name; give --format csv or json."
        )
    return suffix


def render(args: argparse.Namespace, rows: list[dict[str, Any]], table: Callable[[], None]) -> None:
    """Rows as `--format` says: CSV or JSON (to `--output` or stdout), else `table()`."""
    if args.format == "csv":
        emit(to_csv(rows), args.output)
    elif args.format == "json":
        emit(to_json(rows), args.output)
    else:
        table()
