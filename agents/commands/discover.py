"""`tts-gym discover`: the AutoTTS loop (an LLM writes controllers, the replay scores them).

tts-gym discover NAME [options]       start runs/NAME
tts-gym discover --resume runs/NAME   continue after the last complete round
tts-gym discover --final runs/NAME    evaluate the chosen controller on held-out stores
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import get_args

from tts_gym_agents.commands.sweep import add_sweep_arguments, sandbox_limits, sweep_settings
from tts_gym_agents.discovery.feedback import FeedbackMode
from tts_gym_agents.discovery.final import FINAL_PROTOCOL, FINAL_STORES, FINAL_TIME_LIMIT, run_final
from tts_gym_agents.discovery.loop import DiscoveryConfig, resume, start
from tts_gym_agents.discovery.proposers import PROPOSERS

from tts_gym.cli.options import default_of
from tts_gym.errors import TTSGymError
from tts_gym.evaluation.protocols import PROTOCOLS, Protocol

STOPS = ("rounds", "max_dollars", "max_minutes")
"""Hard stops that `--resume` may change."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "discover",
        help="let an LLM write controllers, score them on the replay, keep the best",
        description=(
            "Run the AutoTTS discovery loop in runs/NAME: each round a proposer (the Anthropic "
            "API, or Claude Code) reads the history and writes controller.py; the candidate is "
            "checked and scored in a sandbox on the search stores. --resume continues a run, "
            "--final evaluates its chosen controller once on the held-out stores."
        ),
    )
    parser.add_argument("name", nargs="?", help="run name (folder under --runs-dir)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN")
    mode.add_argument("--final", metavar="RUN", help="held-out report of the run in folder RUN")
    parser.add_argument("--runs-dir", default="runs", help="where runs live (default: runs)")
    _choice(parser, "--proposer", PROPOSERS, "who writes controllers")
    _option(parser, "--model", str, "model name")
    _option(parser, "--claude-executable", str, "Claude Code's command")
    _option(parser, "--rounds", int, "hard stop: rounds")
    _option(parser, "--max-dollars", float, "hard stop: estimated dollars spent")
    _option(parser, "--max-minutes", float, "hard stop: wall minutes of completed rounds")
    _option(parser, "--max-turns", int, "API calls per round")
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
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.final:
        return _final(args)
    given = {
        name: value
        for name in (*STOPS, "proposer", "model", "claude_executable", "max_turns", "feedback")
        if (value := getattr(args, name)) is not None
    }
    if args.resume:
        overrides = {name: value for name, value in given.items() if name in STOPS}
        if args.allow_missing_layers:  # recorded in the run's config from then on
            overrides["allow_missing_layers"] = True
        if set(given) - set(STOPS):
            changed = ", ".join("--" + n.replace("_", "-") for n in sorted(set(given) - set(STOPS)))
            raise TTSGymError(f"--resume keeps the run's settings but its stops (got {changed}).")
        discovery = resume(_existing(args.resume), overrides)
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
    best = archive.read_json("best.json")
    print(
        f"stopped ({reason}) after {len(archive.completed_rounds())} rounds, "
        f"~${archive.dollars_spent():.2f} spent; best: "
        + (f"round {best['round']} (score {best['score']:+.4f})" if best else "none")
        + f". Held-out report: tts-gym discover --final {archive.root}"
    )
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
