"""`tts-gym discover --final RUN`: the chosen controller, once, on the held-out stores.

The only step of a run that reads held-out stores. It evaluates the best round's controller
in the sandbox (same rules and checks) and the built-in controllers (CMC's beta sweep
included) under the same protocol, and writes `final/`: `report.md` (tables, area scores, the
round-by-round trajectory; sequential tokens beside tokens), `heldout.csv`, `verdict.json`,
`pareto.png` (accuracy vs total and vs sequential tokens per held-out store against the
baselines) and `trajectory.png` (each round's search accuracy and
tokens at the highest beta, and the chosen controller's held-out point, like the paper's
Figure 4). The folder is written aside and renamed into place, so it exists only complete.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import io
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tts_gym_agents.discovery.archive import CONFIG, RunArchive
from tts_gym_agents.discovery.candidate import Evaluation, evaluate_candidate, load_stores
from tts_gym_agents.discovery.feedback import in_thousands, score_line, top_point
from tts_gym_agents.discovery.loop import DiscoveryConfig
from tts_gym_agents.discovery.prompts import CONTROLLER_CLASS
from tts_gym_agents.discovery.scoring import (
    SEARCH_BASELINES,
    BaselineResult,
    area_scores,
    baseline_cells,
    cmc_baselines,
    overall,
)

from tts_gym.errors import TTSGymError
from tts_gym.evaluation.evaluate import Cell
from tts_gym.evaluation.plots import pareto_plot
from tts_gym.evaluation.protocols import Protocol
from tts_gym.sandbox import Limits, require_core_layers
from tts_gym.store.files import from_json, write_file, write_json
from tts_gym.store.replay import ReplayStore
from tts_gym.store.select import select_stores, shared_questions

FINAL = "final"

FINAL_STORES = ("held-out",)
FINAL_PROTOCOL = Protocol("autotts", 100)
"""The held-out report's stores and orders by default: the paper's protocol."""
FINAL_TIME_LIMIT = 3600.0
"""Wall-clock seconds for the one held-out run of the chosen controller."""


def run_final(
    root: Path,
    held_out: Sequence[str],
    protocol: Protocol,
    limits: Limits,
    data_dir: str | None = None,
    *,
    allow_missing_layers: bool = False,
) -> Path:
    """Evaluate the chosen controller on `held_out` once and write the report folder."""
    if importlib.util.find_spec("matplotlib") is None:  # fail before the one evaluation
        raise TTSGymError("the held-out report draws plots: pip install 'tts-gym[plot]'.")
    with RunArchive.open(root) as archive:
        return _run_final(archive, held_out, protocol, limits, data_dir, allow_missing_layers)


def _run_final(
    archive: RunArchive,
    held_out: Sequence[str],
    protocol: Protocol,
    limits: Limits,
    data_dir: str | None,
    allow_missing_layers: bool,
) -> Path:
    root = archive.root
    if (root / FINAL).exists():
        raise TTSGymError(
            f"{root} was already evaluated on the held-out stores once; see {root / FINAL}."
        )
    config = from_json(DiscoveryConfig, archive.config, str(root / CONFIG))
    allow_missing_layers = allow_missing_layers or config.allow_missing_layers
    require_core_layers(allow_missing_layers)
    searched = select_stores(config.stores, config.data_dir)
    stores = load_stores(held_out, data_dir or config.data_dir, held_out_ok=True)
    overlap = shared_questions(searched, stores)
    if overlap:
        name, n = next(iter(overlap.items()))
        raise TTSGymError(
            f"{name} shares {n} question{'s' if n != 1 else ''} with the stores searched on, "
            "so it cannot be held out."
        )
    best = archive.chosen()  # derived and checked, never taken from best.json on trust
    archive.repair()  # a ledger line torn by a kill is cut before this run's lines
    settings = dataclasses.replace(
        config.settings(),
        protocol=protocol,
        questions=None,
        limits=limits,
        allow_missing_layers=allow_missing_layers,
    )
    archive.log("final_start", round=best["round"], stores=[s.name for s in stores])
    evaluation = evaluate_candidate(root / best["controller"], CONTROLLER_CLASS, stores, settings)
    cells = baseline_cells(stores, settings, SEARCH_BASELINES + cmc_baselines(settings.betas))
    baselines = [BaselineResult.from_cell(cell) for cell in cells]
    seeds = [b for b in baselines if not b.name.startswith("CMC")]
    scores = area_scores(evaluation.sweep, seeds)
    history = archive.verdicts()

    partial = root / f"{FINAL}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    verdict = {
        **evaluation.verdict(),
        "round": best["round"],
        "candidate": best.get("candidate"),
        "protocol": protocol.describe(),
        "score": overall(scores),
        "scores": scores,
    }
    write_json(partial / "verdict.json", verdict)
    write_file(partial / "heldout.csv", _csv(evaluation, baselines))
    write_file(
        partial / "report.md",
        _report(root.name, best, evaluation, baselines, scores, history, protocol),
    )
    pareto_plot(
        _candidate_cells(evaluation, stores, protocol) + cells,
        partial / "pareto.png",
        f"{root.name}: round {best['round']} on held-out stores",
    )
    _plot_trajectory(partial / "trajectory.png", history, best["round"], evaluation)
    partial.rename(root / FINAL)
    archive.log("final", round=best["round"], ok=evaluation.ok, score=overall(scores))
    return root / FINAL


def _csv(evaluation: Evaluation, baselines: Sequence[BaselineResult]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["store", "controller", "accuracy", "tokens", "seq_tokens"])
    rows = [
        (p.store, f"candidate(beta={p.beta:g})", p.accuracy, p.tokens, p.seq_tokens)
        for p in evaluation.sweep
    ]
    rows += [
        (b.store, b.name, b.mean_accuracy, b.mean_tokens, b.mean_seq_tokens) for b in baselines
    ]
    for store, controller, accuracy, tokens, seq_tokens in rows:
        writer.writerow(
            [store, controller, f"{accuracy:.6f}", f"{tokens:.1f}", f"{seq_tokens:.1f}"]
        )
    return out.getvalue()


def _report(
    name: str,
    best: dict[str, Any],
    evaluation: Evaluation,
    baselines: Sequence[BaselineResult],
    scores: dict[str, float],
    history: Sequence[dict[str, Any]],
    protocol: Protocol,
) -> str:
    lines = [
        f"# Discovery run {name}: held-out report",
        "",
        f"Chosen controller: round {best['round']} (`{best['controller']}`), "
        f"search score {best['score']:+.4f}.",
        f"Protocol: {protocol.describe()}.",
        "",
    ]
    if evaluation.errors:
        lines += ["The checks failed on the held-out stores:", ""]
        lines += [f"- {error}" for error in evaluation.errors] + [""]
    if evaluation.sweep:
        lines += [
            score_line(overall(scores), scores) + " (against SC@N, ASC, ESC, Parallel-Probe)",
            "",
        ]
    for store in dict.fromkeys(b.store for b in baselines):
        lines += [
            f"## {store}",
            "",
            "| controller | accuracy | tokens | seq tokens |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| candidate (beta={p.beta:g}) | {p.accuracy:.1%} | {in_thousands(p.tokens)} "
            f"| {in_thousands(p.seq_tokens)} |"
            for p in evaluation.sweep
            if p.store == store
        ]
        lines += [
            f"| {b.name} | {b.mean_accuracy:.1%} | {in_thousands(b.mean_tokens)} "
            f"| {in_thousands(b.mean_seq_tokens)} |"
            for b in baselines
            if b.store == store
        ]
        lines += [""]
    lines += ["## Trajectory (search stores, highest beta)", ""]
    lines += [
        "| round | result | search score | accuracy | tokens | seq tokens |",
        "|---|---|---|---|---|---|",
    ]
    for entry in history:
        if entry["ok"]:
            accuracy, tokens, seq_tokens = top_point(entry["sweep"])
            score = "-" if entry.get("score") is None else f"{entry['score']:+.4f}"
            lines += [
                f"| {entry['round']} | accepted | {score} | {accuracy:.1%} "
                f"| {in_thousands(tokens)} | {in_thousands(seq_tokens)} |"
            ]
        else:
            lines += [f"| {entry['round']} | rejected | - | - | - | - |"]
    if evaluation.sweep:
        accuracy, tokens, seq_tokens = top_point([dataclasses.asdict(p) for p in evaluation.sweep])
        lines += [
            "",
            f"Held out, round {best['round']} at the highest beta: "
            f"{accuracy:.1%} at {in_thousands(tokens)} tokens "
            f"({in_thousands(seq_tokens)} sequential).",
        ]
    lines += ["", "Plots: `pareto.png` (held-out frontiers), `trajectory.png` (rounds)."]
    return "\n".join(lines) + "\n"


def _candidate_cells(
    evaluation: Evaluation, stores: Sequence[ReplayStore], protocol: Protocol
) -> list[Cell]:
    by_name = {store.name: store for store in stores}
    return [
        Cell(
            store=by_name[store],
            method=f"candidate(beta={beta:g})",
            protocol=protocol,
            outcomes=outcomes,
            correct=evaluation.correct[(store, beta)],
            config={"beta": beta},
            series="candidate",
        )
        for (store, beta), outcomes in evaluation.outcomes.items()
    ]


def _plot_trajectory(
    path: Path, history: Sequence[dict[str, Any]], chosen: int, evaluation: Evaluation
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    accepted = [entry for entry in history if entry["ok"]]
    points = [top_point(entry["sweep"])[:2] for entry in accepted]
    if points:
        ax.plot([t for _, t in points], [a for a, _ in points], "o-", color="C0", label="search")
        for entry, (accuracy, tokens) in zip(accepted, points, strict=True):
            ax.annotate(
                f"r{entry['round']}",
                (tokens, accuracy),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=8,
            )
    if evaluation.sweep:
        accuracy, tokens, _ = top_point([dataclasses.asdict(p) for p in evaluation.sweep])
        ax.plot(tokens, accuracy, "*", markersize=14, color="C3", label=f"held out (r{chosen})")
    ax.set_xscale("log")
    ax.set_xlabel("tokens per question (highest beta)")
    ax.set_ylabel("accuracy")
    ax.set_title("Round-by-round trajectory")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
