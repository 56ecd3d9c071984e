"""The price of the boundary: the discovery loop's evaluation of CMC, in process vs sandboxed.

    python benchmarks/bench_sandbox.py [--repeats 3] [--orders 20] [--stores search]

Plays CMC written as a standalone file (the discovery fixture) over the loop's default sweep
(5 betas x every question x 20 orders on the four search stores: 12,000 episodes) twice per
repeat: in one process with the harness's `play` (what the old sandbox worker did), and
as the loop does, through `evaluate_candidate` (the candidate in sandboxed processes that hold
only what their actions revealed, the parent applying every action, plus the replays in fresh
processes). Checks that both give the same answers, tokens and sequential tokens, and prints
the median wall times, their ratio (target: at most 3), the CPU time spent on each side and
the load average before and after (the ratio depends on it: the boundary uses two cores' worth
of CPU when it can get them).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from pathlib import Path

from tts_gym_agents.discovery.candidate import SweepSettings, evaluate_candidate, load_stores

from tts_gym.control import play
from tts_gym.control.loading import load_policy
from tts_gym.evaluation import Protocol
from tts_gym.sandbox import Limits

CMC_FILE = (
    Path(__file__).parents[1] / "tests" / "agents" / "discovery" / "fixtures" / "cmc_standalone.py"
)

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--repeats", type=int, default=3)
parser.add_argument("--orders", type=int, default=20)
parser.add_argument("--stores", nargs="+", default=["search"])
args = parser.parse_args()

stores = load_stores(args.stores)
settings = SweepSettings(protocol=Protocol("default", args.orders, 0), limits=Limits(3600, 3600))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


load_before = os.getloadavg()[0]
inside, inside_cpu, boundary, parent_cpu, sandbox_cpu = [], [], [], [], []
for _ in range(args.repeats):
    started, cpu = time.perf_counter(), time.process_time()
    reference = {
        (store.name, beta): play(
            load_policy(f"{CMC_FILE}:CMC", {"beta": beta}), store, settings.protocol
        )
        for store in stores
        for beta in settings.betas
    }
    inside.append(time.perf_counter() - started)
    inside_cpu.append(time.process_time() - cpu)

    started, cpu, children = time.perf_counter(), time.process_time(), children_cpu()
    evaluation = evaluate_candidate(CMC_FILE, "CMC", stores, settings)
    boundary.append(time.perf_counter() - started)
    parent_cpu.append(time.process_time() - cpu)
    sandbox_cpu.append(children_cpu() - children)
    assert evaluation.ok, evaluation.errors
    for key, outcomes in evaluation.outcomes.items():
        assert outcomes.answers == reference[key].answers
        assert (outcomes.tokens == reference[key].tokens).all()
        assert (outcomes.seq_tokens == reference[key].seq_tokens).all()

episodes = sum(o.tokens.size for o in evaluation.outcomes.values())
print(
    f"CMC (standalone file), {len(stores)} stores x {len(settings.betas)} betas x "
    f"{args.orders} orders: {episodes:,} episodes, {evaluation.replayed} replayed in fresh "
    f"processes; {os.cpu_count()} cores, load average {load_before:.1f} before, "
    f"{os.getloadavg()[0]:.1f} after"
)
print(
    f"in process  : wall {statistics.median(inside):6.1f} s (median of {args.repeats}: "
    + ", ".join(f"{t:.1f}" for t in inside)
    + ")"
)
print(
    f"boundary    : wall {statistics.median(boundary):6.1f} s (median of {args.repeats}: "
    + ", ".join(f"{t:.1f}" for t in boundary)
    + ")"
)
print(
    f"ratio       : {statistics.median(boundary) / statistics.median(inside):.2f}x "
    f"(per repeat: "
    + ", ".join(f"{b / i:.2f}" for b, i in zip(boundary, inside, strict=True))
    + "; target <= 3)"
)
print(
    f"CPU         : in process {statistics.median(inside_cpu):.1f} s; boundary: parent "
    f"{statistics.median(parent_cpu):.1f} s, sandboxed processes "
    f"{statistics.median(sandbox_cpu):.1f} s (medians)"
)
