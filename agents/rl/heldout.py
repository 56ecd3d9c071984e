"""Held-out evaluation of a trained model: read once, on purpose, and written in a ledger.

Nothing that trains or selects reads a held-out store (`split.py`, `validation.py`). A model's
held-out numbers come from `tts-gym held-out DIR/model.zip` alone, which plays it on the eight
held-out stores (autotts protocol: the paper's 100 orders per question), writes the table with
the baselines to `heldout.json` beside the model, and appends one entry to the ledger
(`heldout_ledger.jsonl` beside the model, or the one `--ledger` names): when, which model (its
path, sha256 and training settings), why (`note`), and what it scored. A model already in the
ledger is refused unless asked again (`again`), so the ledger counts every read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from tts_gym.control.builtin import (
    AdaptiveConsistency,
    ConfidenceMomentum,
    EarlyStoppingConsistency,
    ParallelProbe,
    SelfConsistency,
)
from tts_gym.errors import TTSGymError
from tts_gym.evaluation import Protocol, evaluate
from tts_gym.evaluation.evaluate import Cell
from tts_gym.store import select_stores
from tts_gym.store.files import atomic_write, sha256_file, write_json

LEDGER_FILE = "heldout_ledger.jsonl"
REPORT_FILE = "heldout.json"
HELD_OUT = "held-out"
BASELINES = (
    SelfConsistency(64),
    AdaptiveConsistency(),
    EarlyStoppingConsistency(),
    ParallelProbe(),
    *(ConfidenceMomentum(beta) for beta in (0.0, 0.25, 0.5, 0.75, 1.0)),
)
"""The table's baselines: Table 1's six and CMC's curve (beta 0 to 1)."""


def ledger_path(model: str | Path, ledger: str | Path | None = None) -> Path:
    """`ledger`, or the ledger beside the model (`model` a model file or its run folder)."""
    if ledger is not None:
        return Path(ledger)
    model = Path(model)
    return (model if model.is_dir() else model.parent) / LEDGER_FILE


def read_ledger(path: str | Path) -> list[dict[str, Any]]:
    """The ledger's entries, oldest first ([] if there is none yet)."""
    path = Path(path)
    if not path.is_file():
        return []
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                raise TTSGymError(f"the ledger {path}: line {number} is not JSON.") from None
            if not isinstance(entry, dict):
                raise TTSGymError(f"the ledger {path}: line {number} is not an object.")
            entries.append(entry)
    return entries


def append_to_ledger(path: str | Path, entry: dict[str, Any]) -> None:
    """Add `entry` as the ledger's last line (the whole file rewritten atomically)."""
    lines = [json.dumps(e, sort_keys=False) for e in [*read_ledger(path), entry]]
    with atomic_write(path) as handle:
        handle.write(("\n".join(lines) + "\n").encode("utf-8"))


def evaluate_held_out(
    model: str | Path,
    *,
    ledger: str | Path | None = None,
    note: str = "",
    again: bool = False,
    baselines: bool = True,
    n_orders: int = 100,
    jobs: int | None = None,
    data_dir: str | None = None,
    progress: bool = False,
    stores: Sequence[str] = (HELD_OUT,),
) -> dict[str, Any]:
    """Play the model on the held-out stores, write `heldout.json` beside it and append the
    ledger entry, which is returned. Refuses a model the ledger already holds unless `again`.
    (`stores` is for tests, on synthetic stores; the command reads the held-out group.)
    """
    from tts_gym_agents.rl.config import TrainConfig
    from tts_gym_agents.rl.policy import MODEL_FILE, load_sb3_policy

    model = Path(model)
    model_file = model / MODEL_FILE if model.is_dir() else model
    ledger = ledger_path(model, ledger)
    digest = sha256_file(model_file) if model_file.is_file() else ""
    earlier = [e for e in read_ledger(ledger) if e.get("sha256") == digest]
    if earlier and not again:
        raise TTSGymError(
            f"{model_file} was read on the held-out stores before ({earlier[-1]['when']}, "
            f"{ledger}); held-out is read once per model (--again records another read)."
        )
    policy = load_sb3_policy(model_file)
    config = TrainConfig.load(model_file.parent)
    stores = select_stores(list(stores), data_dir)
    protocol = Protocol("autotts", n_orders)
    started = time.perf_counter()
    cells = evaluate(policy, stores, protocol, jobs=jobs, progress=progress)
    seconds = time.perf_counter() - started
    table = {policy.name: _per_store(cells)}
    if baselines:
        for cell in evaluate(list(BASELINES), stores, protocol, jobs=jobs, progress=progress):
            table.setdefault(cell.method, {})[cell.store.name] = _cell(cell)
    summary = {method: _average(rows) for method, rows in table.items()}
    write_json(
        model_file.parent / REPORT_FILE,
        {
            "protocol": protocol.describe(),
            "stores": [store.name for store in stores],
            "summary": summary,
            "per_store": table,
            "rl_eval_seconds": round(seconds, 1),
        },
    )
    entry = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": str(model_file),
        "sha256": digest,
        "name": policy.name,
        "token_penalty": config.token_penalty,
        "latency_penalty": config.latency_penalty,
        "seed": config.seed,
        "fold": config.fold,
        "read": len(earlier) + 1,
        "note": note,
        "protocol": protocol.describe(),
        **summary[policy.name],
        "per_store": table[policy.name],
    }
    append_to_ledger(ledger, entry)
    return entry


