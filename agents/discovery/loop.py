"""The discovery loop: propose, check and score in the sandbox, archive, feed back; repeat.

Each round asks the proposer for `candidates` controllers from the same history (independent
conversations, at the same time where the proposer allows). Every candidate is evaluated on
the search stores only and archived; the round keeps its best candidate by area score, the
next round's feedback shows the others' scores, and the best round is kept in `best.json`.
The loop stops at the first hard stop reached before a round starts: rounds done, dollars
spent (counted from the ledger, so a killed round's calls count too; within a round the
candidates share one budget), or wall time of the completed rounds. A candidate cut short by
a kill is dropped and run again on `--resume`; the round's completed candidates are kept.

Nothing is written before the proposer has checked its endpoint (`start`, `resume`), and a
`resume` that fails leaves the run folder as it was.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
from tts_gym_agents.discovery import feedback as fb
from tts_gym_agents.discovery.archive import CONFIG, VERDICT, RunArchive, candidate_name
from tts_gym_agents.discovery.candidate import (
    DEFAULT_BETAS,
    Evaluation,
    SweepSettings,
    evaluate_candidate,
    load_stores,
)
from tts_gym_agents.discovery.pricing import Budget, token_totals
from tts_gym_agents.discovery.prompts import (
    CONTROLLER_CLASS,
    CONTROLLER_FILE,
    HISTORY_DIR,
    round_message,
    system_prompt,
)
from tts_gym_agents.discovery.proposers import (
    DEFAULT_MODELS,
    PROPOSERS,
    Proposer,
    ProposerSettings,
    RoundTask,
    make_proposer,
)
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
from tts_gym.store.files import from_json, read_json_object, write_file, write_json
from tts_gym.store.paths import data_dir
from tts_gym.store.replay import ReplayStore

HISTORY_FILES = ("controller.py", "feedback.md", "sweep.csv", "verdict.json", "traces.jsonl")
RESUMABLE = (
    "rounds",
    "max_dollars",
    "max_minutes",
    "base_url",
    "api_key_env",
    "claude_executable",
    "codex_executable",
)
"""Settings `--resume` may change: the hard stops, and where the proposer is reached."""
JOIN_SECONDS = 0.2
History = tuple[list[dict[str, Any]], dict[int, str], int | None]
"""The completed rounds' verdicts, their feedback texts, and the best round so far."""


@dataclass(frozen=True)
class DiscoveryConfig:
    """Everything that defines a run; saved in config.json and read back on resume."""

    proposer: str = "anthropic"
    model: str | None = None  # None: the proposer's default (`DEFAULT_MODELS`)
    rounds: int = 5
    max_dollars: float = 40.0
    max_minutes: float = 180.0
    max_turns: int = 20
    candidates: int = 1
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
    codex_executable: str = "codex"
    base_url: str | None = None
    api_key_env: str | None = None
    price_in: float | None = None
    price_out: float | None = None
    max_output_tokens: int = 16_000
    agent_timeout: float = 1800.0

    def __post_init__(self) -> None:
        if self.proposer not in PROPOSERS:
            raise TTSGymError(
                f"unknown proposer '{self.proposer}'; use one of {', '.join(PROPOSERS)}."
            )
        if self.model is None:
            object.__setattr__(self, "model", DEFAULT_MODELS[self.proposer])
        positive = ("rounds", "max_dollars", "max_minutes", "max_turns", "candidates", "orders")
        positive += ("time_limit", "max_output_tokens", "agent_timeout")
        for name in positive:
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

    def proposer_settings(self, run_root: Path) -> ProposerSettings:
        executables = {"claude-code": self.claude_executable, "codex": self.codex_executable}
        return ProposerSettings(
            name=self.proposer,
            model=str(self.model),
            max_turns=self.max_turns,
            max_tokens=self.max_output_tokens,
            base_url=self.base_url,
            api_key_env=self.api_key_env,
            price_in=self.price_in,
            price_out=self.price_out,
            executable=executables.get(self.proposer),
            agent_timeout=self.agent_timeout,
            hidden=data_folders(self.data_dir),
            run_root=run_root,
        )

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def data_folders(explicit: str | None) -> tuple[Path, ...]:
    """Every folder stores may be read from (the given one, `$TTS_GYM_DATA`, the user cache):
    what a coding agent must not see, held-out stores being among them."""
    folders = {data_dir(explicit), data_dir(None), Path(platformdirs.user_cache_dir("tts-gym"))}
    return tuple(sorted(folder.resolve() for folder in folders if folder.is_dir()))


