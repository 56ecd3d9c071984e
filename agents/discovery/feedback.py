"""What a round leaves for the next: the sweep table, scores, matchups, traces, errors.

Every place that shows tokens shows sequential tokens beside them ("seq", the latency proxy of
the wave model of docs/design.md, see `tts_gym.engine.rules`); the score itself is on total tokens.

`full` feedback (the paper's setting) has per-question wins and losses against the baselines
at matched tokens and a few compact execution traces (the costliest episodes and wrongly
answered ones, preferring those where the right answer was seen and lost). `scalar` feedback
(the ablation) has the sweep and the scores only. Failed rounds report their errors in both.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any, Literal

from tts_gym_agents.discovery.candidate import Evaluation, SweepPoint
from tts_gym_agents.discovery.scoring import BaselineResult, Matchup

FeedbackMode = Literal["full", "scalar"]
N_COSTLY, N_WRONG = 2, 3
MAX_ANSWER_CHARS = 24
MAX_FEEDBACK_BYTES = 32 * 1024
"""Most bytes of one round's feedback, in its file and in a prompt (longer ones are cut)."""
_CODES = {"BRANCH": "B", "CONTINUE": "C", "PROBE": "P", "PRUNE": "X", "READ": "R"}
TRACE_LEGEND = (
    'Trace notation: B3:17 opened slot 3 and saw answer 17 ("..." quotes answers with '
    "spaces); C3:17 continued slot 3; "
    "* the branch finished; X3 pruned slot 3; R4:17 read a whole branch; "
    "[12.5k] tokens spent so far (every 10 actions)."
)


def sweep_csv(sweep: Sequence[SweepPoint], scores: dict[str, float]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["store", "beta", "accuracy", "tokens", "seq_tokens", "store_score"])
    for p in sweep:
        score = scores.get(p.store)
        writer.writerow(
            [
                p.store,
                p.beta,
                f"{p.accuracy:.6f}",
                f"{p.tokens:.1f}",
                f"{p.seq_tokens:.1f}",
                "" if score is None else f"{score:.6f}",
            ]
        )
    return out.getvalue()


def baselines_csv(baselines: Sequence[BaselineResult]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["store", "baseline", "accuracy", "tokens", "seq_tokens"])
    for b in baselines:
        writer.writerow(
            [
                b.store,
                b.name,
                f"{b.mean_accuracy:.6f}",
                f"{b.mean_tokens:.1f}",
                f"{b.mean_seq_tokens:.1f}",
            ]
        )
    return out.getvalue()


def sweep_table(sweep: Sequence[SweepPoint]) -> str:
    lines = ["| store | beta | accuracy | tokens | seq tokens |", "|---|---|---|---|---|"]
    lines += [
        f"| {p.store} | {p.beta:g} | {p.accuracy:.1%} | {in_thousands(p.tokens)} "
        f"| {in_thousands(p.seq_tokens)} |"
        for p in sweep
    ]
    return "\n".join(lines)


def baselines_table(baselines: Sequence[BaselineResult]) -> str:
    lines = ["| store | baseline | accuracy | tokens | seq tokens |", "|---|---|---|---|---|"]
    lines += [
        f"| {b.store} | {b.name} | {b.mean_accuracy:.1%} | {in_thousands(b.mean_tokens)} "
        f"| {in_thousands(b.mean_seq_tokens)} |"
        for b in baselines
    ]
    return "\n".join(lines)


def top_point(sweep: Sequence[dict[str, Any]]) -> tuple[float, float, float | None]:
    """Mean accuracy, tokens and sequential tokens over stores at the highest beta of a
    verdict's sweep (sequential tokens None in verdicts written before they were reported)."""
    top = max(p["beta"] for p in sweep)
    points = [p for p in sweep if p["beta"] == top]
    seq = None
    if all("seq_tokens" in p for p in points):
        seq = sum(p["seq_tokens"] for p in points) / len(points)
    return (
        sum(p["accuracy"] for p in points) / len(points),
        sum(p["tokens"] for p in points) / len(points),
        seq,
    )