def _cell(cell: Cell) -> dict[str, float]:
    return {
        "acc": round(cell.acc, 4),
        "tokens_k": round(cell.tokens_k, 2),
        "seq_tokens_k": round(cell.seq_tokens_k, 2),
    }


def _per_store(cells: Sequence[Cell]) -> dict[str, dict[str, float]]:
    return {cell.store.name: _cell(cell) for cell in cells}


def _average(rows: dict[str, dict[str, float]]) -> dict[str, float]:
    """Mean over the stores (each store weighs the same, as in the paper's tables)."""
    return {
        key: round(float(np.mean([row[key] for row in rows.values()])), 2)
        for key in ("acc", "tokens_k", "seq_tokens_k")
    }


def plot_ledger(model: str | Path, path: str | Path, ledger: str | Path | None = None) -> Path:
    """Draw the ledger's reads against the baselines of the model's `heldout.json`: accuracy
    against total and against sequential tokens (means over the held-out stores, log scale).

    The RL points are grouped by training settings (token and latency penalty): a group's
    mean, with the spread of its seeds as error bars; the token-penalty groups are joined as
    the RL curve; the model in `model` is starred. Past entries (`past`: models chosen before
    the ledger) are grey crosses. Reads only the two files, no store.
    """
    import io

    from matplotlib.figure import Figure
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    from tts_gym.store.files import read_json_object, write_file

    model = Path(model)
    model_file = model / "model.zip" if model.is_dir() else model
    report = read_json_object(model_file.parent / REPORT_FILE, "held-out report")
    entries = read_ledger(ledger_path(model, ledger))
    shipped = sha256_file(model_file)
    figure = Figure(figsize=(11, 4.6))
    axes = figure.subplots(1, 2)
    for ax, (cost, label) in zip(axes, _COST_AXES, strict=True):
        _draw_baselines(ax, report["summary"], cost)
        _draw_reads(ax, entries, shipped, cost)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))  # 20, 50, 100, ... thousand
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(label)
        ax.set_ylabel("accuracy (%), mean of the held-out stores")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=4, fontsize=8)
    figure.suptitle("RL controllers on the eight held-out stores (autotts protocol)")
    figure.tight_layout(rect=(0, 0.12, 1, 1))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    return write_file(path, buffer.getvalue())


_COST_AXES = (("tokens_k", "tokens per question (thousands)"),
              ("seq_tokens_k", "sequential tokens per question (thousands)"))  # fmt: skip


def _draw_baselines(ax: Any, summary: dict[str, dict[str, float]], cost: str) -> None:
    cmc = sorted(
        (row[cost], row["acc"]) for name, row in summary.items() if name.startswith("CMC(")
    )
    if cmc:
        ax.plot(*zip(*cmc, strict=True), "s-", color="tab:orange", label="CMC (beta 0 to 1)")
    others = [n for n in summary if not n.startswith(("CMC(", "MaskablePPO"))]
    for k, name in enumerate(others):
        row = summary[name]
        ax.plot(row[cost], row["acc"], "D", color=f"C{(k + 2) % 10}", label=name)


def _draw_reads(ax: Any, entries: Sequence[dict[str, Any]], shipped: str, cost: str) -> None:
    past = [e for e in entries if e.get("past")]
    if past:
        xs, ys = [e[cost] for e in past if e.get(cost)], [e["acc"] for e in past if e.get(cost)]
        ax.plot(xs, ys, "x", color="grey", label="retired models (chosen with held-out)")
    groups: dict[tuple[float, float], list[dict[str, Any]]] = {}
    for entry in entries:
        if not entry.get("past"):
            groups.setdefault((entry["token_penalty"], entry["latency_penalty"]), []).append(entry)
    curve = []
    for (_, latency), group in sorted(groups.items()):
        x = float(np.mean([e[cost] for e in group]))
        y = float(np.mean([e["acc"] for e in group]))
        accs = [e["acc"] for e in group]
        colour = "tab:blue" if latency == 0 else "tab:purple"
        ax.errorbar(x, y, yerr=[[y - min(accs)], [max(accs) - y]], fmt="o", color=colour,
                    capsize=3)  # fmt: skip
        if latency == 0:
            curve.append((x, y))
        else:
            ax.annotate(f"latency {latency:g}", (x, y), fontsize=7)
    if curve:
        ax.plot(*zip(*sorted(curve), strict=True), "-", color="tab:blue",
                label="MaskablePPO, token-penalty sweep (mean, seeds' range)")  # fmt: skip
    for entry in entries:
        if entry.get("sha256") == shipped:
            ax.plot(entry[cost], entry["acc"], "*", markersize=14, color="gold",
                    markeredgecolor="black", label="shipped model")  # fmt: skip
            break
