"""`tts-gym eval`: any controller (or a sweep of one) against the built-in baselines."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from tts_gym.cli.options import (
    add_engine,
    add_fetch,
    add_format,
    add_protocol,
    add_quiet,
    add_stores,
    fetch_missing,
    finite_values,
    render,
    show_progress,
)
from tts_gym.cli.outputs import add_inputs, add_output
from tts_gym.cli.terminal import cell as shown
from tts_gym.control.loading import BUILTINS, load_policy, parse_config, parse_value
from tts_gym.control.protocols import policy_config, policy_name
from tts_gym.errors import TTSGymError
from tts_gym.evaluation.evaluate import (
    POLICY_TIMEOUT,
    Cell,
    Setting,
    Timeout,
    compare_against,
    evaluate_settings,
    sweep_settings,
)
from tts_gym.evaluation.paper import table1_controllers
from tts_gym.evaluation.protocols import Protocol
from tts_gym.evaluation.report import fmt, interval
from tts_gym.evaluation.stats import PairedComparison


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a controller (or a sweep of it) against the built-in baselines",
        description=(
            f"Evaluate a controller given as a built-in name ({', '.join(BUILTINS)}), "
            "module:Class, path.py:Class or sb3:DIR/model.zip (a model saved by `tts-gym "
            "train`) on replay stores, next to the six baselines of the paper's Table 1."
        ),
    )
    parser.add_argument("--policy", required=True, metavar="SPEC")
    add_inputs(parser, "policy", "policy")
    parser.add_argument(
        "--config", nargs="+", default=[], metavar="K=V", help="constructor arguments"
    )
    parser.add_argument(
        "--sweep", metavar="K=V1,V2,...", help="one setting per value, e.g. beta=0,0.5,1"
    )
    add_stores(parser, default=None, help="stores to evaluate on")
    add_fetch(parser)
    add_protocol(parser)
    parser.add_argument(
        "--no-baselines", dest="baselines", action="store_false", help="skip the baselines"
    )
    parser.add_argument(
        "--compare",
        metavar="METHOD",
        help="paired differences of each setting against this method (e.g. ASC)",
    )
    add_format(parser)
    add_output(parser, "--traces", metavar="FILE", help="per-episode traces of the policy (JSONL)")
    add_output(
        parser,
        "--plot",
        metavar="FILE.png",
        help="accuracy against total tokens and against sequential tokens, side by side; the "
        "format follows the suffix (.png, .pdf, .svg, .jpg, ...)",
    )
    add_engine(parser)
    parser.add_argument(
        "--timeout",
        type=parse_timeout,
        default="auto",
        metavar="SECONDS",
        help="time limit of the policy per store (its workers' time, added up), or 'none'; "
        f"default ('auto'): none for the built-ins, {POLICY_TIMEOUT:g} for any other policy",
    )
    add_quiet(parser)
    parser.add_argument(
        "--isolate",
        action="store_true",
        help="play path.py:Class (a solve(q) controller) in the sandbox: a separate process "
        "that holds only what its own actions revealed, as discovery does",
    )
    parser.add_argument(
        "--allow-missing-layers",
        action="store_true",
        help="with --isolate: play even where the sandbox's core layers (namespaces, seccomp) "
        "are missing on this machine",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.plot:
        from tts_gym.evaluation.plots import plot_format

        plot_format(args.plot)  # an unknown suffix, or no matplotlib: refused before playing
    config = finite_values(parse_config(args.config), "--config")
    protocol = Protocol(args.protocol, args.orders, args.seed)
    key, values = parse_sweep(args.sweep) if args.sweep else (None, [None])
    if args.sweep and not args.isolate:  # a policy that cannot load fails before any download
        policy_settings = sweep_settings(args.policy, config, key, values)
    elif not args.isolate:
        policy = load_policy(args.policy, config)
        policy_settings = [Setting(policy, policy_name(policy), policy_config(policy))]
    fetch_missing(args, args.stores)
    if args.isolate:  # played in the sandbox on the stores, which must be here first
        from tts_gym.evaluation.isolated import isolated_settings
        from tts_gym.sandbox.report import ALLOWED_KEY

        configs = [{**config, key: value} if key else config for value in values]
        policy_settings = isolated_settings(
            args.policy,
            configs,
            args.stores,
            protocol,
            sweep_key=key,
            trace=bool(args.traces),
            data_dir=args.data_dir,
            allow_missing_layers=args.allow_missing_layers,
        )
        missing = policy_settings[0].policy.isolation.get(ALLOWED_KEY)
        if missing:  # played as the user asked: say so where the results are read
            print(f"tts-gym eval: sandbox layers missing: {missing}.", file=sys.stderr)
    baselines = []
    if args.baselines:
        baselines = [Setting(c, policy_name(c), policy_config(c)) for c in table1_controllers()]
    progress = show_progress(args)
    common = dict(
        seed=args.seed,
        jobs=args.jobs,
        progress=progress,
        data_dir=args.data_dir,
        engine=args.engine,
    )
    # traces are recorded for the evaluated policy only, not for the baselines
    ours = evaluate_settings(
        policy_settings,
        args.stores,
        protocol,
        trace=bool(args.traces),
        timeout=args.timeout,
        **common,
    )
    cells = ours + evaluate_settings(baselines, args.stores, protocol, **common)
    cells.sort(key=lambda cell: cell.store.name)  # stable: the policy's settings first per store
    ours_ids = {id(cell) for cell in ours}
    baseline_cells = [cell for cell in cells if id(cell) not in ours_ids]
    comparisons = compare_against(args.compare, ours, baseline_cells) if args.compare else []
    rows = [cell.row() for cell in cells]
    if args.sweep:
        for row, cell in zip(rows, cells, strict=True):
            row[key] = cell.config.get(key)
    render(args, rows, lambda: print_table(cells, protocol, comparisons))
    if args.traces:
        from tts_gym.evaluation.traces import write_traces

        write_traces(args.traces, [cell for cell in cells if cell.outcomes.traces is not None])
    if args.plot:
        from tts_gym.evaluation.plots import pareto_plot

        pareto_plot(cells, args.plot, title=f"{args.policy} vs baselines ({protocol.name})")
    return 0


def parse_timeout(text: str) -> Timeout:
    """`--timeout`: positive seconds, 'none' (no limit) or 'auto' (the default)."""
    if text.strip().lower() in ("none", "auto"):
        return None if text.strip().lower() == "none" else "auto"
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a positive number of seconds, 'none' or 'auto'"
        )
    return seconds


def parse_sweep(text: str) -> tuple[str, list[Any]]:
    key, sep, values = text.partition("=")
    items = [value.strip() for value in values.split(",") if value.strip()]
    if not sep or not key.strip() or not items:
        raise TTSGymError(f"--sweep '{text}' is not of the form key=v1,v2,...")
    values = [parse_value(item) for item in items]
    for value in values:
        finite_values({key.strip(): value}, "--sweep")
    return key.strip(), values


def print_table(cells: list[Cell], protocol: Protocol, comparisons: list[PairedComparison]) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    table = Table(title=shown(f"protocol: {protocol.describe()}"), box=box.SIMPLE_HEAD)
    for column in ("store", "method"):
        table.add_column(column, no_wrap=True)
    table.add_column("acc %", justify="right")
    if protocol.reports_intervals:
        table.add_column("95% CI", justify="right")
    for column in ("tokens k", "seq tokens k"):
        table.add_column(column, justify="right")
        if protocol.reports_intervals:
            table.add_column("95% CI", justify="right")
    previous = None
    for cell in cells:
        if previous is not None and cell.store.name != previous:
            table.add_section()
        previous = cell.store.name
        values = [shown(cell.store.name), shown(cell.method), fmt(cell.acc, 2)]
        if protocol.reports_intervals:
            values.append(interval(*cell.acc_ci))
        for value, ci in (
            (cell.tokens_k, cell.tokens_k_ci),
            (cell.seq_tokens_k, cell.seq_tokens_k_ci),
        ):
            values.append(fmt(value, 1))
            if protocol.reports_intervals:
                values.append(interval(*ci))
        table.add_row(*values)
    console.print(table)
    if comparisons:
        paired_table = Table(
            title="paired on the same orders (B - A, bootstrap 95% CI over questions)",
            box=box.SIMPLE_HEAD,
        )
        columns = ("d acc", "95% CI", "d tokens k", "95% CI", "d seq tokens k", "95% CI")
        for column in ("store", "A", "B", *columns):
            paired_table.add_column(column, no_wrap=True)
        for c in comparisons:
            paired_table.add_row(
                shown(c.store),
                shown(c.method_a),
                shown(c.method_b),
                fmt(c.d_acc, 2, signed=True),
                interval(*c.d_acc_ci, digits=2),
                fmt(c.d_tokens_k, 1, signed=True),
                interval(*c.d_tokens_k_ci),
                fmt(c.d_seq_tokens_k, 1, signed=True),
                interval(*c.d_seq_tokens_k_ci),
            )
        console.print(paired_table)
