"""`tts-gym check-controller FILE.py:Class`: run one candidate exactly as discovery does.

Source and knob rules, the beta sweep through the sandbox boundary (with its replays in fresh
processes) and the monotone-cost check; prints the JSON verdict `{"ok", "errors", "sweep",
"isolation", "replayed"}` and exits 0 only when ok. Held-out stores are refused, as in the
loop. The default is a quick look (the first 10 questions of each store, 2 orders);
discovery itself plays every question under more orders.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from tts_gym.errors import TTSGymError

if TYPE_CHECKING:
    from tts_gym_agents.discovery.candidate import SweepSettings

    from tts_gym.evaluation.sandbox import Limits

DEFAULT_QUESTIONS = 10
DEFAULT_ORDERS = 2
WALL_SECONDS = 60.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check-controller",
        help="sandbox, check and sweep one candidate controller; print a JSON verdict",
        description=(
            "Run FILE.py:Class as the discovery loop does (rules, the beta sweep in sandboxed "
            "processes that hold only what the controller's actions revealed, episodes replayed "
            "in fresh processes, monotone cost) and print a JSON verdict. "
            "The class takes beta (or an AutoTTS config dict) and implements solve(q) with "
            "tts-gym's question handle or AutoTTS's probe_new/probe_more. Exit 0 only when ok."
        ),
    )
    parser.add_argument("spec", metavar="FILE.py:Class")
    add_sweep_arguments(parser, orders=DEFAULT_ORDERS, questions=DEFAULT_QUESTIONS, wall="60")
    parser.set_defaults(func=run)


def add_sweep_arguments(
    parser: argparse.ArgumentParser, *, orders: int, questions: int | None, wall: str
) -> None:
    """The options shared with `tts-gym discover`: stores, sweep, orders, limits."""
    parser.add_argument(
        "--stores",
        nargs="+",
        default=["search"],
        metavar="STORE",
        help="search stores: catalog names, paths or 'search' (default: search; held-out "
        "stores are refused)",
    )
    parser.add_argument(
        "--data-dir", metavar="D", help="data folder (default: $TTS_GYM_DATA, else the cache)"
    )
    parser.add_argument(
        "--betas",
        default="0,0.25,0.5,0.75,1",
        help="comma-separated beta sweep (default: 0,0.25,0.5,0.75,1)",
    )
    parser.add_argument(
        "--orders", type=int, default=orders, help=f"branch orders per question (default: {orders})"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the orders (default: 0)")
    parser.add_argument(
        "--questions",
        type=int,
        default=questions,
        metavar="N",
        help="use the first N questions of each store (default: "
        + ("all" if questions is None else str(questions))
        + ")",
    )
    parser.add_argument(
        "--free-knobs",
        action="store_true",
        help="allow constructor knobs besides beta (the paper's ablation)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="S",
        help=f"wall-clock seconds per candidate run (default: {wall}; CPU limit: 90%%)",
    )
    parser.add_argument(
        "--memory-mb",
        type=int,
        default=2048,
        metavar="M",
        help="address-space limit of the candidate's process in MiB (default: 2048)",
    )


def sweep_settings(args: argparse.Namespace, wall: float) -> SweepSettings:
    """`SweepSettings` from the shared options, `wall` seconds unless --time-limit."""
    from tts_gym_agents.discovery.candidate import SweepSettings

    from tts_gym.evaluation.protocols import Protocol

    try:
        betas = tuple(sorted({float(b) for b in args.betas.split(",") if b.strip()}))
    except ValueError:
        raise TTSGymError(f"--betas must be comma-separated numbers, got '{args.betas}'.") from None
    if len(betas) < 2 or not all(0.0 <= b <= 1.0 for b in betas):
        raise TTSGymError("--betas needs at least two values, each in [0, 1].")
    if args.questions is not None and args.questions < 1:
        raise TTSGymError("--questions must be at least 1.")
    limits = sandbox_limits(args, wall)
    return SweepSettings(
        betas=betas,
        protocol=Protocol("default", args.orders, args.seed),
        questions=args.questions,
        free_knobs=args.free_knobs,
        limits=limits,
    )


def sandbox_limits(args: argparse.Namespace, wall: float) -> Limits:
    """Wall time from --time-limit (else `wall`) and memory from --memory-mb."""
    from tts_gym.evaluation.sandbox import Limits

    seconds = wall if args.time_limit is None else args.time_limit
    if seconds <= 0 or args.memory_mb < 256:
        raise TTSGymError("--time-limit must be positive and --memory-mb at least 256.")
    return Limits.from_wall(seconds, args.memory_mb)


def split_spec(spec: str) -> tuple[Path, str]:
    """`FILE.py:Class` -> (existing path, class name)."""
    source, _, class_name = spec.rpartition(":")
    if not source or not class_name.isidentifier():
        raise TTSGymError(f"'{spec}' is not of the form FILE.py:Class.")
    path = Path(source)
    if not path.is_file():
        raise TTSGymError(f"there is no file {source}.")
    return path.resolve(), class_name


def run(args: argparse.Namespace) -> int:
    from tts_gym_agents.discovery.candidate import evaluate_candidate, load_stores

    path, class_name = split_spec(args.spec)
    settings = sweep_settings(args, WALL_SECONDS)
    stores = load_stores(args.stores, args.data_dir)
    evaluation = evaluate_candidate(path, class_name, stores, settings)
    print(json.dumps(evaluation.verdict(), indent=2))
    return 0 if evaluation.ok else 1