def score_line(score: float | None, scores: dict[str, float]) -> str:
    if score is None:
        return "Score: none (no store with baselines)."
    per_store = ", ".join(f"{store} {value:+.4f}" for store, value in scores.items())
    return (
        f"Score: {score:+.4f} (area between its accuracy-vs-log-tokens frontier and the "
        f"baselines', in accuracy units, mean over stores; > 0 beats them). Per store: {per_store}."
    )


def select_traces(evaluation: Evaluation) -> list[dict[str, Any]]:
    """The costliest episodes and wrongly answered ones at the highest beta, first order."""
    top = max(p.beta for p in evaluation.sweep)
    pool = []
    for item in evaluation.replay:
        if item["beta"] != top:
            continue
        key = (item["store"], item["beta"])
        correct = evaluation.correct[key][:, 0]
        seq_tokens = evaluation.outcomes[key].seq_tokens[:, 0]
        for qi, trace in enumerate(item["traces"]):
            pool.append(
                {
                    "store": item["store"],
                    "beta": item["beta"],
                    "question": qi,
                    "correct": bool(correct[qi]),
                    "seq_tokens": int(seq_tokens[qi]),
                    "gold_seen": bool(trace.get("gold_seen")),
                    **trace,
                }
            )
    costly = sorted(pool, key=lambda t: -t["tokens"])[:N_COSTLY]
    wrong = [t for t in pool if not t["correct"] and t not in costly]
    wrong.sort(key=lambda t: (not t["gold_seen"], -t["tokens"]))
    return [{**t, "why": "costliest"} for t in costly] + [
        {**t, "why": "wrong"} for t in wrong[:N_WRONG]
    ]


def mark_gold_seen(evaluation: Evaluation, golds: dict[str, list[str]]) -> None:
    """Note in each traced episode whether the correct answer was revealed at some point."""
    for item in evaluation.replay:
        store_golds = golds[item["store"]]
        for qi, trace in enumerate(item["traces"]):
            trace["gold_seen"] = store_golds[qi] in trace.get("seen", ())


def traces_jsonl(traces: Sequence[dict[str, Any]]) -> str:
    return "".join(json.dumps(trace) + "\n" for trace in traces)


def render_trace(trace: dict[str, Any]) -> str:
    verdict = "correct" if trace["correct"] else "wrong"
    if not trace["correct"] and trace.get("gold_seen"):
        verdict += ", although the correct answer was revealed in some branch"
    head = (
        f"{trace['store']}, question {trace['question']}, order 0, beta={trace['beta']:g} "
        f"({trace['why']}): answered {trace['answer']!r} ({verdict}), "
        f"{in_thousands(trace['tokens'])} tokens ({in_thousands(trace['seq_tokens'])} sequential), "
        f"stop: {trace['stop_reason']}"
    )
    words = []
    omitted = trace.get("omitted")
    for i, action in enumerate(trace["actions"]):
        if omitted and i == omitted["after"]:
            words.append(f"...({omitted['count']} actions)...")
        word = f"{_CODES.get(action['action'], '?')}{action['slot']}"
        if action["action"] != "PRUNE":
            word += f":{_answer(action['revealed'])}" + ("*" if action["finished"] else "")
        if i % 10 == 9:
            word += f" [{in_thousands(action['tokens'])}]"
        words.append(word)
    return head + "\n    " + _wrap(words)


