"""The proposer's prompt: a fixed part per run (cached) and a message per round (the history)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tts_gym_agents.discovery.candidate import SweepSettings
from tts_gym_agents.discovery.feedback import (
    TRACE_LEGEND,
    FeedbackMode,
    baselines_table,
    bounded_text,
    in_thousands,
    top_point,
)
from tts_gym_agents.discovery.rules import ALLOWED_MODULES, VOTING_MODULE
from tts_gym_agents.discovery.scoring import SEARCH_BASELINES, BaselineResult

CONTROLLER_FILE = "controller.py"
CONTROLLER_CLASS = "Controller"
HISTORY_DIR = "history"

_API_TOOLS = (
    "Use your tools: `read_file` for the history files, `write_controller` and "
    "`edit_controller` for controller.py, `evaluate` to score your draft exactly as the round "
    "will (use it, fix what it reports), and `finish` when you are done."
)
_CLI_TOOLS = (
    "Read the history files with your file tools and write controller.py in the current "
    "folder; the round scores the file you leave."
)
_TOOLS_NOTE = {
    "anthropic": _API_TOOLS,
    "openai": _API_TOOLS,
    "claude-code": _CLI_TOOLS,
    "codex": _CLI_TOOLS,
}


def system_prompt(
    settings: SweepSettings,
    stores: Sequence[str],
    proposer: str,
    mode: FeedbackMode,
) -> str:
    """The part of the prompt that stays the same for the whole run."""
    modules = ", ".join(sorted(ALLOWED_MODULES - {"__future__"}))
    betas = ", ".join(f"{b:g}" for b in settings.betas)
    baselines = ", ".join(spec.label for spec in SEARCH_BASELINES)
    if settings.free_knobs:
        knob_rule = (
            "2. The constructor takes `beta` in [0, 1]; it may take other parameters with "
            "defaults, but evaluation only ever sets beta."
        )
    else:
        knob_rule = (
            "2. beta in [0, 1] is the only knob: the constructor takes no other parameter, and "
            "every setting (widths, patience, thresholds, bursts, caps) is a deterministic "
            "function of beta computed inside the class, e.g. in a `_schedule(beta)` helper. "
            "beta = 0 is the cheapest setting, beta = 1 the most thorough."
        )
    history_note = (
        "per-question wins and losses against the baselines at matched tokens, and compact "
        "execution traces of its costliest and its wrongly answered episodes"
        if mode == "full"
        else "its score and sweep table"
    )
    return f"""You are the proposer in an automated search for test-time-scaling controllers \
(AutoTTS, arXiv 2605.08083). You do not solve math problems. You write a controller: a small \
Python class that decides, for one question at a time, how many reasoning branches of an LLM \
to open (width), which ones to continue (depth), which to drop, and when to stop and answer. \
Branches are replayed from a cache, so every controller is scored in seconds.

