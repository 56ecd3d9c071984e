"""Table 1 in seconds: 6 controllers x 12 stores x 30 questions x 100 orders (216,000 episodes).

    python benchmarks/bench_eval.py [--repeats 3] [--jobs N] [--no-python] [--stores ...]

Every run is a fresh process, as `tts-gym reproduce` is: the compiled engine cold (an empty
JIT cache: `NUMBA_CACHE_DIR` is a new temporary folder, so the run compiles the kernels) and
warm (the cache filled by an untimed run), medians over `--repeats`; then the Python engine
once, in the same session, as the baseline. Prints per run the wall time of `evaluate`
(store loading, compiling, playing, scoring) and of the whole process (interpreter start and
imports too), the process's CPU time (all threads and workers), and per controller the
episodes per CPU second (compiled: the controller's kernel alone on one thread; python: CPU
in the workers), which depend little on the number of cores or on what else the machine runs
(the load average is printed beside them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

STARTED = time.perf_counter()


def child(engine: str, jobs: int | None, stores: list[str], n_orders: int) -> None:
    """One timed Table 1 run in this process; prints its figures as one JSON line."""
    from tts_gym.evaluation import Protocol, Setting, evaluate_settings
    from tts_gym.evaluation.paper import PAPER_TABLE1, agrees, table1_controllers

    imported = time.perf_counter()
    settings = [Setting(c, c.name) for c in table1_controllers()]
    cells = evaluate_settings(
        settings, stores, Protocol("autotts", n_orders), jobs=jobs, engine=engine
    )
    done = time.perf_counter()
    times = os.times()
    cpu = times.user + times.system + times.children_user + times.children_system
    per_method: dict[str, list[float]] = {}
    for cell in cells:  # python: CPU seconds in the workers
        episodes, seconds = per_method.setdefault(cell.method, [0, 0.0])
        per_method[cell.method] = [episodes + cell.n_episodes, seconds + cell.outcomes.seconds]
    if engine == "compiled":  # one thread, kernels loaded: CPU seconds of each controller alone
        per_method = {s.method: [per_method[s.method][0], cpu_seconds(s.policy, stores, n_orders)]
                      for s in settings}  # fmt: skip
    printed = [
        agrees(cell.acc, PAPER_TABLE1[key][0]) and agrees(cell.tokens_k, PAPER_TABLE1[key][1])
        for cell in cells
        if (key := (cell.model, cell.benchmark, cell.method)) in PAPER_TABLE1
    ]
    result = {
        "after": time.perf_counter() - done,  # the figures below: not part of the run
        "imports": imported - STARTED,
        "evaluate": done - imported,
        "cpu": cpu,  # the whole process up to the scores, threads and workers included
        "cells": len(cells),
        "episodes": sum(cell.n_episodes for cell in cells),
        "per_method": per_method,
        "printed": [sum(printed), len(printed)],
        "rows": [cell.row() for cell in cells],
    }
    print(json.dumps(result))


def cpu_seconds(controller, stores: list[str], n_orders: int) -> float:
    from tts_gym.control.builtin.compiled import play
    from tts_gym.evaluation import Protocol, resolve_stores
    from tts_gym.evaluation.compiled import order_arrays
    from tts_gym.store.tables import StoreTables

    loaded = resolve_stores(stores)
    tables, (orders, lengths) = (
        StoreTables.build(loaded),
        order_arrays(loaded, Protocol("autotts", n_orders)),
    )
    started = time.process_time()
    play(controller, tables, orders, lengths)
    return time.process_time() - started


def run(engine: str, cache: str, args: argparse.Namespace) -> dict:
    """A fresh process running `child`; adds its wall time up to the scores as `process`."""
    command = [sys.executable, __file__, "--child", engine, "--orders", str(args.orders)]
    command += ["--stores", *args.stores] + (["--jobs", str(args.jobs)] if args.jobs else [])
    started = time.perf_counter()
    output = subprocess.run(
        command, env={**os.environ, "NUMBA_CACHE_DIR": cache}, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if output.returncode:
        sys.exit(f"the {engine} run failed:\n{output.stderr}")
    result = json.loads(output.stdout.splitlines()[-1])
    return {**result, "process": wall - result["after"]}


def main() -> None:
    from tts_gym.evaluation.paper import table1_stores
    from tts_gym.evaluation.parallel import available_cores

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="cold and warm runs each")
    parser.add_argument("--jobs", type=int, default=None, help="threads / worker processes")
    parser.add_argument("--no-python", dest="python", action="store_false")
    parser.add_argument("--stores", nargs="+", default=table1_stores())
    parser.add_argument("--orders", type=int, default=100)
    parser.add_argument("--child", choices=("compiled", "python"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.jobs, args.stores, args.orders)
        return

    load_before = os.getloadavg()
    runs: dict[str, list[dict]] = {"compiled cold": [], "compiled warm": [], "python": []}
    with tempfile.TemporaryDirectory() as warm_cache:
        run("compiled", warm_cache, args)  # fills the cache, untimed
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as cold_cache:
                runs["compiled cold"].append(run("compiled", cold_cache, args))
            runs["compiled warm"].append(run("compiled", warm_cache, args))
        if args.python:
            runs["python"].append(run("python", warm_cache, args))
    runs = {name: results for name, results in runs.items() if results}
    load_after = os.getloadavg()

    first = runs["compiled warm"][0]
    jobs = args.jobs or available_cores()
    print(
        f"{first['cells']} cells, {first['episodes']:,} episodes; {jobs} threads (compiled) or "
        f"processes (python) on {os.cpu_count()} cores; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    print(
        f"{'run':14s} {'evaluate s':>11s} {'process s':>10s} {'min-max process s':>18s} "
        f"{'process CPU s':>14s}  printed"
    )
    for name, results in runs.items():
        evaluate = statistics.median(r["evaluate"] for r in results)
        process = [r["process"] for r in results]
        spread = f"{min(process):.1f}-{max(process):.1f}"
        printed = "/".join(map(str, results[0]["printed"]))
        cpu = statistics.median(r["cpu"] for r in results)
        print(
            f"{name:14s} {evaluate:>11.2f} {statistics.median(process):>10.2f} {spread:>18s} "
            f"{cpu:>14.2f}  {printed}   (median of {len(results)})"
        )
    if "python" in runs:
        same = all(r["rows"] == runs["python"][0]["rows"] for r in runs["compiled warm"])
        ratio = runs["python"][0]["evaluate"] / statistics.median(
            r["evaluate"] for r in runs["compiled warm"]
        )
        print(f"identical rows, compiled and python: {same}; python / compiled warm: {ratio:.0f}x")
    print(f"\n{'controller':16s} {'episodes':>9s}", end="")
    for name in ("compiled warm", "python"):
        if name in runs:
            print(f" {name + ' CPU s':>18s} {'episodes/s':>11s}", end="")
    print()
    for method, (episodes, _) in first["per_method"].items():
        print(f"{method:16s} {episodes:>9,d}", end="")
        for name in ("compiled warm", "python"):
            if name in runs:
                seconds = statistics.median(r["per_method"][method][1] for r in runs[name])
                print(f" {seconds:>18.2f} {episodes / seconds:>11,.0f}", end="")
        print()


if __name__ == "__main__":
    main()
