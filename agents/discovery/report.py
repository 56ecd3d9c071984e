"""`tts-gym discover report RUN`: one self-contained HTML page, `RUN/report.html`.

The page needs no server and no network: plots are PNGs embedded as data URIs, the style is
inline and there is no script. It shows the run's settings and spend, the score of every
candidate per round, the accuracy-token and accuracy-latency curves of the best controller
against the baselines, and per round every candidate's result, the kept controller's source
with its diff to the best controller before that round, the other candidates' sources and
the rejection reasons; the held-out report's plots where `--final` was run. Everything is
read from the run folder (checked as `--resume` checks it) and escaped.
"""

from __future__ import annotations

import base64
import difflib
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tts_gym_agents.discovery.archive import (
    CONFIG,
    CONTROLLER,
    COST_EVENTS,
    VERDICT,
    RunFolder,
)
from tts_gym_agents.discovery.compare import RoundRow, RunSummary, read_run
from tts_gym_agents.discovery.feedback import first_error, in_thousands
from tts_gym_agents.discovery.loop import DiscoveryConfig
from tts_gym_agents.discovery.pricing import token_totals
from tts_gym_agents.discovery.scoring import BaselineResult

from tts_gym.errors import TTSGymError
from tts_gym.store.files import from_json, read_json, read_json_object, write_file

REPORT = "report.html"
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem;
       padding: 0 1rem; color: #1d1d1f; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { margin-top: 2.2rem; }
