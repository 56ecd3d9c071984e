"""`tts-gym train`: train an RL controller (MaskablePPO) on the search stores.

tts-gym train                                       one run in runs/train/<settings>
tts-gym train --out runs/ppo                        one run in runs/ppo (config, model, evaluation)
tts-gym train --out runs/ppo --resume               continue from its last checkpoint
tts-gym train --out runs/sweep --sweep 0.05,0.1,0.2  one run per token penalty, then a table
tts-gym train --out runs/cv --cross-validate          one run per validation fold, pooled
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from tts_gym_agents.rl.config import ACTIONS, ALGOS, VEC_ENVS, TrainConfig

from tts_gym.cli.options import (
    add_quiet,
    add_stores,
    comma_separated,
    count,
    default_of,
    integer,
    non_negative,
    seed,
    show_progress,
)
from tts_gym.cli.outputs import add_output_folder
from tts_gym.errors import TTSGymError

DEFAULT_ROOT = Path("runs/train")
RUN_FILES = ("config.json", "model.zip", "best_model.zip", "record.json", "evaluation.json")
"""The files a run writes in its folder (besides checkpoints/ and tb/)."""
_WIDTHS = (16, 8, 9, 12, 7)  # the columns of the sweep / cross-validation table
_DEFAULTS_FROM_CONFIG = (
    "token_penalty", "latency_penalty", "timesteps", "seed", "n_envs", "max_branches", "vec_env",
    "actions", "folds", "fold", "patience",
)  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train an RL controller (MaskablePPO) on the search stores",
        description=(
            "Train MaskablePPO on TTSControl-v0 (macro actions: answer, submit, widen, advance) "
            "into a run folder: config.json, model.zip, best_model.zip (best on a validation "
            "split of the training stores), checkpoints/, tb/ (TensorBoard) and evaluation.json. "
            "Held-out stores are refused. Evaluate with `tts-gym eval --policy sb3:DIR/model.zip`."
        ),
    )
    parser.add_argument("--algo", choices=ALGOS, default=default_of(TrainConfig, "algo"))
    add_stores(
        parser, default=None, shown=default_of(TrainConfig, "stores"), help="training stores"
    )
    for flag, kind, meta, what in (
        ("--token-penalty", non_negative, "G", "reward per 1e6 tokens"),
        ("--latency-penalty", non_negative, "L", "reward per 1e6 sequential tokens"),
        ("--timesteps", count, "N", "macro decisions in all"),
        ("--seed", seed, "S", "seeds the split, the envs and the network"),
        ("--n-envs", count, "K", "training envs, stepped together"),
        ("--max-branches", count, "M", "env slots"),
        ("--patience", count, "P", "rounds off the leader before PRUNE drops a branch"),
        ("--folds", count, "K", "the training stores' questions in K fixed folds"),
        ("--fold", integer(0), "F", "the fold kept for validation"),
    ):
        default = default_of(TrainConfig, flag[2:].replace("-", "_"))
        parser.add_argument(flag, type=kind, metavar=meta, help=f"{what} (default: {default})")
    parser.add_argument(
        "--actions",
        choices=ACTIONS,
        help="macro: TTSControlMacro-v0's four macros; primitive: TTSControl-v0's own actions, "
        f"on tts_gym.env.SB3VecEnv (default: {default_of(TrainConfig, 'actions')})",
    )
    parser.add_argument(
        "--vec-env",
        choices=VEC_ENVS,
        help="core: the envs in one process, each decision one compiled call; subproc: the "
        f"Python macro envs in worker processes (default: {default_of(TrainConfig, 'vec_env')})",
    )
    add_output_folder(
        parser,
        "--out",
        files=RUN_FILES,
        metavar="DIR",
        help="run folder (default: runs/train/<algo>-g<penalty>-m<max branches>-s<seed>)",
    )
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    parser.add_argument(
        "--sweep",
        type=comma_separated(non_negative),
        metavar="G,G,...",
        help="one run per token penalty, in DIR/g<G>, then a table",
    )
    parser.add_argument(
        "--cross-validate",
        action="store_true",
        help="one run per fold f (seed S+f) in DIR/fold<f>, their validation pooled in "
        "DIR/cv.json (with --sweep: for each penalty)",
    )
    add_quiet(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tts_gym_agents.rl.train import cross_validate, sweep, train  # torch and SB3: here only

    given = {
        name: getattr(args, name)
        for name in _DEFAULTS_FROM_CONFIG
        if getattr(args, name, None) is not None
    }
    if args.stores is not None:
        given["stores"] = tuple(args.stores)
    progress = show_progress(args)
    common = {"resume": args.resume, "progress": progress, "data_dir": args.data_dir}
    if args.sweep or args.cross_validate:
        config = TrainConfig(algo=args.algo, **given)
        kind = "sweep" if args.sweep else "cv"
        out = Path(
            args.out or DEFAULT_ROOT / f"{config.algo}-{kind}-m{config.max_branches}-s{config.seed}"
        )
        header = ("run", "val acc", "tokens_k", "seq_tokens_k", "vs CMC")
        print(" ".join(f"{h:>{w}}" for h, w in zip(header, _WIDTHS, strict=True)), " folder")
        if args.sweep:
            penalties = args.sweep
            results = sweep(config, penalties, out, folds=args.cross_validate, **common)
            for penalty, result in zip(penalties, results, strict=True):
                _print_row(f"g={penalty:g}", result)
        else:
            _print_row("cross-validation", {**cross_validate(config, out, **common), "folder": out})
        return 0
    if args.resume:
        if args.out is None:
            raise TTSGymError("--resume needs the run folder: --out DIR.")
        out = Path(args.out)
        known = {f.name for f in fields(TrainConfig)}
        changed = sorted(set(given) - {"timesteps"} & known)
        if changed:
            raise TTSGymError(
                f"--resume keeps the run's settings; only --timesteps may change (got "
                f"{', '.join('--' + name.replace('_', '-') for name in changed)})."
            )
        config = TrainConfig.load(out).replace(**given)
    else:
        config = TrainConfig(algo=args.algo, **given)
        out = Path(args.out or DEFAULT_ROOT / config.run_name())
    record = train(config, out, **common)
    valid = record["validation"]
    print(
        f"trained {record['timesteps']} timesteps in {record['wall_seconds'] / 60:.1f} min; "
        f"validation: accuracy {valid['acc']:.1f}%, {valid['tokens_k']:.1f}k tokens "
        f"({valid['seq_tokens_k']:.1f}k sequential), {valid['margin']:+.2f} points vs CMC's "
        f"curve; model: {out / 'model.zip'}"
    )
    return 0


def _print_row(label: str, result: dict) -> None:
    """A run's record or a cross-validation, as one row of the table."""
    valid = result.get("overall") or result["validation"]
    margin = result.get("margin", valid.get("margin"))
    a, b, c, d, e = _WIDTHS
    print(
        f"{label:>{a}} {valid['acc']:>{b}.2f} {valid['tokens_k']:>{c}.1f} "
        f"{valid['seq_tokens_k']:>{d}.1f} {margin:>+{e}.2f}  {result['folder']}"
    )
