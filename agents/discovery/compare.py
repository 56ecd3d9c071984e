"""`tts-gym discover compare RUN RUN ...`: discovery runs side by side.

For every run, round by round: the best area score so far against the dollars spent and the
wall minutes used up to that round, whether the round was accepted (and why not), how many
of its candidates were; per run, the proposer and model, the two ablation settings of the
paper (`--feedback`, `--free-knobs`) and the held-out score where `--final` was run. Every
figure is read from the run's ledger and verdicts, checked as `--resume` checks them:
dollars are the ledger's priced calls of each round (a killed attempt's included), minutes
the rounds' own wall time (`round_end` seconds), scores the round verdicts'.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tts_gym_agents.discovery.archive import CONFIG, COST_EVENTS, RunFolder
from tts_gym_agents.discovery.feedback import first_error
from tts_gym_agents.discovery.loop import DiscoveryConfig

from tts_gym.errors import TTSGymError
from tts_gym.store.files import from_json, read_json_object, write_file

FINAL_VERDICT = "final/verdict.json"


@dataclass(frozen=True)
class RunSummary:
    run: str
    proposer: str
    model: str
    feedback: str
    free_knobs: bool
    candidates: int
    rounds: int
    best: float | None  # the best search score
    dollars: float  # every priced call of the run
    minutes: float  # the completed rounds' wall time
    stop: str | None  # why the last session stopped (None: still running, or killed)
    held_out: float | None  # the held-out score of `--final`

    @property
    def label(self) -> str:
        knobs = ", free knobs" if self.free_knobs else ""
        several = f", {self.candidates} candidates" if self.candidates > 1 else ""
        return f"{self.run}: {self.proposer} {self.model}, {self.feedback} feedback{knobs}{several}"


@dataclass(frozen=True)
class RoundRow:
    run: str
    round: int
    result: str  # accepted / rejected
    why: str  # the kept candidate's first error when rejected
    accepted: int  # candidates accepted
    candidates: int
    score: float | None  # the round's kept score
    best: float | None  # the best score up to this round
    dollars: float  # spent up to this round (cumulative)
    minutes: float  # wall minutes up to this round (cumulative)


def read_run(root: Path) -> tuple[RunSummary, list[RoundRow]]:
    """A run's summary and its rounds, from its ledger and verdicts."""
    folder = RunFolder.at(root)
    folder.check()
    config = from_json(DiscoveryConfig, folder.config, str(root / CONFIG))
    events = folder.events()
    paid: dict[int, float] = {}
    seconds: dict[int, float] = {}
    for event in events:
        number = event.get("round")
        if event["event"] in COST_EVENTS and number is not None:
            paid[number] = paid.get(number, 0.0) + event["dollars"]
        if event["event"] == "round_end" and number is not None:
            seconds[number] = seconds.get(number, 0.0) + event.get("seconds", 0.0)
    rows, best, dollars, minutes = [], None, 0.0, 0.0
    for verdict in folder.verdicts():
        number = verdict["round"]
        listed = verdict.get("candidates") or [verdict]
        dollars += paid.get(number, 0.0)
        minutes += seconds.get(number, 0.0) / 60
        score = verdict.get("score") if verdict["ok"] else None
        if score is not None and (best is None or score > best):
            best = score
        rows.append(
            RoundRow(
                run=root.name,
                round=number,
                result="accepted" if verdict["ok"] else "rejected",
                why="" if verdict["ok"] else (first_error(verdict) or "rejected"),
                accepted=sum(1 for entry in listed if entry.get("ok")),
                candidates=len(listed),
                score=score,
                best=best,
                dollars=dollars,
                minutes=minutes,
            )
        )
    stops = [e for e in events if e["event"] in ("stop", "round_start", "resume")]
    final = root / FINAL_VERDICT
    held_out = read_json_object(final, "held-out verdict").get("score") if final.is_file() else None
    summary = RunSummary(
        run=root.name,
        proposer=config.proposer,
        model=str(config.model),
        feedback=config.feedback,
        free_knobs=config.free_knobs,
        candidates=config.candidates,
        rounds=len(rows),
        best=best,
        dollars=folder.dollars_spent(events),
        minutes=minutes,
        stop=stops[-1].get("reason") if stops and stops[-1]["event"] == "stop" else None,
        held_out=held_out if isinstance(held_out, (int, float)) else None,
    )
    return summary, rows