h3 { margin-top: 1.8rem; border-top: 1px solid #ddd; padding-top: 1rem; }
.lead { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: .6rem 0; }
th, td { padding: .25rem .7rem; border-bottom: 1px solid #e5e5e5; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.accepted { color: #126b2f; } .rejected { color: #a51d1d; }
img { max-width: 100%; border: 1px solid #eee; }
pre { background: #f7f7f8; padding: .7rem; overflow-x: auto; font-size: 12.5px;
      line-height: 1.35; border-radius: 4px; }
pre .add { background: #e6ffec; display: block; } pre .del { background: #ffebe9; display: block; }
pre .hunk { color: #6639ba; display: block; }
details { margin: .4rem 0; } summary { cursor: pointer; }
ul.errors li { color: #a51d1d; }
footer { margin-top: 3rem; color: #888; font-size: 12px; }
"""


@dataclass(frozen=True)
class _Store:
    name: str
    path: str


@dataclass(frozen=True)
class _Point:
    """What `pareto_figure` reads of a `Cell`: one point of a curve."""

    store: _Store
    series: str
    acc: float  # percent
    tokens_k: float
    seq_tokens_k: float
    model: str = ""


@dataclass(frozen=True)
class _Candidate:
    number: int | None  # None: a round written before candidates
    verdict: dict[str, Any]
    source: str | None
    dollars: float
    tokens: dict[str, int]


def write_report(root: Path) -> Path:
    """Write `root/report.html` (atomically) and return its path."""
    folder = RunFolder.at(root)
    summary, rows = read_run(root)  # checks the ledger against the archive
    config = from_json(DiscoveryConfig, folder.config, str(root / CONFIG))
    events = folder.events()
    verdicts = folder.verdicts()
    candidates = {v["round"]: _candidates(folder, v, events) for v in verdicts}
    baselines = [BaselineResult.from_json(b) for b in folder.read_json("baselines.json") or []]
    best = folder.select_best()
    parts = [
        f"<h1>Discovery run {_e(root.name)}</h1>",
        f'<p class="lead">{_e(summary.label)}. Search stores: {_e(", ".join(config.stores))}; '
        f"betas {_e(', '.join(f'{b:g}' for b in config.betas))}; {config.orders} orders"
        + (f", first {config.questions} questions" if config.questions else "")
        + ".</p>",
        _facts(summary, rows, best, events),
        "<h2>Score of every candidate, round by round</h2>",
        "<p>The area score: accuracy against log tokens, above the baselines' frontier when "
        "positive. Crosses mark rejected candidates; the line is the best score so far.</p>",
        _image(_score_figure(verdicts, candidates), "score of every candidate per round"),
    ]
    if best is not None:
        chosen = next(v for v in verdicts if v["round"] == best["round"])
        parts += [
            f"<h2>The best controller (round {best['round']}) against the baselines</h2>",
            "<p>Accuracy against tokens per question (left) and against sequential tokens, the "
            "latency proxy (right), on each search store.</p>",
            _image(_curves_figure(chosen, baselines, config.model or ""), "best vs baselines"),
        ]
    parts += ["<h2>Spend</h2>", _spend_table(verdicts, candidates, rows)]
    parts += _held_out(root)
    parts += ["<h2>Rounds</h2>"]
    previous_best: tuple[int, str] | None = None  # (round, source) of the best so far
    best_score = None
    for verdict in verdicts:
        parts.append(_round_section(verdict, candidates[verdict["round"]], previous_best))
        kept = _kept(verdict, candidates[verdict["round"]])
        score = verdict.get("score") if verdict["ok"] else None
        if (
            score is not None
            and kept.source is not None
            and (best_score is None or score > best_score)
        ):
            previous_best, best_score = (verdict["round"], kept.source), score
    parts.append(
        f"<footer>Written by <code>tts-gym discover report {_e(str(root))}</code>.</footer>"
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Discovery run {_e(root.name)}</title><style>{STYLE}</style></head>"
        "<body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
    return write_file(root / REPORT, page)


def _candidates(
    folder: RunFolder, verdict: dict[str, Any], events: list[dict[str, Any]]
) -> list[_Candidate]:
    number = verdict["round"]
    calls = [e for e in events if e["event"] in COST_EVENTS and e.get("round") == number]
    found = folder.completed_candidates(folder.round_dir(number))
    if not found:  # the layout before candidates: the round is its only candidate
        return [_candidate(None, folder.round_dir(number), verdict, calls)]
    return [
        _candidate(k, path, read_json_object(path / VERDICT, "candidate verdict"), calls)
        for k, path in sorted(found.items())
    ]


def _candidate(
    number: int | None, path: Path, verdict: dict[str, Any], calls: list[dict[str, Any]]
) -> _Candidate:
    mine = [c for c in calls if c.get("candidate") == number or number is None]
    source = path / CONTROLLER
    return _Candidate(
        number,
        verdict,
        source.read_text(encoding="utf-8", errors="replace") if source.is_file() else None,
        sum(c["dollars"] for c in mine),
        token_totals(mine),
    )


def _kept(verdict: dict[str, Any], candidates: list[_Candidate]) -> _Candidate:
    return next(c for c in candidates if c.number in (verdict.get("candidate"), None))


def _facts(
    summary: RunSummary,
    rows: Sequence[RoundRow],
    best: dict[str, Any] | None,
    events: list[dict[str, Any]],
) -> str:
    tokens = token_totals([e for e in events if e["event"] in COST_EVENTS])
    accepted = sum(1 for r in rows if r.result == "accepted")
    facts = [
        ("rounds completed", f"{summary.rounds} ({accepted} accepted)"),
        ("candidates per round", str(summary.candidates)),
        (
            "best",
            "none yet"
            if best is None
            else f"round {best['round']}"
            + (f", candidate {best['candidate']}" if best.get("candidate") else "")
            + f": score {best['score']:+.4f}",
        ),
        ("dollars spent (estimated)", f"${summary.dollars:.2f}"),
        (
            "tokens",
            ", ".join(f"{key} {in_thousands(value)}" for key, value in sorted(tokens.items()))
            or "none recorded",
        ),
        ("wall minutes of the rounds", f"{summary.minutes:.1f}"),
        ("stopped", summary.stop or "not (still running, or killed)"),
        (
            "held-out score",
            "no held-out report yet" if summary.held_out is None else f"{summary.held_out:+.4f}",
        ),
    ]
    cells = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts)
    return f'<table class="facts">{cells}</table>'


def _spend_table(
    verdicts: Sequence[dict[str, Any]],
    candidates: dict[int, list[_Candidate]],
    rows: Sequence[RoundRow],
) -> str:
    head = (
        "<tr><th>round</th><th>result</th><th class='num'>dollars</th>"
        "<th class='num'>input tokens</th><th class='num'>cached</th>"
        "<th class='num'>output tokens</th><th class='num'>minutes so far</th></tr>"
    )
    lines = []
    for verdict, row in zip(verdicts, rows, strict=True):
        here = candidates[verdict["round"]]
        tokens = {key: sum(c.tokens.get(key, 0) for c in here) for key in ("input", "output")}
        cached = sum(c.tokens.get("cache_read", 0) for c in here)
        lines.append(
            f"<tr><td>{verdict['round']}</td><td class='{row.result}'>{row.result}</td>"
            f"<td class='num'>{sum(c.dollars for c in here):.4f}</td>"
            f"<td class='num'>{tokens['input']:,}</td><td class='num'>{cached:,}</td>"
            f"<td class='num'>{tokens['output']:,}</td><td class='num'>{row.minutes:.1f}</td></tr>"
        )
    return f"<table>{head}{''.join(lines)}</table>"


def _round_section(
    verdict: dict[str, Any], candidates: list[_Candidate], previous_best: tuple[int, str] | None
) -> str:
    number = verdict["round"]
    kept = _kept(verdict, candidates)
    result = "accepted" if verdict["ok"] else "rejected"
    score = verdict.get("score")
    title = f"Round {number}: {result}" + (f", score {score:+.4f}" if score is not None else "")
    if len(candidates) > 1:
        title += f" (candidate {kept.number} kept)"
    parts = [f'<section id="round-{number}"><h3 class="{result}">{_e(title)}</h3>']
    head = (
        "<tr><th>candidate</th><th>result</th><th class='num'>score</th>"
        "<th>proposer stop</th><th class='num'>dollars</th><th>reason</th></tr>"
    )
    lines = []
    for c in candidates:
        ok = c.verdict.get("ok")
        value = c.verdict.get("score")
        lines.append(
            f"<tr><td>{c.number or 1}</td><td class='{'accepted' if ok else 'rejected'}'>"
            f"{'accepted' if ok else 'rejected'}</td>"
            f"<td class='num'>{'-' if value is None else f'{value:+.4f}'}</td>"
            f"<td>{_e(str(c.verdict.get('proposer_stop') or '-'))}</td>"
            f"<td class='num'>{c.dollars:.4f}</td>"
            f"<td>{_e(first_error(c.verdict) or '')}</td></tr>"
        )
    parts.append(f"<table>{head}{''.join(lines)}</table>")
    errors = [(c, c.verdict.get("errors") or []) for c in candidates if not c.verdict.get("ok")]
    for c, messages in errors:
        if messages:
            parts.append(f"<p>Candidate {c.number or 1} was rejected:</p>")
            parts.append(
                '<ul class="errors">'
                + "".join(f"<li>{_e(str(m))}</li>" for m in messages)
                + "</ul>"
            )
    label = f"candidate {kept.number}" if kept.number else "the controller"
    if kept.source is None:
        parts.append(f"<p>The kept candidate left no {CONTROLLER}.</p>")
    else:
        parts.append(f"<h4>Source of {_e(label)}</h4><pre class='code'>{_e(kept.source)}</pre>")
        if previous_best is None:
            parts.append("<p>No accepted controller before this round: nothing to diff.</p>")
        else:
            parts.append(
                f"<h4>Diff to the best controller before this round (round {previous_best[0]})"
                f"</h4>{_diff(previous_best[1], kept.source, previous_best[0], number)}"
            )
    for c in candidates:
        if c is not kept and c.source is not None:
            parts.append(
                f"<details><summary>Source of candidate {c.number}</summary>"
                f"<pre class='code'>{_e(c.source)}</pre></details>"
            )
    parts.append("</section>")
    return "\n".join(parts)


def _diff(old: str, new: str, old_round: int, new_round: int) -> str:
    lines = list(
        difflib.unified_diff(
            old.splitlines(),
            new.splitlines(),
            f"round {old_round}",
            f"round {new_round}",
            lineterm="",
        )
    )
    if not lines:
        return "<p>The same source as that round's.</p>"
    rendered = []
    for line in lines:
        kind = (
            "hunk"
            if line.startswith("@@")
            else "add"
            if line.startswith("+")
            else "del"
            if line.startswith("-")
            else ""
        )
        text = _e(line) or " "
        rendered.append(f"<span class='{kind}'>{text}</span>" if kind else text)
    return "<pre class='diff'>" + "\n".join(rendered) + "</pre>"


def _held_out(root: Path) -> list[str]:
    final = root / "final"
    if not (final / VERDICT).is_file():
        return []
    verdict = read_json(final / VERDICT, "held-out verdict")
    score = verdict.get("score") if isinstance(verdict, dict) else None
    parts = [
        "<h2>Held out</h2>",
        "<p>The chosen controller, evaluated once on the held-out stores"
        + (f": score {score:+.4f}" if isinstance(score, (int, float)) else "")
        + ".</p>",
    ]
    for name in ("pareto.png", "trajectory.png"):
        if (final / name).is_file():
            parts.append(_image((final / name).read_bytes(), f"held-out {name}"))
    return parts


def _score_figure(
    verdicts: Sequence[dict[str, Any]], candidates: dict[int, list[_Candidate]]
) -> bytes:
    figure, ax = _figure((8, 4))
    scores = [
        c.verdict["score"]
        for here in candidates.values()
        for c in here
        if c.verdict.get("ok") and c.verdict.get("score") is not None
    ]
    floor = min([*scores, 0.0]) - 0.01
    best, line = None, []
    for verdict in verdicts:
        number = verdict["round"]
        for c in candidates[number]:
            x = number + 0.08 * ((c.number or 1) - 1)
            if c.verdict.get("ok") and c.verdict.get("score") is not None:
                ax.plot(x, c.verdict["score"], "o", color="C0", markersize=7)
            else:
                ax.plot(x, floor, "x", color="C3", markersize=8)
        if verdict["ok"] and verdict.get("score") is not None:
            best = verdict["score"] if best is None else max(best, verdict["score"])
        if best is not None:
            line.append((number, best))
    if line:
        xs, ys = zip(*line, strict=True)
        ax.step(xs, ys, where="post", color="C2", label="best so far")
    ax.plot([], [], "o", color="C0", label="accepted candidate")
    ax.plot([], [], "x", color="C3", label="rejected candidate")
    ax.axhline(0.0, color="grey", linestyle="--", linewidth=1, label="the baselines")
    ax.set_xlabel("round")
    ax.set_ylabel("area score")
    ax.set_xticks([v["round"] for v in verdicts] or [1])
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    figure.tight_layout()
    return _png(figure)


def _curves_figure(
    verdict: dict[str, Any], baselines: Sequence[BaselineResult], model: str
) -> bytes:
    from tts_gym.evaluation.plots import pareto_figure

    points = [
        _Point(
            _Store(b.store, b.store),
            "SC@N" if b.name.startswith("SC@") else b.name,
            100 * b.mean_accuracy,
            b.mean_tokens / 1000,
            b.mean_seq_tokens / 1000,
            model,
        )
        for b in baselines
    ]
    series = f"round {verdict['round']}" + (
        f", candidate {verdict['candidate']}" if verdict.get("candidate") else ""
    )
    points += [
        _Point(
            _Store(p["store"], p["store"]),
            series,
            100 * p["accuracy"],
            p["tokens"] / 1000,
            p.get("seq_tokens", p["tokens"]) / 1000,
            model,
        )
        for p in verdict.get("sweep") or []
    ]
    return _png(pareto_figure(points, "the best controller's beta sweep against the baselines"))


def _figure(size: tuple[float, float]) -> tuple[Any, Any]:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise TTSGymError("the report draws plots: pip install 'tts-gym[plot]'.") from None
    figure = Figure(figsize=size)
    return figure, figure.subplots()


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _image(data: bytes, alt: str) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return f'<p><img alt="{_e(alt)}" src="data:image/png;base64,{encoded}"></p>'


def _e(text: str) -> str:
    return html.escape(text, quote=True)
