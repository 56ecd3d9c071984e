"""`tts-gym collect`: build a replay store (AutoTTS format + per-segment confidence) from a model.

Option names are `CollectConfig` field names, defaults are its defaults. The heavy libraries
(torch, transformers, math-verify, vLLM) are imported only when the command runs.
"""

from __future__ import annotations

import argparse
from dataclasses import fields

from tts_gym.cli.options import add_quiet, default_of, show_progress
from tts_gym.cli.outputs import add_inputs, add_output
from tts_gym.collect.backends import BACKENDS
from tts_gym.collect.cluster import ClusterConfig
from tts_gym.collect.collector import CollectConfig, collect
from tts_gym.collect.errors import CollectError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "collect",
        help="build a replay store from a model (vLLM or transformers)",
        description=(
            "Sample N reasoning traces per question, probe the answer every D tokens (--interval), "
            "record per-segment token confidence, and write an AutoTTS replay store plus a "
            "STORE.meta.json sidecar, in this process or over Ray workers (--ray). "
            "See docs/collect.md."
        ),
    )
    parser.add_argument("--model", required=True, metavar="PATH_OR_NAME", help="model to sample")
    parser.add_argument(
        "--questions",
        required=True,
        metavar="FILE.jsonl",
        help="JSON Lines with 'question', 'answer' and an optional 'id' per line",
    )
    add_output(parser, "--out", required=True, metavar="STORE.json", help="store to write")
    add_inputs(parser, "input", "questions")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=default_of(CollectConfig, "backend"),
        help="vllm (GPU) or transformers (CPU; small models and tests) "
        f"(default: {default_of(CollectConfig, 'backend')})",
    )
    number = _number_arguments(parser)
    number("--n", int, "N", "traces per question")
    number("--interval", int, "D", "probe every D generated tokens (the store's probe_freq)")
    number("--max-tokens", int, "T", "longest trace in tokens")
    number("--temperature", float, "X", "sampling temperature")
    number("--top-p", float, "P", "nucleus sampling mass")
    number("--seed", int, "S", "run seed; each question's seed derives from it and its index")
    number("--probe-tokens", int, "T", "greedy tokens decoded per probe")
    number("--top-logprobs", int, "K", "k of the top-k log-probabilities behind the confidence")
    number("--confidence-window", int, "W", "sliding window of the group confidence, in tokens")
    number("--tail-window", int, "W", "last tokens of the tail confidence")
    number("--batch-questions", int, "Q", "questions whose sampling (and probes) go out together")
    number("--tensor-parallel-size", int, "N", "GPUs per model (vllm only, without --ray)")
    ray = parser.add_argument_group("Ray (pip install 'tts-gym[ray]')")
    ray.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="spread the questions over Ray workers: the cluster at ADDRESS ('auto': the one "
        "running here), else $RAY_ADDRESS, else a new local instance",
    )
    ray.add_argument(
        "--workers",
        type=int,
        default=default_of(ClusterConfig, "workers"),
        metavar="N",
        help="Ray workers, each owning one backend (default: as many as the cluster fits)",
    )
    ray.add_argument(
        "--gpus-per-worker",
        type=float,
        default=default_of(ClusterConfig, "gpus_per_worker"),
        metavar="G",
        help="GPUs per worker, its tensor parallel size with vllm (default: 1 for vllm, "
        "0 for transformers)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run: skip the questions it finished",
    )
    add_quiet(parser)
    parser.set_defaults(func=run)


def _number_arguments(parser: argparse.ArgumentParser):
    def add(flag: str, kind: type, metavar: str, text: str) -> None:
        default = default_of(CollectConfig, flag[2:].replace("-", "_"))
        parser.add_argument(
            flag, type=kind, default=default, metavar=metavar, help=f"{text} (default: {default})"
        )

    return add


def run(args: argparse.Namespace) -> int:
    config = CollectConfig(
        **{field.name: getattr(args, field.name) for field in fields(CollectConfig)}
    )
    cluster = None
    if args.ray is not None:
        cluster = ClusterConfig(args.ray or None, args.workers, args.gpus_per_worker)
    elif args.workers is not None or args.gpus_per_worker is not None:
        raise CollectError("--workers and --gpus-per-worker go with --ray.")
    result = collect(
        args.questions,
        args.out,
        config,
        resume=args.resume,
        cluster=cluster,
        progress=show_progress(args),
    )
    if result.collected == 0:
        print(f"{result.store} is already complete ({result.questions} questions).")
    else:
        print(
            f"wrote {result.store}: {result.questions} of {result.total} questions "
            f"({result.collected} this run), final answers correct {result.final_accuracy:.1%}; "
            f"metadata in {result.metadata}."
            + (
                f" {result.retried} questions were run again after their worker died."
                if result.retried
                else ""
            )
        )
    return 0