## The question handle
`solve(q)` gets a handle `q` for one question and returns the final answer (a string) or None.
A branch reveals its current answer every probe interval (500 tokens); early answers are \
often wrong or 'ERR'. The cost is every token spent on every branch.
- `q.branch() -> (answer, slot, finished)`: open the next branch and advance it one interval.
- `q.advance(slot) -> (answer, finished)`: advance an open branch one interval (to its end if \
that is closer); a finished or pruned branch cannot be advanced.
- `q.prune(slot)`: drop a branch for good (free).
- `q.read() -> answer`: open the next branch and pay its whole length for its final answer.
- Batch calls, each one wave whose results come back together as a list: \
`q.branch_many(k)` (k x `branch`), `q.advance_many(slots)` (each slot once), `q.read_many(k)`.
- `q.can_branch` (bool), `q.n_open` (int), `q.tokens` (tokens spent so far) and \
`q.seq_tokens` (sequential tokens, a latency proxy: every call is a wave, a batch call \
lasts as long as its longest branch, and a branch's write-up after its last probe runs on \
without holding the next wave); diagnostics only.
- AutoTTS's names work too: `q.probe_new()`, `q.probe_more(index)`, \
`q.get_new_branch_final_answer()`, `q.get_seq_and_total_tokens()`.
A question has 128 branches; use at most 64. Opening one more than exist raises ValueError.

## Rules (checked by code; breaking one rejects the round)
1. `{CONTROLLER_FILE}` defines `class {CONTROLLER_CLASS}` with `__init__(self, beta: float = 0.5)` \
and `solve(self, q)`.
{knob_rule}
3. Average tokens must not fall as beta grows (per store, between neighbouring betas of the \
sweep, {settings.tolerance:.0%} tolerance).
4. Each episode stands alone: a sample of episodes is replayed, each alone in a fresh \
process, and must take the same actions and give the same answer as in the sweep (no \
unseeded randomness, no state kept across episodes: module globals, class attributes, caches).
5. Only the handle: import only {modules}; from `{VOTING_MODULE}` you may import \
`beta_confidence(top1, top2)`, `vote_stats(counts) -> (winner, top1, top2)`, \
`majority(answers)`, `count_votes(answers)`, `leader(counts)`. No files, network, processes, \
`eval`/`exec`, or attributes starting with `_` on anything but `self`.
6. It runs in a sandbox ({settings.limits.describe()}): a separate process that holds only \
what its own actions revealed. It may answer only with an answer its episode revealed, or None.

## Scoring
Every controller runs at beta = {betas} on each search store ({", ".join(stores)}), \
{settings.protocol.n_orders} branch orders per question. Its score is the area between its \
accuracy-vs-log(tokens) frontier and the baselines' ({baselines}) over the baselines' token \
range, in accuracy units, averaged over the stores: above 0 beats them. The best round is kept \
and evaluated once, at the end, on held-out benchmarks you never see, so prefer robust and \
simple mechanisms to tuning for the search set.

## Each round
You get the history: every earlier controller's result, with {history_note}, and the errors of \
rejected ones. A round may ask several proposers independently (candidates) and keeps the best. \
Files of earlier rounds are in `{HISTORY_DIR}/`: `baselines.csv`; per round \
`round-NNNN/verdict.json` (the result; `candidate` names the one kept) and `feedback.md`; per \
candidate `round-NNNN/candidate-K/controller.py`, `feedback.md`, `sweep.csv`, \
`verdict.json`{", `traces.jsonl`" if mode == "full" else ""}. Write a new controller that \
improves on them: a meaningfully different mechanism, or a fix of what the feedback shows, not \
cosmetic tuning.
{_TOOLS_NOTE[proposer]}
{TRACE_LEGEND if mode == "full" else ""}
"""


def round_message(
    number: int,
    rounds: int,
    baselines: Sequence[BaselineResult],
    history: Sequence[dict[str, Any]],
    feedback: dict[int, str],
    best: int | None,
    candidate: int = 1,
    candidates: int = 1,
) -> str:
    """The round's own message: where the search stands, and the feedback worth reading."""
    lines = [f"Round {number} of {rounds}."]
    if candidates > 1:
        lines += [
            f"Candidate {candidate} of {candidates}: the round keeps the best of {candidates} "
            "controllers written independently from this same history."
        ]
    lines += ["", "## Baselines on the search stores", ""]
    lines += [baselines_table(baselines), "", "## Rounds so far", ""]
    if not history:
        lines += ["None yet: this is the first controller."]
    else:
        lines += [
            "| round | result | score | accuracy at beta=1 | tokens at beta=1 "
            "| seq tokens at beta=1 |"
        ]
        lines += ["|---|---|---|---|---|---|"]
        lines += [_history_row(entry) for entry in history]
    shown = [r for r in dict.fromkeys([best, history[-1]["round"] if history else None]) if r]
    for r in shown:
        label = "best round so far" if r == best else "last round"
        if r == best and history and history[-1]["round"] == best:
            label = "last round, the best so far"
        lines += ["", f"## Feedback on round {r} ({label})", "", bounded_text(feedback[r]).strip()]
    lines += [
        "",
        f"Write `{CONTROLLER_FILE}` with `class {CONTROLLER_CLASS}` in your folder now.",
    ]
    return "\n".join(lines) + "\n"


def _history_row(entry: dict[str, Any]) -> str:
    if not entry["ok"]:
        reason = entry["errors"][0].splitlines()[0] if entry["errors"] else "rejected"
        return f"| {entry['round']} | rejected: {reason[:120]} | - | - | - | - |"
    accuracy, tokens, seq_tokens = top_point(entry["sweep"])
    score = "-" if entry.get("score") is None else f"{entry['score']:+.4f}"
    return (
        f"| {entry['round']} | accepted | {score} | {accuracy:.1%} | {in_thousands(tokens)} "
        f"| {in_thousands(seq_tokens)} |"
    )