def read_runs(roots: Sequence[Path]) -> list[tuple[RunSummary, list[RoundRow]]]:
    names = [root.name for root in roots]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise TTSGymError(f"two runs are named {repeated[0]}; compare runs with distinct names.")
    return [read_run(root) for root in roots]


def table_rows(runs: Sequence[tuple[RunSummary, list[RoundRow]]]) -> list[dict[str, Any]]:
    """One CSV/JSON row per round of every run, the run's settings beside it."""
    rows = []
    for summary, rounds in runs:
        settings = {
            "proposer": summary.proposer,
            "model": summary.model,
            "feedback": summary.feedback,
            "free_knobs": summary.free_knobs,
            "held_out": summary.held_out,
        }
        for row in rounds:
            rows.append({**asdict(row), **settings})
    return rows


def print_tables(runs: Sequence[tuple[RunSummary, list[RoundRow]]]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    runs_table = Table(title="discovery runs", box=box.SIMPLE_HEAD)
    for column in ("run", "proposer", "model", "feedback", "free knobs", "candidates"):
        runs_table.add_column(column, no_wrap=True)
    for column in ("rounds", "best score", "dollars", "minutes", "stop", "held-out score"):
        runs_table.add_column(column, justify="right")
    for s, _ in runs:
        runs_table.add_row(
            s.run,
            s.proposer,
            s.model,
            s.feedback,
            "yes" if s.free_knobs else "no",
            str(s.candidates),
            str(s.rounds),
            _signed(s.best),
            f"{s.dollars:.2f}",
            f"{s.minutes:.1f}",
            s.stop or "-",
            _signed(s.held_out),
        )
    console.print(runs_table)
    rounds_table = Table(title="round by round", box=box.SIMPLE_HEAD)
    for column in ("run", "round", "result", "accepted", "score", "best so far"):
        rounds_table.add_column(column, no_wrap=True)
    for column in ("dollars", "minutes"):
        rounds_table.add_column(column, justify="right")
    rounds_table.add_column("why rejected")
    for _, rows in runs:
        for r in rows:
            rounds_table.add_row(
                r.run,
                str(r.round),
                r.result,
                f"{r.accepted}/{r.candidates}",
                _signed(r.score),
                _signed(r.best),
                f"{r.dollars:.2f}",
                f"{r.minutes:.1f}",
                r.why[:80],
            )
        rounds_table.add_section()
    console.print(rounds_table)


def compare_plot(runs: Sequence[tuple[RunSummary, list[RoundRow]]], path: str | Path) -> Path:
    """Best score so far against dollars (left) and wall minutes (right), a line per run;
    rounds as dots (accepted) or crosses (rejected)."""
    try:
        from matplotlib import colormaps
        from matplotlib.figure import Figure
    except ImportError:
        raise TTSGymError("plots need matplotlib: pip install 'tts-gym[plot]'.") from None

    figure = Figure(figsize=(11, 4.6))
    axes = figure.subplots(1, 2, squeeze=False)[0]
    for i, (summary, rows) in enumerate(runs):
        colour = colormaps["tab10"](i % 10)
        label = summary.label
        if summary.held_out is not None:
            label += f" (held out {summary.held_out:+.4f})"
        for ax, cost in zip(axes, ("dollars", "minutes"), strict=True):
            points = [(getattr(r, cost), r.best, r.result) for r in rows if r.best is not None]
            if points:
                xs, ys, _ = zip(*points, strict=True)
                ax.step(xs, ys, where="post", color=colour, label=label)
            for x, y, result in points:
                ax.plot(x, y, "o" if result == "accepted" else "x", color=colour, markersize=6)
    for ax, label in zip(axes, ("dollars spent", "wall minutes"), strict=True):
        ax.axhline(0.0, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel(label)
        ax.set_ylabel("best area score so far")
        ax.grid(True, alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="lower center", ncol=1, fontsize=8)
    figure.suptitle(
        "Discovery runs compared (dots: accepted rounds, crosses: rejected; "
        "above 0 beats the baselines)"
    )
    figure.tight_layout(rect=(0, 0.06 + 0.045 * len(labels), 1, 1))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return write_file(path, buffer.getvalue())


def _signed(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:+.4f}"
