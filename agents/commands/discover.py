"""`tts-gym discover`: the AutoTTS loop (an LLM writes controllers, the replay scores them).

tts-gym discover NAME [options]          start runs/NAME
tts-gym discover --resume runs/NAME      continue after the last complete round
tts-gym discover --final runs/NAME       evaluate the chosen controller on held-out stores
tts-gym discover compare RUN RUN ...     runs side by side (table, CSV/JSON, PNG)
tts-gym discover report RUN              RUN/report.html, one self-contained page
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import get_args

from tts_gym_agents.commands.sweep import add_sweep_arguments, sandbox_limits, sweep_settings
from tts_gym_agents.discovery.feedback import FeedbackMode
from tts_gym_agents.discovery.final import FINAL_PROTOCOL, FINAL_STORES, FINAL_TIME_LIMIT, run_final
from tts_gym_agents.discovery.loop import RESUMABLE, DiscoveryConfig, resume, start
from tts_gym_agents.discovery.proposers import DEFAULT_MODELS, PROPOSERS

from tts_gym.cli.options import add_format, default_of, render
from tts_gym.errors import TTSGymError
from tts_gym.evaluation.protocols import PROTOCOLS, Protocol

ACTIONS = ("compare", "report")
"""Words that, as the first argument, name an action on existing runs rather than a run."""
CONFIG_FLAGS = (
    "proposer",
    "model",
    "candidates",
    "base_url",
    "api_key_env",
    "price_in",
    "price_out",
    "claude_executable",
    "codex_executable",
    "agent_timeout",
    "rounds",
    "max_dollars",
    "max_minutes",
    "max_turns",
    "max_output_tokens",
    "feedback",
)
"""Settings of `DiscoveryConfig` given as flags (None when not given: the config's default)."""
ACTION_FLAGS = ("format", "output", "plot")
"""What `compare` and `report` take besides the run folders."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "discover",
        help="let an LLM write controllers, score them on the replay, keep the best",
        usage=(
            "tts-gym discover NAME [options]\n"
            "       tts-gym discover --resume RUN [--rounds N] [--max-dollars D] ...\n"
            "       tts-gym discover --final RUN [--held-out STORE ...]\n"
            "       tts-gym discover compare RUN RUN ... [--format F] [-o FILE] [--plot FILE.png]\n"
            "       tts-gym discover report RUN"
        ),
        description=(
            "Run the AutoTTS discovery loop in runs/NAME: each round a proposer (the Anthropic "
            "API, any OpenAI-compatible endpoint, Claude Code or the Codex CLI) reads the "
            "history and writes controller.py, --candidates times; each candidate is checked "
            "and scored in a sandbox on the search stores and the round keeps the best. "
            "--resume continues a run, --final evaluates its chosen controller once on the "
            "held-out stores. `compare` puts runs side by side; `report` writes RUN/report.html."
        ),
    )
    parser.add_argument("name", nargs="?", help="run name (folder under --runs-dir)")
    parser.add_argument("runs", nargs="*", metavar="RUN", help="with compare/report: run folders")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN")
    mode.add_argument("--final", metavar="RUN", help="held-out report of the run in folder RUN")
    parser.add_argument("--runs-dir", default="runs", help="where runs live (default: runs)")
    _choice(parser, "--proposer", PROPOSERS, "who writes controllers")
    models = ", ".join(f"{name}: {model}" for name, model in DEFAULT_MODELS.items())
    parser.add_argument(
        "--model", default=None, help=f"model name (default per proposer: {models})"
    )
    _option(parser, "--candidates", int, "controllers asked for per round (the best is kept)")
    _option(parser, "--base-url", str, "anthropic/openai: the API endpoint, e.g. a local vLLM")
    _option(
        parser,
        "--api-key-env",
        str,
        "anthropic/openai: the environment variable holding the key "
        "(None: ANTHROPIC_API_KEY / OPENAI_API_KEY)",
    )
    _option(parser, "--price-in", float, "dollars per million input tokens (unlisted models)")
    _option(parser, "--price-out", float, "dollars per million output tokens (unlisted models)")
    _option(parser, "--claude-executable", str, "Claude Code's command")
    _option(parser, "--codex-executable", str, "the Codex CLI's command")
    _option(parser, "--agent-timeout", float, "claude-code/codex: wall seconds per candidate")
    _option(parser, "--rounds", int, "hard stop: rounds")
    _option(parser, "--max-dollars", float, "hard stop: estimated dollars spent")
    _option(parser, "--max-minutes", float, "hard stop: wall minutes of completed rounds")
    _option(parser, "--max-turns", int, "API calls per candidate")
    _option(parser, "--max-output-tokens", int, "anthropic/openai: output tokens per call")
    _choice(
        parser,
        "--feedback",
        get_args(FeedbackMode),
        "full: scores, matchups and traces; scalar: scores only (ablation)",
    )
    round_limit = default_of(DiscoveryConfig, "time_limit")
    add_sweep_arguments(
        parser,
        orders=default_of(DiscoveryConfig, "orders"),
        questions=default_of(DiscoveryConfig, "questions"),
        wall=f"{round_limit:g}, with --final {FINAL_TIME_LIMIT:g}",
    )
    parser.add_argument(
        "--held-out",
        nargs="+",
        default=list(FINAL_STORES),
        metavar="STORE",
        help=f"with --final: the held-out stores (default: {' '.join(FINAL_STORES)})",
    )
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default=FINAL_PROTOCOL.name,
        help=f"with --final: the orders (default: {FINAL_PROTOCOL.name})",
    )
    parser.add_argument(
        "--final-orders",
        type=int,
        default=FINAL_PROTOCOL.n_orders,
        help=f"with --final: orders per question (default: {FINAL_PROTOCOL.n_orders})",
    )
    add_format(parser)
    parser.add_argument("--plot", metavar="FILE.png", help="with compare: the plot")
    parser.set_defaults(func=run, discover_parser=parser)


def run(args: argparse.Namespace) -> int:
    if args.name in ACTIONS and not (args.resume or args.final):
        return _action(args)
    if args.runs:
        raise TTSGymError(f"unexpected arguments: {' '.join(args.runs)} (a run has one NAME).")
    misplaced = _given(args, ()) & set(ACTION_FLAGS)
    if misplaced:
        raise TTSGymError(f"{_flags(misplaced)} go with `discover compare` only.")
    if args.final:
        return _final(args)
    given = {name: value for name in CONFIG_FLAGS if (value := getattr(args, name)) is not None}
    if args.resume:
        changed = set(given) - set(RESUMABLE)
        if changed:
            raise TTSGymError(
                f"--resume keeps the run's settings but its stops and where the proposer is "
                f"reached (got {_flags(changed)})."
            )
        if args.allow_missing_layers:  # recorded in the run's config from then on
            given["allow_missing_layers"] = True
        discovery = resume(_existing(args.resume), given)
    else:
        if not args.name:
            raise TTSGymError("give a run NAME, or --resume RUN, or --final RUN.")
        if "/" in args.name or args.name.startswith("."):
            raise TTSGymError(
                f"'{args.name}' is not a plain run name (use --runs-dir for folders)."
            )
        settings = sweep_settings(args, default_of(DiscoveryConfig, "time_limit"))
        config = DiscoveryConfig(
            **given,
            stores=tuple(args.stores),
            data_dir=args.data_dir,
            betas=settings.betas,
            orders=args.orders,
            seed=args.seed,
            questions=args.questions,
            free_knobs=args.free_knobs,
            time_limit=settings.limits.wall_seconds,
            memory_mb=args.memory_mb,
            allow_missing_layers=args.allow_missing_layers,
        )
        discovery = start(Path(args.runs_dir) / args.name, config)
    with discovery:
        reason = discovery.run()
    archive = discovery.archive
    best = archive.select_best()
    print(
        f"stopped ({reason}) after {len(archive.completed_rounds())} rounds, "
        f"~${archive.dollars_spent():.2f} spent; best: "
        + (f"round {best['round']} (score {best['score']:+.4f})" if best else "none")
        + f". Held-out report: tts-gym discover --final {archive.root}"
    )
    return 0


def _action(args: argparse.Namespace) -> int:
    """`compare` or `report` on existing run folders."""
    extra = _given(args, ("name", "runs", *ACTION_FLAGS))
    if extra:
        raise TTSGymError(
            f"`discover {args.name}` takes run folders and {_flags(ACTION_FLAGS)} only "
            f"(got {_flags(extra)})."
        )
    folders = [_existing(run) for run in args.runs]
    if args.name == "report":
        if len(folders) != 1 or args.plot or args.output or args.format != "table":
            raise TTSGymError("`discover report` takes one run folder and nothing else.")
        from tts_gym_agents.discovery.report import write_report

        print(f"report: {write_report(folders[0])}")
        return 0
    if not folders:
        raise TTSGymError("`discover compare` needs at least one run folder.")
    if args.plot and args.output and Path(args.plot).resolve() == Path(args.output).resolve():
        raise TTSGymError("--output and --plot name the same file; give two paths.")
    from tts_gym_agents.discovery.compare import (
        compare_plot,
        print_tables,
        read_runs,
        table_rows,
    )

    runs = read_runs(folders)
    render(args, table_rows(runs), lambda: print_tables(runs))
    if args.plot:
        compare_plot(runs, args.plot)
    return 0


def _final(args: argparse.Namespace) -> int:
    if args.final_orders < 1:
        raise TTSGymError("--final-orders must be at least 1.")
    folder = run_final(
        _existing(args.final),
        args.held_out,
        Protocol(args.protocol, args.final_orders, args.seed),
        sandbox_limits(args, FINAL_TIME_LIMIT),
        args.data_dir,
        allow_missing_layers=args.allow_missing_layers,
    )
    print(f"held-out report: {folder / 'report.md'}")
    return 0


def _given(args: argparse.Namespace, allowed: tuple[str, ...]) -> set[str]:
    """The options given on the command line (not at their defaults) outside `allowed`."""
    parser: argparse.ArgumentParser = args.discover_parser
    return {
        dest
        for dest, value in vars(args).items()
        if dest not in (*allowed, "command", "func", "discover_parser")
        and value not in (None, [], parser.get_default(dest))
    }


def _flags(dests: set[str] | tuple[str, ...]) -> str:
    return ", ".join("--" + name.replace("_", "-") for name in sorted(dests))


def _existing(folder: str) -> Path:
    path = Path(folder)
    if not path.is_dir():
        raise TTSGymError(f"there is no run folder {folder}.")
    return path


def _option(parser: argparse.ArgumentParser, flag: str, kind: type, help: str) -> None:
    """A setting of `DiscoveryConfig`, with its default shown (None here: the config's)."""
    default = default_of(DiscoveryConfig, flag[2:].replace("-", "_"))
    parser.add_argument(flag, type=kind, default=None, help=f"{help} (default: {default})")


def _choice(parser: argparse.ArgumentParser, flag: str, choices: tuple, help: str) -> None:
    default = default_of(DiscoveryConfig, flag[2:].replace("-", "_"))
    parser.add_argument(flag, choices=choices, default=None, help=f"{help} (default: {default})")
