"""The discovery loop: propose, check and score in the sandbox, archive, feed back; repeat.

Each round the proposer reads the history (earlier controllers, their sweeps, matchups and
traces) and writes `controller.py`; the candidate is evaluated on the search stores only, its
round is archived, and the best round by area score is kept in `best.json`. The loop stops at
the first hard stop reached before a round starts: rounds done, dollars spent (counted from
the ledger, so a killed round's calls count too), or wall time of the completed rounds.
A round cut short by a kill is dropped and run again on `--resume`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tts_gym_agents.discovery import feedback as fb
from tts_gym_agents.discovery.archive import BEST, CONFIG, RunArchive
from tts_gym_agents.discovery.candidate import (
    DEFAULT_BETAS,
    Evaluation,
    SweepSettings,
    evaluate_candidate,
    load_stores,
)
from tts_gym_agents.discovery.prompts import (
    CONTROLLER_CLASS,
    CONTROLLER_FILE,
    HISTORY_DIR,
    round_message,
    system_prompt,
)
from tts_gym_agents.discovery.proposers import PROPOSERS, Proposer, RoundTask, make_proposer
from tts_gym_agents.discovery.scoring import (
    BaselineResult,
    area_scores,
    matchups,
    overall,
    run_baselines,
)

from tts_gym.errors import TTSGymError
from tts_gym.evaluation.protocols import Protocol
from tts_gym.sandbox import Limits, require_core_layers
from tts_gym.store.files import from_json, write_file, write_json

DEFAULT_MODEL = "claude-sonnet-4-6"
HISTORY_FILES = ("controller.py", "feedback.md", "sweep.csv", "verdict.json", "traces.jsonl")


@dataclass(frozen=True)
class DiscoveryConfig:
    """Everything that defines a run; saved in config.json and read back on resume."""

    proposer: str = "anthropic"
    model: str = DEFAULT_MODEL
    rounds: int = 5
    max_dollars: float = 40.0
    max_minutes: float = 180.0
    max_turns: int = 20
    stores: tuple[str, ...] = ("search",)
    data_dir: str | None = None
    betas: tuple[float, ...] = DEFAULT_BETAS
    orders: int = 20
    seed: int = 0
    questions: int | None = None
    feedback: fb.FeedbackMode = "full"
    free_knobs: bool = False
    time_limit: float = 600.0
    memory_mb: int = 2048
    claude_executable: str = "claude"
    allow_missing_layers: bool = False  # score where the sandbox's core layers are missing

    def __post_init__(self) -> None:
        if self.proposer not in PROPOSERS:
            raise TTSGymError(
                f"unknown proposer '{self.proposer}'; use one of {', '.join(PROPOSERS)}."
            )
        for name in ("rounds", "max_dollars", "max_minutes", "max_turns", "orders", "time_limit"):
            if not getattr(self, name) > 0:
                raise TTSGymError(f"{name.replace('_', ' ')} must be positive.")

    def settings(self) -> SweepSettings:
        return SweepSettings(
            betas=tuple(self.betas),
            protocol=Protocol("default", self.orders, self.seed),
            questions=self.questions,
            free_knobs=self.free_knobs,
            limits=Limits.from_wall(self.time_limit, self.memory_mb),
            allow_missing_layers=self.allow_missing_layers,
        )

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Discovery:
    """One run folder's search, started fresh or resumed."""

    def __init__(
        self,
        archive: RunArchive,
        config: DiscoveryConfig,
        proposer: Proposer | None = None,
        say: Callable[[str], None] = print,
    ) -> None:
        self.archive = archive
        self.config = config
        self.say = say
        self.settings = config.settings()
        self.stores = load_stores(config.stores, config.data_dir)
        self.golds = {
            s.name: [q.gold for q in self.settings.subset(s).questions] for s in self.stores
        }
        self.proposer = proposer or make_proposer(
            config.proposer,
            model=config.model,
            max_turns=config.max_turns,
            executable=config.claude_executable,
        )
        self.baselines = self._baselines()
        self.system = self._system_prompt()
        self._evaluations: dict[str, Evaluation] = {}

    def __enter__(self) -> Discovery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.archive.close()

    # ---- the loop ---------------------------------------------------------------------------
    def run(self) -> str:
        """Rounds until a hard stop; returns why it stopped."""
        started = time.monotonic()
        used = self.archive.seconds_used()
        self._update_best()
        while True:
            done = self.archive.completed_rounds()
            number = (done[-1] if done else 0) + 1
            spent = self.archive.dollars_spent()
            if number > self.config.rounds:
                reason = "rounds"
            elif self.config.max_dollars - spent < self.proposer.reserve(self.system):
                reason = "dollars"
            elif used + time.monotonic() - started >= self.config.max_minutes * 60:
                reason = "time"
            else:
                self.round(number)
                continue
            self.archive.log("stop", reason=reason, dollars=spent, rounds=len(done))
            return reason

    def round(self, number: int) -> dict[str, Any]:
        """Run round `number` to completion and publish it; returns its verdict."""
        started = time.monotonic()
        self.say(f"round {number}: the {self.proposer.name} proposer is writing a controller")
        self.archive.log("round_start", round=number)
        self._evaluations.clear()
        workspace = self.archive.begin_round(number)
        self._copy_history(workspace / HISTORY_DIR)
        message = self._message(number)
        write_file(workspace / "prompt.md", message)
        task = RoundTask(
            number=number,
            workspace=workspace,
            system=self.system,
            message=message,
            dollars_left=self.config.max_dollars - self.archive.dollars_spent(),
            evaluate=lambda path: self._tool_evaluate(number, path),
            record=lambda entry: self.archive.log("api_call", round=number, **entry),
        )
        proposal = self.proposer.propose(task)
        shutil.rmtree(workspace / HISTORY_DIR, ignore_errors=True)
        write_json(workspace / "transcript.json", proposal.transcript)
        write_json(workspace / "usage.json", proposal.usage)

        controller = workspace / CONTROLLER_FILE
        if controller.is_file():
            evaluation = self._evaluate(controller)
        else:
            evaluation = Evaluation(
                False, [f"the proposer left no {CONTROLLER_FILE} ({proposal.stop_reason})."]
            )
        scores = area_scores(evaluation.sweep, self.baselines) if evaluation.ok else {}
        score = overall(scores)
        full = self.config.feedback == "full" and evaluation.ok
        matched = matchups(evaluation, self.baselines) if full else []
        traces = fb.select_traces(evaluation) if full else []
        verdict = {
            "round": number,
            **evaluation.verdict(),
            "score": score,
            "scores": scores,
            "proposer_stop": proposal.stop_reason,
        }
        write_json(workspace / "verdict.json", verdict)
        if evaluation.sweep:
            write_file(workspace / "sweep.csv", fb.sweep_csv(evaluation.sweep, scores))
        if traces:
            write_file(workspace / "traces.jsonl", fb.traces_jsonl(traces))
        text = fb.render_feedback(
            number, evaluation, scores, score, matched, traces, self.config.feedback
        )
        write_file(workspace / "feedback.md", text)
        self.archive.complete_round(number, workspace)
        self.archive.log(
            "round_end",
            round=number,
            ok=evaluation.ok,
            score=score,
            dollars=proposal.dollars,
            tokens=_token_totals(proposal.usage),
            proposer_stop=proposal.stop_reason,
            seconds=round(time.monotonic() - started, 3),
        )
        result = "accepted, score " + (f"{score:+.4f}" if score is not None else "-")
        self.say(f"round {number}: {result if evaluation.ok else 'rejected'}")
        self._update_best()
        return verdict

    # ---- pieces -----------------------------------------------------------------------------
    def _baselines(self) -> list[BaselineResult]:
        saved = self.archive.read_json("baselines.json")
        if saved is not None and all("seq_tokens" in item for item in saved):
            return [BaselineResult.from_json(item) for item in saved]
        # none saved, or saved before sequential tokens were reported: score them (again)
        self.say("scoring the built-in baselines on the search stores")
        baselines = run_baselines(self.stores, self.settings)
        self.archive.write("baselines.json", json.dumps([b.to_json() for b in baselines]))
        self.archive.write("baselines.csv", fb.baselines_csv(baselines))
        return baselines

    def _system_prompt(self) -> str:
        path = self.archive.root / "system_prompt.md"
        if path.is_file():  # the same text every round keeps the prompt cache warm
            return path.read_text(encoding="utf-8")
        text = system_prompt(
            self.settings, [s.name for s in self.stores], self.proposer.name, self.config.feedback
        )
        self.archive.write("system_prompt.md", text)
        return text

    def _message(self, number: int) -> str:
        history = self.archive.verdicts()
        texts = {
            entry["round"]: (self.archive.round_dir(entry["round"]) / "feedback.md").read_text(
                encoding="utf-8"
            )
            for entry in history
        }
        best = (self.archive.read_json(BEST) or {}).get("round")
        return round_message(number, self.config.rounds, self.baselines, history, texts, best)

    def _copy_history(self, folder: Path) -> None:
        folder.mkdir()
        shutil.copyfile(self.archive.root / "baselines.csv", folder / "baselines.csv")
        for r in self.archive.completed_rounds():
            source, target = self.archive.round_dir(r), folder / f"round-{r:04d}"
            target.mkdir()
            for name in HISTORY_FILES:
                if (source / name).is_file():
                    shutil.copyfile(source / name, target / name)

    def _evaluate(self, path: Path) -> Evaluation:
        """Sandboxed evaluation of a draft, once per distinct source text."""
        key = hashlib.sha256(path.read_bytes()).hexdigest()
        if key not in self._evaluations:
            evaluation = evaluate_candidate(path, CONTROLLER_CLASS, self.stores, self.settings)
            if evaluation.ok:
                fb.mark_gold_seen(evaluation, self.golds)
            self._evaluations[key] = evaluation
        return self._evaluations[key]

    def _tool_evaluate(self, number: int, path: Path) -> str:
        evaluation = self._evaluate(path)
        scores = area_scores(evaluation.sweep, self.baselines) if evaluation.ok else {}
        self.archive.log("evaluate", round=number, ok=evaluation.ok, score=overall(scores))
        if not evaluation.ok:
            return "rejected:\n" + "\n".join(f"- {error}" for error in evaluation.errors)
        return (
            "accepted. "
            + fb.score_line(overall(scores), scores)
            + "\n\n"
            + fb.sweep_table(evaluation.sweep)
        )

    def _update_best(self) -> None:
        candidates = [
            entry
            for entry in self.archive.verdicts()
            if entry["ok"] and entry.get("score") is not None
        ]
        if not candidates:
            return
        best = max(candidates, key=lambda entry: (entry["score"], -entry["round"]))
        record = {
            "round": best["round"],
            "score": best["score"],
            "controller": f"round-{best['round']:04d}/{CONTROLLER_FILE}",
        }
        if self.archive.read_json(BEST) != record:
            self.archive.write(BEST, json.dumps(record, indent=2) + "\n")
            self.archive.log("best", **record)


