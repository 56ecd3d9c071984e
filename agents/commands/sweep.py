"""The options `discover` and `check-controller` share: stores, the beta sweep, orders, limits.

Defaults are the discovery layer's (`DiscoveryConfig`, `SweepSettings`, `Limits`); the two
commands differ only in how much they play by default (`check-controller` takes a quick look).
"""

from __future__ import annotations

import argparse

from tts_gym_agents.discovery.candidate import DEFAULT_BETAS, SweepSettings
from tts_gym_agents.discovery.loop import DiscoveryConfig

from tts_gym.cli.options import add_stores, count, default_of, integer, positive
from tts_gym.cli.options import seed as seed_type
from tts_gym.errors import TTSGymError
from tts_gym.evaluation.protocols import Protocol
from tts_gym.sandbox import ALLOW_FLAG, Limits


def add_sweep_arguments(
    parser: argparse.ArgumentParser, *, orders: int, questions: int | None, wall: str
) -> None:
    """Stores, betas, orders, seed, question subset, free knobs, time and memory limits."""
    add_stores(
        parser,
        default=default_of(DiscoveryConfig, "stores"),
        help="search stores (held-out stores are refused)",
    )
    betas = ",".join(f"{b:g}" for b in DEFAULT_BETAS)
    parser.add_argument(
        "--betas", default=betas, help=f"comma-separated beta sweep (default: {betas})"
    )
    parser.add_argument(
        "--orders",
        type=count,
        default=orders,
        help=f"branch orders per question (default: {orders})",
    )
    seed = default_of(DiscoveryConfig, "seed")
    parser.add_argument(
        "--seed", type=seed_type, default=seed, help=f"seed of the orders (default: {seed})"
    )
    parser.add_argument(
        "--questions",
        type=count,
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
        type=positive,
        default=None,
        metavar="S",
        help=f"wall-clock seconds per candidate run (default: {wall}; CPU limit: 90%%)",
    )
    memory = default_of(Limits, "memory_mb")
    parser.add_argument(
        "--memory-mb",
        type=integer(256),
        default=memory,
        metavar="M",
        help=f"address-space limit of the candidate's process in MiB (default: {memory})",
    )
    parser.add_argument(
        ALLOW_FLAG,
        action="store_true",
        help="score even where the sandbox's core layers (namespaces, seccomp) are missing on "
        "this machine; the verdict's isolation report says so",
    )


def sweep_settings(args: argparse.Namespace, wall: float) -> SweepSettings:
    """`SweepSettings` from the shared options, `wall` seconds unless --time-limit."""
    try:
        betas = tuple(sorted({float(b) for b in args.betas.split(",") if b.strip()}))
    except ValueError:
        raise TTSGymError(f"--betas must be comma-separated numbers, got '{args.betas}'.") from None
    if len(betas) < 2 or not all(0.0 <= b <= 1.0 for b in betas):
        raise TTSGymError("--betas needs at least two values, each in [0, 1].")
    if args.questions is not None and args.questions < 1:
        raise TTSGymError("--questions must be at least 1.")
    if args.orders < 1:
        raise TTSGymError("--orders must be at least 1.")
    return SweepSettings(
        betas=betas,
        protocol=Protocol("default", args.orders, args.seed),
        questions=args.questions,
        free_knobs=args.free_knobs,
        limits=sandbox_limits(args, wall),
        allow_missing_layers=args.allow_missing_layers,
    )


def sandbox_limits(args: argparse.Namespace, wall: float) -> Limits:
    """Wall time from --time-limit (else `wall`) and memory from --memory-mb."""
    seconds = wall if args.time_limit is None else args.time_limit
    if seconds <= 0 or args.memory_mb < 256:
        raise TTSGymError("--time-limit must be positive and --memory-mb at least 256.")
    return Limits.from_wall(seconds, args.memory_mb)
