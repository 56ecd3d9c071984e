"""Table 1 in seconds: 6 controllers x 12 stores x 30 questions x 100 orders (216,000 episodes).

    python benchmarks/bench_eval.py [--jobs N] [--repeats 1] [--stores ...] [--orders 100]

Prints the wall time of the whole table (the number the README quotes; target: at most 60 s
on 2 cores) and, per controller, episodes per second of CPU time in the workers, which does
not depend on how many cores there are or on what else the machine is running.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from tts_gym.evaluation import Protocol, Setting, evaluate_settings
from tts_gym.evaluation.paper import PAPER_TABLE1, agrees, table1_controllers, table1_stores
from tts_gym.evaluation.parallel import available_cores

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: all)")
parser.add_argument("--repeats", type=int, default=1)
parser.add_argument("--stores", nargs="+", default=table1_stores())
parser.add_argument("--orders", type=int, default=100)
args = parser.parse_args()

settings = [Setting(c, c.name) for c in table1_controllers()]
jobs = args.jobs or available_cores()
walls = []
for _ in range(args.repeats):
    started, cpu_started = time.perf_counter(), os.times()
    cells = evaluate_settings(settings, args.stores, Protocol("autotts", args.orders), jobs=jobs)
    walls.append(time.perf_counter() - started)
    cpu = os.times()
    worker_cpu = (cpu.children_user + cpu.children_system) - (
        cpu_started.children_user + cpu_started.children_system
    )

episodes = sum(cell.n_episodes for cell in cells)
print(
    f"{len(cells)} cells, {episodes:,} episodes, {jobs} processes on {os.cpu_count()} cores: "
    f"wall {statistics.median(walls):.1f} s (median of {args.repeats}; "
    f"min {min(walls):.1f}, max {max(walls):.1f}); CPU in the workers {worker_cpu:.1f} s"
)
print(f"{'controller':16s} {'episodes':>9s} {'CPU s':>8s} {'episodes/s/core':>16s}")
for setting in settings:
    mine = [cell for cell in cells if cell.method == setting.method]
    n = sum(cell.n_episodes for cell in mine)
    seconds = sum(cell.outcomes.seconds for cell in mine)
    print(f"{setting.method:16s} {n:>9,d} {seconds:>8.1f} {n / seconds:>16,.0f}")
checked = [
    agrees(cell.acc, PAPER_TABLE1[key][0]) and agrees(cell.tokens_k, PAPER_TABLE1[key][1])
    for cell in cells
    if (key := (cell.model, cell.benchmark, cell.method)) in PAPER_TABLE1
]
print(f"printed Qwen3-8B cells reproduced: {sum(checked)}/{len(checked)}")