def start(root: Path, config: DiscoveryConfig, proposer: Proposer | None = None) -> Discovery:
    """A new run in `root` (which must be empty or absent); bad settings fail before it exists."""
    require_core_layers(config.allow_missing_layers)
    load_stores(config.stores, config.data_dir)
    proposer = proposer or make_proposer(
        config.proposer,
        model=config.model,
        max_turns=config.max_turns,
        executable=config.claude_executable,
    )
    archive = RunArchive.create(root, config.to_json())
    return _discovery(archive, config, proposer)


def resume(root: Path, overrides: dict[str, Any], proposer: Proposer | None = None) -> Discovery:
    """Continue the run in `root` after its last complete round (stops may be raised)."""
    if (root / "final").exists():
        raise TTSGymError(
            f"{root} has been evaluated on the held-out stores; searching on would use them."
        )
    archive = RunArchive.open(root)
    config = from_json(DiscoveryConfig, archive.config, str(root / CONFIG))
    if overrides:
        config = dataclasses.replace(config, **overrides)
    dropped = archive.drop_partial_rounds()
    logged = {e["round"] for e in archive.events("round_end")}
    for number in archive.completed_rounds():
        if number not in logged:  # killed between publishing the round and logging it
            verdict = archive.verdict(number)
            archive.log(
                "round_end",
                round=number,
                ok=verdict.get("ok"),
                score=verdict.get("score"),
                repaired=True,
            )
    try:
        require_core_layers(config.allow_missing_layers)
    except TTSGymError:
        archive.close()
        raise
    if overrides:
        archive.write("config.json", json.dumps(config.to_json(), indent=2) + "\n")
    archive.log("resume", dropped=dropped, overrides=overrides)
    return _discovery(archive, config, proposer)


def _discovery(
    archive: RunArchive, config: DiscoveryConfig, proposer: Proposer | None
) -> Discovery:
    """A `Discovery` that owns `archive` (released if setting it up fails)."""
    try:
        return Discovery(archive, config, proposer)
    except BaseException:
        archive.close()
        raise


def _token_totals(usage: list[dict[str, Any]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for entry in usage:
        for key, value in (entry.get("tokens") or {}).items():
            totals[key] = totals.get(key, 0) + int(value)
    return totals