class Discovery:
    """One run folder's search, started fresh or resumed."""

    def __init__(
        self,
        archive: RunArchive,
        config: DiscoveryConfig,
        proposer: Proposer,
        stores: Sequence[ReplayStore],
        say: Callable[[str], None] = print,
    ) -> None:
        self.archive = archive
        self.config = config
        self.say = say
        self.settings = config.settings()
        self.stores = list(stores)
        self.golds = {
            s.name: [q.gold for q in self.settings.subset(s).questions] for s in self.stores
        }
        self.proposer = proposer
        self.baselines = self._baselines()
        self.system = self._system_prompt()
        self._evaluations: dict[str, Evaluation] = {}
        self._evaluation_lock = threading.Lock()  # one sandboxed evaluation at a time

    def __enter__(self) -> Discovery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.archive.close()

    # ---- the loop ---------------------------------------------------------------------------
    def run(self) -> str:
        """Rounds until a hard stop; returns why it stopped."""
        started = time.monotonic()
        used = self.archive.seconds_used()
        self.archive.update_best()
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
        """Run round `number` to completion (its missing candidates) and publish it."""
        started = time.monotonic()
        count = self.config.candidates
        what = "a controller" if count == 1 else f"{count} candidates"
        self.say(f"round {number}: the {self.proposer.name} proposer is writing {what}")
        self.archive.log("round_start", round=number)
        with self._evaluation_lock:
            self._evaluations.clear()
        folder = self.archive.begin_round(number)
        done = self.archive.completed_candidates(folder)
        todo = [k for k in range(1, count + 1) if k not in done]
        budget = Budget(self.config.max_dollars, self.archive.dollars_spent())
        portion = budget.left() / max(len(todo), 1)
        history = self._history()
        self._run_all(
            [lambda k=k: self._candidate(number, k, folder, budget, portion, history) for k in todo]
        )
        verdicts = {
            k: read_json_object(folder / candidate_name(k) / VERDICT, "candidate verdict")
            for k in range(1, count + 1)
        }
        summaries = [fb.candidate_summary(verdicts[k]) for k in sorted(verdicts)]
        chosen = _keep(verdicts)
        kept = verdicts[chosen]
        verdict = {**kept, "round": number, "candidate": chosen, "candidates": summaries}
        write_json(folder / VERDICT, verdict)
        feedback = (folder / candidate_name(chosen) / "feedback.md").read_text(encoding="utf-8")
        write_file(folder / "feedback.md", fb.round_feedback(feedback, summaries, chosen))
        self.archive.complete_round(number, folder)
        calls = [e for e in self.archive.events("api_call") if e.get("round") == number]
        self.archive.log(
            "round_end",
            round=number,
            ok=kept["ok"],
            score=kept.get("score"),
            candidate=chosen,
            dollars=sum(e["dollars"] for e in calls),
            tokens=token_totals(calls),
            seconds=round(time.monotonic() - started, 3),
        )
        score = kept.get("score")
        result = "accepted, score " + (f"{score:+.4f}" if score is not None else "-")
        kept_note = f" (candidate {chosen} of {count})" if count > 1 else ""
        self.say(f"round {number}: {result if kept['ok'] else 'rejected'}{kept_note}")
        self.archive.update_best()
        return verdict

    def _candidate(
        self,
        number: int,
        k: int,
        folder: Path,
        budget: Budget,
        portion: float,
        history: History,
    ) -> None:
        """One candidate, proposed, evaluated and published in the round's folder."""
        started = time.monotonic()
        workspace = self.archive.begin_candidate(folder, k)
        self._copy_history(workspace / HISTORY_DIR)
        message = self._message(number, k, history)
        write_file(workspace / "prompt.md", message)
        task = RoundTask(
            number=number,
            candidate=k,
            portion=portion,
            workspace=workspace,
            system=self.system,
            message=message,
            budget=budget,
            evaluate=lambda path: self._tool_evaluate(number, k, path),
            record=lambda entry: self.archive.log("api_call", round=number, candidate=k, **entry),
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
            "candidate": k,
            **evaluation.verdict(),
            "score": score,
            "scores": scores,
            "proposer_stop": proposal.stop_reason,
        }
        write_json(workspace / VERDICT, verdict)
        if evaluation.sweep:
            write_file(workspace / "sweep.csv", fb.sweep_csv(evaluation.sweep, scores))
        if traces:
            write_file(workspace / "traces.jsonl", fb.traces_jsonl(traces))
        text = fb.render_feedback(
            number, evaluation, scores, score, matched, traces, self.config.feedback
        )
        write_file(workspace / "feedback.md", text)
        self.archive.complete_candidate(
            number,
            workspace,
            dollars=proposal.dollars,
            tokens=token_totals(proposal.usage),
            proposer_stop=proposal.stop_reason,
            seconds=round(time.monotonic() - started, 3),
        )
        if self.config.candidates > 1:
            result = f"accepted, score {score:+.4f}" if score is not None else "rejected"
            self.say(f"round {number}, candidate {k}: {result if evaluation.ok else 'rejected'}")

    def _run_all(self, jobs: list[Callable[[], None]]) -> None:
        """Run the candidates, at the same time where the proposer allows; the first failure
        is raised at once (the others end with the process, as after a kill)."""
        if len(jobs) < 2 or not self.proposer.concurrent:
            for job in jobs:
                job()
            return
        failures: list[BaseException] = []

        def guarded(job: Callable[[], None]) -> None:
            try:
                job()
            except BaseException as error:  # handed to the main thread
                failures.append(error)

        threads = [threading.Thread(target=guarded, args=(job,), daemon=True) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive() and not failures:
                thread.join(JOIN_SECONDS)
            if failures:
                raise failures[0]

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

    def _history(self) -> History:
        """The completed rounds' verdicts, their feedback texts and the best round so far."""
        verdicts = self.archive.verdicts()
        texts = {
            entry["round"]: (self.archive.round_dir(entry["round"]) / "feedback.md").read_text(
                encoding="utf-8"
            )
            for entry in verdicts
        }
        best = self.archive.select_best()
        return verdicts, texts, best["round"] if best else None

    def _message(self, number: int, k: int, history: History) -> str:
        verdicts, texts, best = history
        return round_message(
            number,
            self.config.rounds,
            self.baselines,
            verdicts,
            texts,
            best,
            candidate=k,
            candidates=self.config.candidates,
        )

    def _copy_history(self, folder: Path) -> None:
        folder.mkdir()
        shutil.copyfile(self.archive.root / "baselines.csv", folder / "baselines.csv")
        for r in self.archive.completed_rounds():
            source, target = self.archive.round_dir(r), folder / f"round-{r:04d}"
            for origin, copy in [
                (source, target),
                *(
                    (path, target / path.name)
                    for path in self.archive.completed_candidates(source).values()
                ),
            ]:
                copy.mkdir(parents=True)
                for name in HISTORY_FILES:
                    if (origin / name).is_file():
                        shutil.copyfile(origin / name, copy / name)

    def _evaluate(self, path: Path) -> Evaluation:
        """Sandboxed evaluation of a draft, once per distinct source text."""
        key = hashlib.sha256(path.read_bytes()).hexdigest()
        with self._evaluation_lock:
            if key not in self._evaluations:
                evaluation = evaluate_candidate(path, CONTROLLER_CLASS, self.stores, self.settings)
                if evaluation.ok:
                    fb.mark_gold_seen(evaluation, self.golds)
                self._evaluations[key] = evaluation
            return self._evaluations[key]

    def _tool_evaluate(self, number: int, k: int, path: Path) -> str:
        evaluation = self._evaluate(path)
        scores = area_scores(evaluation.sweep, self.baselines) if evaluation.ok else {}
        self.archive.log(
            "evaluate", round=number, candidate=k, ok=evaluation.ok, score=overall(scores)
        )
        if not evaluation.ok:
            return "rejected:\n" + "\n".join(f"- {error}" for error in evaluation.errors)
        return (
            "accepted. "
            + fb.score_line(overall(scores), scores)
            + "\n\n"
            + fb.sweep_table(evaluation.sweep)
        )


def _keep(verdicts: dict[int, dict[str, Any]]) -> int:
    """The round's candidate: the best accepted by score (ties: the first), else the first."""
    scored = [k for k, v in verdicts.items() if v["ok"] and v.get("score") is not None]
    if scored:
        return max(scored, key=lambda k: (verdicts[k]["score"], -k))
    accepted = [k for k, v in verdicts.items() if v["ok"]]
    return min(accepted or verdicts)


def start(root: Path, config: DiscoveryConfig, proposer: Proposer | None = None) -> Discovery:
    """A new run in `root` (which must be empty or absent); bad settings, missing sandbox
    layers, an unusable store or an endpoint that refuses fail before it exists."""
    require_core_layers(config.allow_missing_layers)
    stores = load_stores(config.stores, config.data_dir)
    proposer = proposer or make_proposer(config.proposer_settings(root))
    proposer.check()
    archive = RunArchive.create(root, config.to_json())
    return _discovery(archive, config, proposer, stores)


def resume(root: Path, overrides: dict[str, Any], proposer: Proposer | None = None) -> Discovery:
    """Continue the run in `root` after its last complete round (stops may be raised). Every
    file is checked and the proposer's endpoint asked before anything in `root` changes."""
    if (root / "final").exists():
        raise TTSGymError(
            f"{root} has been evaluated on the held-out stores; searching on would use them."
        )
    archive = RunArchive.open(root)
    try:
        config = from_json(DiscoveryConfig, archive.config, str(root / CONFIG))
        if overrides:
            config = dataclasses.replace(config, **overrides)
        require_core_layers(config.allow_missing_layers)
        archive.check()
        archive.verdicts()
        stores = load_stores(config.stores, config.data_dir)
        proposer = proposer or make_proposer(config.proposer_settings(root))
        proposer.check()
        if overrides:
            write_json(root / CONFIG, config.to_json())
        repaired = archive.repair()
        archive.log("resume", dropped=repaired["dropped"], overrides=overrides)
        return Discovery(archive, config, proposer, stores)
    except BaseException:
        archive.close()
        raise


def _discovery(
    archive: RunArchive,
    config: DiscoveryConfig,
    proposer: Proposer,
    stores: Sequence[ReplayStore],
) -> Discovery:
    """A `Discovery` that owns `archive` (released if setting it up fails)."""
    try:
        return Discovery(archive, config, proposer, stores)
    except BaseException:
        archive.close()
        raise
