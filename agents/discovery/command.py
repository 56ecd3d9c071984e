"""`tts-gym discover`: the AutoTTS loop (an LLM writes controllers, the replay scores them).

tts-gym discover NAME [options]       start runs/NAME
tts-gym discover --resume runs/NAME   continue after the last complete round
tts-gym discover --final runs/NAME    evaluate the chosen controller on held-out stores
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tts_gym_agents.discovery.check_command import (
    add_sweep_arguments,
    sandbox_limits,
    sweep_settings,
)

from tts_gym.errors import TTSGymError

DEFAULT_ROUNDS = 5
DEFAULT_DOLLARS = 40.0
DEFAULT_MINUTES = 180.0
ROUND_TIME_LIMIT = 600.0
FINAL_TIME_LIMIT = 3600.0


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
    parser.add_argument(
        "--proposer",
        choices=("anthropic", "claude-code"),
        default="anthropic",
        help="who writes controllers (default: anthropic)",
    )
    parser.add_argument("--model", default=None, help="model name (default: claude-sonnet-4-6)")
    parser.add_argument("--claude-executable", default="claude", help="Claude Code's command")
    parser.add_argument(
        "--rounds", type=int, default=None, help=f"hard stop: rounds (default: {DEFAULT_ROUNDS})"
    )
    parser.add_argument(
        "--max-dollars",
        type=float,
        default=None,
        help=f"hard stop: estimated dollars spent (default: {DEFAULT_DOLLARS:g})",
    )
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help=f"hard stop: wall minutes of completed rounds (default: {DEFAULT_MINUTES:g})",
    )
    parser.add_argument(
        "--max-turns", type=int, default=20, help="API calls per round (default: 20)"
    )
    parser.add_argument(
        "--feedback",
        choices=("full", "scalar"),
        default="full",
        help="full: scores, matchups and traces; scalar: scores only (ablation)",
    )
    add_sweep_arguments(
        parser,
        orders=20,
        questions=None,
        wall=f"{ROUND_TIME_LIMIT:g}, with --final {FINAL_TIME_LIMIT:g}",
    )
    parser.add_argument(
        "--held-out",
        nargs="+",
        default=["held-out"],
        metavar="STORE",
        help="with --final: the held-out stores (default: held-out)",
    )
    parser.add_argument(
        "--protocol",
        choices=("autotts", "default"),
        default="autotts",
        help="with --final: the orders (default: autotts, the paper's 100 orders)",
    )
    parser.add_argument(
        "--final-orders", type=int, default=100, help="with --final: orders per question (100)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tts_gym_agents.discovery.loop import DEFAULT_MODEL, DiscoveryConfig, resume, start

    if args.final:
        return _final(args)
    if args.resume:
        overrides = {
            key: value
            for key, value in (
                ("rounds", args.rounds),
                ("max_dollars", args.max_dollars),
                ("max_minutes", args.max_minutes),
            )
            if value is not None
        }
        discovery = resume(_existing(args.resume), overrides)
    else:
        if not args.name:
            raise TTSGymError("give a run NAME, or --resume RUN, or --final RUN.")
        if "/" in args.name or args.name.startswith("."):
            raise TTSGymError(
                f"'{args.name}' is not a plain run name (use --runs-dir for folders)."
            )
        settings = sweep_settings(args, ROUND_TIME_LIMIT)
        config = DiscoveryConfig(
            proposer=args.proposer,
            model=args.model or DEFAULT_MODEL,
            rounds=_positive(args.rounds, DEFAULT_ROUNDS, "--rounds"),
            max_dollars=_positive(args.max_dollars, DEFAULT_DOLLARS, "--max-dollars"),
            max_minutes=_positive(args.max_minutes, DEFAULT_MINUTES, "--max-minutes"),
            max_turns=_positive(args.max_turns, 20, "--max-turns"),
            stores=tuple(args.stores),
            data_dir=args.data_dir,
            betas=settings.betas,
            orders=args.orders,
            seed=args.seed,
            questions=args.questions,
            feedback=args.feedback,
            free_knobs=args.free_knobs,
            time_limit=settings.limits.wall_seconds,
            memory_mb=args.memory_mb,
            claude_executable=args.claude_executable,
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
    from tts_gym_agents.discovery.final import run_final

    from tts_gym.evaluation.protocols import Protocol

    if args.final_orders < 1:
        raise TTSGymError("--final-orders must be at least 1.")
    folder = run_final(
        _existing(args.final),
        args.held_out,
        Protocol(args.protocol, args.final_orders, args.seed),
        sandbox_limits(args, FINAL_TIME_LIMIT),
        args.data_dir,
    )
    print(f"held-out report: {folder / 'report.md'}")
    return 0


def _existing(folder: str) -> Path:
    path = Path(folder)
    if not path.is_dir():
        raise TTSGymError(f"there is no run folder {folder}.")
    return path


def _positive(value: float | None, default: float, flag: str) -> float:
    if value is None:
        return default
    if value <= 0:
        raise TTSGymError(f"{flag} must be positive.")
    return value
