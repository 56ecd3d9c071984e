"""The time the shipped RL controller's training command takes, and where it goes.

    python benchmarks/bench_rl.py [--model agents/rl/models/ppo-search/model.zip]
                                  [--vec-env core|subproc] [--timesteps N] [--run DIR]

Runs the training that produced the model (its `config.json`; `record.json` has the
command) on `--vec-env` into `--run` (default: a temporary folder), and prints its wall time
as the run records it (training, without the final evaluation), the process's CPU time, the
load average before and after, where the time went (env steps, PPO updates, the rest: rollout
forwards, SB3's bookkeeping, validation), and its validation accuracy and tokens beside the
shipped run's. It reads no held-out store: the model's held-out table is `tts-gym held-out`'s
(one recorded read per model, docs/rl.md).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tts_gym_agents.rl.config import VEC_ENVS, TrainConfig

from tts_gym.store.files import atomic_write

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "agents/rl/models/ppo-search/model.zip"


def timed(owner: type, name: str, seconds: dict[str, float], key: str) -> None:
    """Add the wall time of every call of `owner.name` to `seconds[key]`."""
    method: Callable = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            seconds[key] += time.perf_counter() - started

    setattr(owner, name, wrapper)


def training_time(args: argparse.Namespace) -> None:
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.vec_env import SubprocVecEnv
    from tts_gym_agents.rl.train import train
    from tts_gym_agents.rl.vec_env import MacroVecEnv

    shipped = args.model.parent
    config = TrainConfig.load(shipped).replace(vec_env=args.vec_env)
    if args.timesteps:
        config = config.replace(timesteps=args.timesteps)
    seconds: dict[str, float] = defaultdict(float)
    for owner in (MacroVecEnv, SubprocVecEnv):
        timed(owner, "step_wait", seconds, "env")
        timed(owner, "reset", seconds, "env")
    timed(MaskablePPO, "train", seconds, "updates")

    run = Path(args.run or tempfile.mkdtemp(prefix="bench-rl-"))
    load_before = os.getloadavg()
    cpu = time.process_time()
    record = train(config, run)
    cpu = time.process_time() - cpu  # this process; subproc workers are not counted
    load_after = os.getloadavg()
    wall = record["wall_seconds"]
    rest = wall - seconds["env"] - seconds["updates"]
    shipped_record = json.loads((shipped / "record.json").read_text())
    report = {
        "command": config.command(run),
        "vec_env": config.vec_env,
        "timesteps": record["timesteps"],
        "wall_seconds": wall,
        "cpu_seconds_main_process": round(cpu, 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "env_seconds": round(seconds["env"], 1),
        "ppo_update_seconds": round(seconds["updates"], 1),
        "other_seconds": round(rest, 1),
        "validation": record["validation"],
        "shipped_validation": shipped_record["validation"],
        "shipped_wall_seconds": shipped_record["wall_seconds"],
    }
    print(f"{report['command']}")
    print(
        f"trained {record['timesteps']:,} macro decisions in {wall:.0f} s wall "
        f"({cpu:.0f} s CPU in this process); load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after"
    )
    print(
        f"  env steps {seconds['env']:.0f} s ({100 * seconds['env'] / wall:.0f}%), "
        f"PPO updates {seconds['updates']:.0f} s ({100 * seconds['updates'] / wall:.0f}%), "
        f"rollout forwards, SB3 and validation {rest:.0f} s ({100 * rest / wall:.0f}%)"
    )
    for label, valid in (
        ("this run", record["validation"]),
        ("shipped", report["shipped_validation"]),
    ):
        print(
            f"  validation ({label}): accuracy {valid['acc']:.1f}%, "
            f"{valid['tokens_k']:.1f}k tokens, reward {valid['reward']:.4f}"
        )
    with atomic_write(run / "bench.json") as handle:
        handle.write((json.dumps(report, indent=2) + "\n").encode("utf-8"))
    print(f"wrote {run / 'bench.json'}")


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
parser.add_argument("--vec-env", choices=VEC_ENVS, default="core")
parser.add_argument("--timesteps", type=int, default=None, help="fewer decisions (a quick check)")
parser.add_argument("--run", type=Path, default=None, help="run folder of --train")
training_time(parser.parse_args())
