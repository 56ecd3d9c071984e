"""`tts-gym reproduce`: a published table (AutoTTS's Table 1, or Parallel-Probe's), ours beside
the printed values."""

from __future__ import annotations

import argparse
import sys
import time

from rich import box
from rich.console import Console
from rich.table import Table

from tts_gym.cli.options import (
    add_engine,
    add_fetch,
    add_format,
    add_quiet,
    add_stores,
    count,
    default_of,
    fetch_missing,
    render,
    show_progress,
)
from tts_gym.cli.terminal import cell as shown
from tts_gym.control.protocols import policy_config
from tts_gym.evaluation.evaluate import Setting, evaluate_settings
from tts_gym.evaluation.paper import PRINTED_ROUNDING, TABLES, PaperTable, table1_stores
from tts_gym.evaluation.parallel import available_cores
from tts_gym.evaluation.protocols import Protocol
from tts_gym.evaluation.report import AGREES_COLUMN, fmt, paper_row

MEASURE_HEADS = {"acc": "acc %", "tokens_k": "tokens k", "seq_tokens_k": "seq k"}
DEFAULT_TABLE = "autotts"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reproduce",
        help="reproduce a published table: AutoTTS's Table 1 (default) or Parallel-Probe's",
        description=(
            "Run the controllers of a published table on its twelve replay stores with the "
            "AutoTTS paper's protocol (100 random.Random(s) branch orders) and print ours "
            "(accuracy, total and sequential tokens) beside the printed values. autotts: Table "
            "1 of the AutoTTS paper (6 controllers; it printed no sequential tokens); "
            "parallel-probe: Parallel-Probe's table (SC@64, ASC, ESC, SC@64+SAC, "
            "Parallel-Probe; accuracy, SeqTok, Tok), with the cells that cannot agree marked "
            "and the reason in the note."
        ),
    )
    parser.add_argument(
        "--table",
        choices=list(TABLES),
        default=DEFAULT_TABLE,
        help=f"which published table (default: {DEFAULT_TABLE})",
    )
    add_stores(parser, default=table1_stores(), shown=["the 12 stores of Table 1"], help="stores")
    add_fetch(parser)
    add_format(parser)
    add_engine(parser)
    orders = default_of(Protocol, "n_orders")
    parser.add_argument(
        "--orders", type=count, default=orders, help=f"branch orders (default: {orders})"
    )
    add_quiet(parser, "no progress bar or timing")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    table = TABLES[args.table]
    controllers = table.controllers()  # refuses before anything is fetched or played
    fetch_missing(args, args.stores)
    settings = [
        Setting(c, method, policy_config(c))
        for c, method in zip(controllers, table.methods, strict=True)
    ]
    started = time.perf_counter()
    cells = evaluate_settings(
        settings,
        args.stores,
        Protocol("autotts", args.orders),
        jobs=args.jobs,
        progress=show_progress(args),
        data_dir=args.data_dir,
        engine=args.engine,
    )
    wall = time.perf_counter() - started
    rows = [paper_row(cell, table) for cell in cells]
    render(args, rows, lambda: print_table(rows, table, args.orders))
    if not args.quiet:
        episodes = sum(cell.n_episodes for cell in cells)
        jobs = args.jobs or available_cores()
        print(
            f"{len(cells)} cells, {episodes:,} episodes in {wall:.1f} s ({args.engine} engine, "
            f"{jobs} {'threads' if args.engine == 'compiled' else 'processes'}).",
            file=sys.stderr,
        )
    return 0


def print_table(rows: list[dict], table: PaperTable, n_orders: int) -> None:
    measures = [m for m in ("acc", "tokens_k", "seq_tokens_k") if m in table.measures]
    ours_only = [m for m in ("tokens_k", "seq_tokens_k") if m not in measures]
    grid = Table(
        title=f"{table.title}: ours (autotts protocol, {n_orders} orders) vs printed",
        box=box.SIMPLE_HEAD,
    )
    for column in ("model", "benchmark", "method"):
        grid.add_column(column, no_wrap=True)
    for measure in measures:
        for column in (MEASURE_HEADS[measure], "paper", "diff"):
            grid.add_column(column, justify="right", no_wrap=True)
    for measure in ours_only:
        grid.add_column(MEASURE_HEADS[measure], justify="right", no_wrap=True)
    grid.add_column("", no_wrap=True)
    previous_model = None
    for row in rows:
        if previous_model is not None and row["model"] != previous_model:
            grid.add_section()
        previous_model = row["model"]
        values = [shown(row["model"]), shown(row["benchmark"]), shown(row["method"])]
        for m in measures:
            values += [fmt(row[m], 2), fmt(row[f"paper_{m}"]), fmt(row[f"{m}_diff"], 2, True)]
        values += [fmt(row[m], 2) for m in ours_only]
        grid.add_row(*values, _mark(row, table, measures))
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    console.print(grid)
    compared = [row for row in rows if row[f"paper_{measures[0]}"] is not None]
    off = [row for row in compared if _unexplained(row, table, measures)]
    known = [row for row in compared if row["note"] and row not in off]
    agreeing = len(compared) - len(known) - len(off)
    notes = dict.fromkeys(row["note"] for row in known)
    marked = f", {len(known)} are marked 'known' (see the note)" if table.known else ""
    console.print(
        f"Printed values are packaged {table.packaged}; {len(compared)} rows here have them.\n"
        f"{agreeing} agree with the printed rounding{marked} and {len(off)} are marked "
        f"'differs'. ok: |diff| <= {PRINTED_ROUNDING}; ok*: the paper rounded to 2 decimals, "
        "then to 1 (half to even), e.g. 406.2505 -> 406.25 -> 406.2."
        + "".join(f"\nknown: {note}" for note in notes)
    )


def _unexplained(row: dict, table: PaperTable, measures: list[str]) -> list[str]:
    """The measures whose value does not agree with the printed one for no known reason."""
    if table.known_difference(row["model"], row["method"], None):
        return []
    return [
        m
        for m in measures
        if not row[AGREES_COLUMN[m]] and not table.known_difference(row["model"], row["method"], m)
    ]


def _mark(row: dict, table: PaperTable, measures: list[str]) -> str:
    if row[f"paper_{measures[0]}"] is None:
        return ""
    unexplained = _unexplained(row, table, measures)
    if unexplained:
        return f"[red]differs ({', '.join(m.removesuffix('_k') for m in unexplained)})[/]"
    if row["note"]:
        return "[yellow]known[/]"
    within = all(abs(row[f"{m}_diff"]) <= PRINTED_ROUNDING for m in measures)
    return "[green]ok[/]" if within else "[green]ok*[/]"
