"""`tts-gym live`: a controller in front of a generating model (or a replay store served as
if generated), reported with `eval`'s columns plus wall time; what was generated is kept as a
replay store. Option defaults are those of `EngineConfig`, `Sampling` and `Protocol`."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from tts_gym.cli.options import (
    add_data_dir,
    add_format,
    add_protocol,
    add_quiet,
    config_arguments,
    count,
    fraction,
    non_negative,
    positive,
    render,
    show_progress,
)
from tts_gym.cli.outputs import add_inputs, add_output
from tts_gym.control.loading import BUILTINS, load_policy, parse_config
from tts_gym.control.protocols import policy_config, policy_name
from tts_gym.evaluation.evaluate import format_config
from tts_gym.evaluation.protocols import Protocol
from tts_gym.evaluation.report import fmt, interval
from tts_gym.evaluation.stats import PairedComparison
from tts_gym.live.engines import Sampling
from tts_gym.live.errors import LiveError
from tts_gym.live.report import Labels, compare_methods, rows
from tts_gym.live.runner import check_output, run_live
from tts_gym.live.sources import ENGINES, EngineConfig, open_engine


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "live",
        help="run a controller live, in front of a generating model",
        description=(
            f"Run a controller (a built-in: {', '.join(BUILTINS)}; module:Class or "
            "path.py:Class with run(episode) or solve(q)) on questions answered by a model "
            "that generates while it is controlled: vLLM or transformers in this process, an "
            "OpenAI-compatible completions server, or replay:STORE (a store served as if "
            "generated: the same numbers as `tts-gym eval`). See docs/live.md."
        ),
    )
    parser.add_argument("--policy", required=True, metavar="SPEC")
    parser.add_argument(
        "--config", nargs="+", default=[], metavar="K=V", help="constructor arguments"
    )
    parser.add_argument(
        "--engine", required=True, metavar="ENGINE", help=f"one of {', '.join(ENGINES)}"
    )
    engine = config_arguments(parser, EngineConfig)
    engine("--model", str, "M", "model to load (vllm, transformers) or the server's model name")
    engine("--tokenizer", str, "T", "where the chat template comes from (openai; default: --model)")
    engine("--base-url", str, "URL", "the OpenAI-compatible server, e.g. http://localhost:8000/v1")
    engine("--branches", count, "B", "branches a question offers (generating engines)")
    engine("--tensor-parallel-size", count, "N", "GPUs per model (vllm)")
    engine("--timeout", positive, "S", "seconds per request before it is tried again (openai)")
    engine("--attempts", count, "N", "tries per request (openai)")
    engine("--concurrency", count, "N", "requests in flight at once (openai)")
    engine("--api-key-env", str, "VAR", "environment variable holding the API key (openai)")
    parser.add_argument(
        "--questions",
        metavar="FILE.jsonl",
        help="JSON Lines with 'question', an optional gold 'answer' and 'id' (generating engines)",
    )
    sampling = config_arguments(parser, Sampling)
    sampling("--interval", count, "D", "tokens per interval: a probe every D generated tokens")
    sampling("--max-tokens", count, "T", "longest branch in tokens")
    sampling("--temperature", non_negative, "X", "sampling temperature")
    sampling("--top-p", fraction, "P", "nucleus sampling mass, in (0, 1]")
    sampling("--probe-tokens", count, "T", "greedy tokens decoded per probe")
    add_protocol(parser)
    orders, seed = (
        parser._option_string_actions["--orders"],
        parser._option_string_actions["--seed"],
    )
    orders.default, orders.help = 1, "orders per question (default: 1)"
    seed.help = f"orders, sampling and bootstrap seed (default: {seed.default})"
    parser.add_argument(
        "--compare",
        metavar="SPEC",
        help="also run this method (e.g. sc, or sc with --compare-config n=16) the same way, "
        "and print the paired differences",
    )
    parser.add_argument("--compare-config", nargs="+", default=[], metavar="K=V")
    add_output(parser, "--out", metavar="STORE.json", help="write what was generated as a store")
    add_inputs(parser, "input", "questions")
    parser.add_argument(
        "--resume", action="store_true", help="continue an interrupted run (with --out)"
    )
    add_format(parser)
    add_data_dir(parser)
    add_quiet(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy, parse_config(args.config))
    policies = {policy_name(policy): policy}
    if args.compare:
        other = load_policy(args.compare, parse_config(args.compare_config))
        if policy_name(other) in policies:
            raise LiveError(f"--compare names the controller itself ({policy_name(other)}).")
        policies[policy_name(other)] = other
    if args.resume and not args.out:
        raise LiveError("--resume continues the run that writes --out; give --out.")
    protocol = Protocol(args.protocol, args.orders, args.seed)
    sampling = Sampling(
        **{f.name: getattr(args, f.name) for f in fields(Sampling) if f.name != "seed"},
        seed=args.seed,
    )
    config = EngineConfig(**{f.name: getattr(args, f.name) for f in fields(EngineConfig)})
    out = None if args.out is None else Path(args.out)
    if out is not None:
        check_output(out, args.resume)  # before a model is loaded
    engine, specs, labels, closing = open_engine(config, sampling, args.questions, args.data_dir)
    if out is not None:
        labels = Labels(labels.model, labels.benchmark, out.stem)
    try:
        results, stored = run_live(
            policies, specs, engine, protocol, out=out, resume=args.resume,
            progress=show_progress(args),
        )  # fmt: skip
    finally:
        if closing is not None:
            closing.close()
    methods = list(policies)
    configs = {name: format_config(policy_config(p)) for name, p in policies.items()}
    table_rows = rows(results, methods, protocol, labels, configs)
    comparisons = []
    if len(methods) > 1:
        comparisons = [compare_methods(results, methods[1], methods[0], labels, args.seed)]
    render(args, table_rows, lambda: _print(table_rows, protocol, comparisons, out, stored))
    return 0


def _print(
    table_rows: list[dict],
    protocol: Protocol,
    comparisons: list[PairedComparison],
    out: Path | None,
    stored: int,
) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    table = Table(title=f"live, protocol: {protocol.describe()}", box=box.SIMPLE_HEAD)
    for column in ("method", "question"):
        table.add_column(column, no_wrap=True)
    for column in ("acc %", "tokens k", "seq tokens k", "wall s", "generated k"):
        table.add_column(column, justify="right")
    previous = None
    for row in table_rows:
        if previous is not None and row["method"] != previous:
            table.add_section()
        previous = row["method"]
        table.add_row(
            row["method"],
            str(row["question"]),
            fmt(row["acc"], 1),
            fmt(row["tokens_k"], 1),
            fmt(row["seq_tokens_k"], 1),
            fmt(row["wall_s"], 1),
            fmt(row["generated_k"], 1),
        )
    console.print(table)
    for c in comparisons:
        console.print(
            f"{c.method_b} - {c.method_a}, paired over questions (bootstrap 95% CI): "
            f"acc {fmt(c.d_acc, 1, signed=True)} {interval(*c.d_acc_ci)}, "
            f"tokens k {fmt(c.d_tokens_k, 1, signed=True)} {interval(*c.d_tokens_k_ci)}, "
            f"seq tokens k {fmt(c.d_seq_tokens_k, 1, signed=True)} "
            f"{interval(*c.d_seq_tokens_k_ci)}"
        )
    if out is not None:
        console.print(
            f"what was generated: {out} ({stored} questions)"
            if stored
            else "no branch was generated; no store written"
        )
