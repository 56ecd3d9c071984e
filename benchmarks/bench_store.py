"""Loading the twelve AutoTTS stores: the store reader against the stdlib `json` path.

    python benchmarks/bench_store.py [--repeats 7] [--data-dir D]

Both sides read the same files in the same run, alternating, and both end in the same
validation (`parse_questions`): the reader (`tts_gym.store.replay.read_store`: size cap,
sha256, orjson, validation) and the path it replaced (`json.loads`, then validation, no
hashing). Prints the median seconds per side over repeats, their ratio, and the peak Python
memory (tracemalloc) of loading the largest store once each way.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from tts_gym.store import CATALOG, parse_questions
from tts_gym.store.paths import catalog_path
from tts_gym.store.replay import read_store

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--repeats", type=int, default=7)
parser.add_argument("--data-dir", help="data folder (default: $TTS_GYM_DATA, else the cache)")
args = parser.parse_args()

files = [catalog_path(entry, args.data_dir) for entry in CATALOG.values()]
missing = [str(path) for path in files if not path.is_file()]
if missing:
    raise SystemExit(f"missing stores ({', '.join(missing)}): run `tts-gym fetch --all`.")


def with_json(path: Path) -> object:
    return parse_questions(json.loads(path.read_bytes()), path)


SIDES: dict[str, Callable[[Path], object]] = {"reader": read_store, "json": with_json}


def seconds(load: Callable[[Path], object]) -> float:
    start = time.perf_counter()
    for path in files:
        load(path)
    return time.perf_counter() - start


def peak_mb(load: Callable[[Path], object], path: Path) -> float:
    tracemalloc.start()
    load(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


times: dict[str, list[float]] = {side: [] for side in SIDES}
for _ in range(args.repeats):
    for side, load in SIDES.items():
        times[side].append(seconds(load))
median = {side: statistics.median(values) for side, values in times.items()}
largest = max(files, key=lambda path: path.stat().st_size)
total_mb = sum(path.stat().st_size for path in files) / 2**20
print(f"twelve stores, {total_mb:.1f} MB; median of {args.repeats} repeats:")
for side in SIDES:
    print(
        f"  {side:>6}: {median[side]:.3f} s ({total_mb / median[side]:.0f} MB/s), "
        f"peak {peak_mb(SIDES[side], largest):.0f} MB loading {largest.name} "
        f"({largest.stat().st_size / 2**20:.1f} MB)"
    )
print(f"reader / json = {median['reader'] / median['json']:.2f}")
