"""`tts-gym reproduce`: Table 1 of the AutoTTS paper, ours beside the printed values."""

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
    default_of,
    fetch_missing,
    render,
    show_progress,
)
from tts_gym.control.protocols import policy_config, policy_name
from tts_gym.evaluation.evaluate import Setting, evaluate_settings
from tts_gym.evaluation.paper import PRINTED_ROUNDING, table1_controllers, table1_stores
from tts_gym.evaluation.parallel import available_cores
from tts_gym.evaluation.protocols import Protocol
from tts_gym.evaluation.report import fmt, paper_row


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reproduce",
        help="reproduce Table 1 of the AutoTTS paper (6 controllers x 12 stores)",
        description=(
            "Run the six controllers of the AutoTTS paper's Table 1 on its replay stores with "
            "the paper's protocol (100 random.Random(s) branch orders) and print ours beside "
            "the printed values."
        ),
    )
    add_stores(parser, default=table1_stores(), shown=["the 12 stores of Table 1"], help="stores")
    add_fetch(parser)
    add_format(parser)
    add_engine(parser)
    orders = default_of(Protocol, "n_orders")
    parser.add_argument(
        "--orders", type=int, default=orders, help=f"branch orders (default: {orders})"
    )
    add_quiet(parser, "no progress bar or timing")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    fetch_missing(args, args.stores)
    settings = [Setting(c, policy_name(c), policy_config(c)) for c in table1_controllers()]
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
    rows = [paper_row(cell) for cell in cells]
    render(args, rows, lambda: print_table(rows, args.orders))
    if not args.quiet:
        episodes = sum(cell.n_episodes for cell in cells)
        jobs = args.jobs or available_cores()
        print(
            f"{len(cells)} cells, {episodes:,} episodes in {wall:.1f} s ({args.engine} engine, "
            f"{jobs} {'threads' if args.engine == 'compiled' else 'processes'}).",
            file=sys.stderr,
        )
    return 0


def print_table(rows: list[dict], n_orders: int) -> None:
    table = Table(
        title=f"AutoTTS Table 1: ours (autotts protocol, {n_orders} orders) vs printed",
        box=box.SIMPLE_HEAD,
    )
    for column in ("model", "benchmark", "method"):
        table.add_column(column, no_wrap=True)
    for column in ("acc %", "paper", "diff", "tokens k", "paper", "diff", ""):
        table.add_column(column, justify="right", no_wrap=True)
    previous_model = None
    for row in rows:
        if previous_model is not None and row["model"] != previous_model:
            table.add_section()
        previous_model = row["model"]
        table.add_row(
            row["model"],
            row["benchmark"],
            row["method"],
            fmt(row["acc"], 2),
            fmt(row["paper_acc"]),
            fmt(row["acc_diff"], 2, signed=True),
            fmt(row["tokens_k"], 2),
            fmt(row["paper_tokens_k"]),
            fmt(row["tokens_k_diff"], 2, signed=True),
            _mark(row),
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    console.print(table)
    compared = [row for row in rows if row["paper_acc"] is not None]
    off = [row for row in compared if not (row["acc_agrees"] and row["tokens_agrees"])]
    console.print(
        f"Printed values are packaged for the Qwen3-8B rows only ({len(compared)} cells); the "
        "paper columns of the other models are left empty.\n"
        f"{len(compared) - len(off)} agree with the printed rounding and {len(off)} are marked "
        f"'differs'. ok: |diff| <= {PRINTED_ROUNDING}; ok*: the paper rounded to 2 decimals, "
        "then to 1 (half to even), e.g. 406.2505 -> 406.25 -> 406.2."
    )


def _mark(row: dict) -> str:
    if row["paper_acc"] is None:
        return ""
    if row["acc_agrees"] and row["tokens_agrees"]:
        within = abs(row["acc_diff"]) <= PRINTED_ROUNDING
        within = within and abs(row["tokens_k_diff"]) <= PRINTED_ROUNDING
        return "[green]ok[/]" if within else "[green]ok*[/]"
    which = [name for name in ("acc", "tokens") if not row[f"{name}_agrees"]]
    return f"[red]differs ({', '.join(which)})[/]"