def render_feedback(
    round_number: int,
    evaluation: Evaluation,
    scores: dict[str, float],
    score: float | None,
    matched: Sequence[Matchup],
    traces: Sequence[dict[str, Any]],
    mode: FeedbackMode,
) -> str:
    """The round's feedback.md (at most `MAX_FEEDBACK_BYTES`)."""
    if not evaluation.ok:
        lines = [f"# Round {round_number}: rejected", ""]
        lines += [f"- {error}" for error in evaluation.errors]
        if evaluation.sweep:
            lines += ["", "Its sweep (not scored):", "", sweep_table(evaluation.sweep)]
        return bounded_text("\n".join(lines) + "\n")
    lines = [f"# Round {round_number}: accepted", "", score_line(score, scores), ""]
    lines += [sweep_table(evaluation.sweep)]
    if mode == "full":
        lines += ["", "## Against the baselines at matched tokens (per question)", ""]
        lines += [_matchup_line(m) for m in matched]
        lines += ["", "## Execution traces", "", TRACE_LEGEND, ""]
        lines += [render_trace(trace) for trace in traces]
    return bounded_text("\n".join(lines) + "\n")


def bounded_text(text: str, limit: int = MAX_FEEDBACK_BYTES) -> str:
    """`text` cut at a line end to at most `limit` bytes, saying so."""
    data = text.encode()
    if len(data) <= limit:
        return text
    kept = data[:limit].decode(errors="ignore")
    kept = kept[: kept.rfind("\n") + 1] or kept
    return kept + f"\n(cut here: {len(data):,} bytes, of which the first {limit:,} are kept)\n"


def first_error(verdict: dict[str, Any]) -> str | None:
    """The first line of a verdict's first error (None when it has none)."""
    errors = verdict.get("errors") or []
    return str(errors[0]).splitlines()[0] if errors else None


def candidate_summary(verdict: dict[str, Any]) -> dict[str, Any]:
    """One candidate's result as the round's verdict lists it."""
    return {
        "candidate": verdict["candidate"],
        "ok": verdict["ok"],
        "score": verdict.get("score"),
        "error": first_error(verdict),
        "proposer_stop": verdict.get("proposer_stop"),
    }


def round_feedback(kept: str, summaries: Sequence[dict[str, Any]], chosen: int) -> str:
    """The round's feedback.md: the kept candidate's, then every candidate's result."""
    if len(summaries) < 2:
        return kept
    lines = [kept.rstrip(), "", f"## The round's candidates (candidate {chosen} kept)", ""]
    lines += ["| candidate | result | score |", "|---|---|---|"]
    for entry in summaries:
        if entry["ok"]:
            score = "-" if entry["score"] is None else f"{entry['score']:+.4f}"
            lines.append(f"| {entry['candidate']} | accepted | {score} |")
        else:
            reason = (entry["error"] or "rejected")[:120].replace("|", "/")
            lines.append(f"| {entry['candidate']} | rejected: {reason} | - |")
    return "\n".join(lines) + "\n"


def _matchup_line(m: Matchup) -> str:
    def listed(questions: tuple[int, ...]) -> str:
        return f" (questions {', '.join(map(str, questions))})" if questions else ""

    return (
        f"- {m.store}: {m.baseline} ({m.baseline_accuracy:.1%}, "
        f"{in_thousands(m.baseline_tokens)} tokens, {in_thousands(m.baseline_seq_tokens)} seq) "
        f"vs beta={m.beta:g} ({m.accuracy:.1%}, "
        f"{in_thousands(m.tokens)} tokens, {in_thousands(m.seq_tokens)} seq): "
        f"{_count(len(m.wins), 'win')}{listed(m.wins)}, "
        f"{_count(len(m.losses), 'loss')}{listed(m.losses)}"
    )


def _answer(answer: str | None) -> str:
    """An answer as one word: quoted when it has spaces, cut when it is long."""
    if answer is None:
        return "-"
    if len(answer) > MAX_ANSWER_CHARS:
        answer = answer[: MAX_ANSWER_CHARS - 1] + "…"
    return json.dumps(answer) if not answer or any(c.isspace() for c in answer) else answer


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "es" if word.endswith("s") else "s")


def in_thousands(tokens: float | None) -> str:
    """Tokens as `12.3k`; '-' where there is no number."""
    return "-" if tokens is None else f"{tokens / 1000:.1f}k"


def _wrap(words: list[str], width: int = 96) -> str:
    lines, line = [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\n    ".join(lines)
