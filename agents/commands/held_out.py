"""`tts-gym held-out DIR/model.zip`: read the held-out stores once for a trained model.

tts-gym held-out runs/ppo/model.zip --note "the shipped seed"
tts-gym held-out runs/ppo/model.zip --ledger OTHER/heldout_ledger.jsonl
tts-gym held-out runs/ppo/model.zip --plot FIGURE.png    draw the ledger (reads no store)
"""

from __future__ import annotations

import argparse

from tts_gym_agents.rl.heldout import LEDGER_FILE, REPORT_FILE

from tts_gym.cli.options import add_data_dir, add_quiet, show_progress
from tts_gym.evaluation.parallel import available_cores


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "held-out",
        help="evaluate a trained model on the held-out stores, once, and record it in a ledger",
        description=(
            "Play a model saved by `tts-gym train` on the eight held-out stores (autotts "
            f"protocol), write the table with the baselines to {REPORT_FILE} beside it and "
            f"append when, which model and what it scored to the ledger ({LEDGER_FILE} beside "
            "the model unless --ledger names another). A model the ledger holds already is "
            "refused unless --again: every read of held-out is counted."
        ),
    )
    parser.add_argument("model", metavar="DIR/model.zip")
    parser.add_argument("--ledger", metavar="FILE", help=f"default: {LEDGER_FILE} beside the model")
    parser.add_argument("--note", default="", help="why the model is read (kept in the ledger)")
    parser.add_argument("--again", action="store_true", help="read a model the ledger holds")
    parser.add_argument("--no-baselines", action="store_true", help="the model's row only")
    parser.add_argument("--orders", type=int, default=100, help="orders per question")
    parser.add_argument("--jobs", "-j", type=int, default=available_cores(), metavar="N")
    parser.add_argument(
        "--plot",
        metavar="FIGURE.png",
        help=f"read nothing: draw the ledger's models against the baselines of {REPORT_FILE}",
    )
    add_data_dir(parser)
    add_quiet(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tts_gym_agents.rl.heldout import (
        evaluate_held_out,
        ledger_path,
        plot_ledger,
        read_ledger,
    )

    if args.plot:
        print(f"wrote {plot_ledger(args.model, args.plot, args.ledger)}")
        return 0
    entry = evaluate_held_out(
        args.model,
        ledger=args.ledger,
        note=args.note,
        again=args.again,
        baselines=not args.no_baselines,
        n_orders=args.orders,
        jobs=args.jobs,
        data_dir=args.data_dir,
        progress=show_progress(args),
    )
    ledger = ledger_path(args.model, args.ledger)
    reads = len(read_ledger(ledger))
    print(
        f"{entry['name']} on the held-out stores: accuracy {entry['acc']:.2f}%, "
        f"{entry['tokens_k']:.1f}k tokens, {entry['seq_tokens_k']:.1f}k sequential "
        f"(average of {len(entry['per_store'])} stores); the ledger {ledger} now records "
        f"{reads} read{'s' if reads != 1 else ''}."
    )
    return 0
