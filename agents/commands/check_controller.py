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

from tts_gym_agents.commands.sweep import add_sweep_arguments, sweep_settings
from tts_gym_agents.discovery.candidate import evaluate_candidate, load_stores

from tts_gym.errors import TTSGymError

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
    path, class_name = split_spec(args.spec)
    settings = sweep_settings(args, WALL_SECONDS)
    stores = load_stores(args.stores, args.data_dir)
    evaluation = evaluate_candidate(path, class_name, stores, settings)
    verdict = evaluation.verdict()
    for point in verdict["sweep"]:  # accuracy in percent, `acc` as in `tts-gym eval`'s rows
        point["acc"] = 100 * point.pop("accuracy")
    print(json.dumps(verdict, indent=2))
    return 0 if evaluation.ok else 1
