"""The shipped RL controller vs the reference controllers on the held-out stores.

    python benchmarks/bench_rl.py [--model agents/rl/models/ppo-search/model.zip]
                                  [--stores held-out] [--orders 100] [--out FILE.json]

autotts protocol (the paper's 100 orders per question). Prints one markdown table (accuracy
in percent and mean tokens per question in thousands, per store and averaged over the
stores) and the wall time of the RL evaluation (batched forwards, questions spread over
`--jobs` processes), and writes the numbers as JSON (default: `heldout.json` beside the model).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tts_gym_agents.rl.policy import load_sb3_policy

from tts_gym.control.builtin import (
    AdaptiveConsistency,
    ConfidenceMomentum,
    EarlyStoppingConsistency,
    ParallelProbe,
    SelfConsistency,
)
from tts_gym.evaluation import Protocol, evaluate
from tts_gym.evaluation.evaluate import resolve_stores
from tts_gym.evaluation.parallel import available_cores
from tts_gym.store.files import atomic_write

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "agents/rl/models/ppo-search/model.zip"
BASELINES = [
    SelfConsistency(64),
    AdaptiveConsistency(),
    EarlyStoppingConsistency(),
    ParallelProbe(),
    ConfidenceMomentum(0.5),
    ConfidenceMomentum(1.0),
]

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
parser.add_argument("--stores", nargs="+", default=["held-out"])
parser.add_argument("--orders", type=int, default=100)
parser.add_argument("--out", type=Path, default=None)
parser.add_argument("--jobs", type=int, default=available_cores(), help="worker processes")
args = parser.parse_args()

protocol = Protocol("autotts", args.orders)
stores = resolve_stores(args.stores)
policy = load_sb3_policy(args.model)
names = [store.name for store in stores]
rows: dict[str, dict[str, tuple[float, float]]] = {}  # method -> store -> (acc %, tokens k)

started = time.perf_counter()
rl_cells = evaluate(policy, stores, protocol, jobs=args.jobs)  # batched through its play
rl_wall = time.perf_counter() - started

for cell in [*rl_cells, *evaluate(BASELINES, stores, protocol, jobs=args.jobs)]:
    rows.setdefault(cell.method, {})[cell.store.name] = (cell.acc, cell.tokens_k)

short = [name.removeprefix("autotts/").replace("qwen3-", "") for name in names]
print(f"| method | avg acc | avg tokens_k | {' | '.join(short)} |")
print(f"|---|---:|---:|{'---:|' * len(names)}")
summary = {}
for method, cells in rows.items():
    acc = float(np.mean([cells[name][0] for name in names]))
    tokens = float(np.mean([cells[name][1] for name in names]))
    summary[method] = {"acc": round(acc, 2), "tokens_k": round(tokens, 1)}
    per_store = " | ".join(f"{cells[n][0]:.1f} / {cells[n][1]:.0f}k" for n in names)
    print(f"| {method} | {acc:.2f} | {tokens:.1f} | {per_store} |")
episodes = sum(s.n_questions for s in stores) * args.orders
print(f"\nRL evaluation: {episodes:,} episodes in {rl_wall:.0f} s ({args.jobs} processes).")

out = args.out or args.model.parent / "heldout.json"
report = {
    "protocol": protocol.describe(),
    "stores": names,
    "summary": summary,
    "per_store": {m: {n: list(v) for n, v in cells.items()} for m, cells in rows.items()},
    "rl_eval_seconds": round(rl_wall, 1),
}
with atomic_write(out) as handle:
    handle.write((json.dumps(report, indent=2) + "\n").encode("utf-8"))
print(f"wrote {out}")
