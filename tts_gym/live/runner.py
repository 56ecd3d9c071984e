"""A controller live: each question played on an engine, the episodes scored, what was
generated kept as a replay store.

Per question, the controller (and the method it is compared with, on a fresh copy of the
question with the same seeds, so that each one's wall time and generated tokens are its own)
plays every order as `LiveEpisode` passes (see `tts_gym.live.episode`). A finished question is
a shard in the work folder beside `--out` (as `collect` keeps them), so a killed run resumes
by question; the store is written from the shards at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tts_gym.collect.shards import ShardFolder
from tts_gym.control.errors import PolicyError
from tts_gym.control.handle import QuestionHandle
from tts_gym.control.protocols import check_answer, policy_kind, policy_name
from tts_gym.engine import NO_ANSWER
from tts_gym.errors import brief
from tts_gym.evaluation.protocols import Protocol
from tts_gym.live.branches import LiveQuestion
from tts_gym.live.engines import LiveEngine
from tts_gym.live.episode import LiveEpisode, NeedData
from tts_gym.live.errors import LiveError
from tts_gym.store.files import write_json
from tts_gym.store.writer import write_store


@dataclass(frozen=True)
class QuestionSpec:
    """A question as a live run plays it (`gold` "" when unknown)."""

    index: int
    text: str
    gold: str
    interval: int
    n_branches: int
    id: str | int | None = None

    def fresh(self) -> LiveQuestion:
        return LiveQuestion(self.index, self.text, self.gold, self.interval, self.n_branches)


@dataclass
class Played:
    """One method on one question: per order its answer, tokens and sequential tokens (the
    replay MDP's, on the data generated); for the question, the wall time, the tokens the
    engine really generated (branches, speculation included, and probes) and its requests."""

    answers: list[str | None] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    seq_tokens: list[int] = field(default_factory=list)
    wall_s: float = 0.0
    generated: int = 0
    probe_tokens: int = 0
    requests: int = 0
    passes: int = 0


def play_question(
    policy: Any, spec: QuestionSpec, orders: Sequence[Sequence[int]], engine: LiveEngine
) -> tuple[Played, LiveQuestion]:
    """Every order of one question, on a fresh live question; what it generated."""
    decide = _decider(policy)
    question = spec.fresh()
    played = Played()
    started = time.perf_counter()
    for number, order in enumerate(orders):
        while True:
            played.passes += 1
            episode = LiveEpisode(question, order)
            try:
                answer = decide(episode)
            except NeedData:
                pass
            except Exception as error:
                if not episode.needs:  # a real failure, not a pass that saw a placeholder
                    raise PolicyError(
                        f"policy '{policy_name(policy)}' raised {brief(error)} "
                        f"(on question {spec.index}, order {number})."
                    ) from error
            else:
                if not episode.needs:
                    break
            needs = list(episode.needs.values())
            engine.fulfil(question, needs)
            _check_fulfilled(question, needs)
        played.answers.append(answer)
        played.tokens.append(episode.tokens)
        played.seq_tokens.append(episode.seq_tokens)
    played.wall_s = time.perf_counter() - started
    played.generated, played.probe_tokens = question.generated, question.probe_tokens
    played.requests = question.requests
    return played, question


def _check_fulfilled(question: LiveQuestion, needs: Sequence[Any]) -> None:
    """Every need now has its data (else the next pass would ask again, for ever)."""
    for need in needs:
        branch = question.branches.get(need.branch)
        done = branch is not None and (
            branch.ended if need.depth is None else branch.can_explore(need.depth)
        )
        if not done:
            raise LiveError(
                f"the engine did not generate branch {need.branch} of question "
                f"{question.index} as far as asked."
            )


def _decider(policy: Any) -> Callable[[LiveEpisode], str | None]:
    kind = policy_kind(policy)
    name = policy_name(policy)
    if kind == "engine":

        def run(episode: LiveEpisode) -> str | None:
            answer = policy.run(episode)
            if not isinstance(answer, int) or not NO_ANSWER <= answer < episode.pending:
                raise PolicyError(
                    f"policy '{name}' returned {answer!r} from run(episode), not an answer id"
                )
            return episode.answer_text(answer)

        return run
    if kind == "imperative":

        def solve(episode: LiveEpisode) -> str | None:
            answer = policy.solve(QuestionHandle(episode, episode.live.interval))
            check_answer(name, answer)
            return answer

        return solve
    raise LiveError(
        f"policy '{name}' cannot run live: a live run plays controllers that drive an episode "
        "(run) or a question handle (solve); a step policy (act) needs the env's observation "
        "of a store."
    )


@dataclass
class LiveResult:
    """A finished question: each method's `Played`, and the store entry of what the
    controller's own run generated (None when it opened no branch)."""

    spec: QuestionSpec
    played: dict[str, Played]
    entry: dict[str, Any] | None

    def record(self) -> dict[str, Any]:
        return {
            "question": self.spec.text,
            "gold": self.spec.gold,
            "played": {method: asdict(p) for method, p in self.played.items()},
            "entry": self.entry,
        }

    @classmethod
    def from_record(cls, spec: QuestionSpec, record: dict[str, Any]) -> LiveResult:
        played = {method: Played(**p) for method, p in record["played"].items()}
        return cls(spec, played, record["entry"])


class LiveShards(ShardFolder):
    """A live run's finished questions (see `ShardFolder`)."""

    def __init__(self, store: Path, specs: Sequence[QuestionSpec], methods: Sequence[str]):
        super().__init__(store, len(specs))
        self.specs, self.methods = specs, list(methods)

    def write(self, result: LiveResult) -> None:
        write_json(self.path(result.spec.index), result.record(), indent=None)

    def check(self, value: Any, index: int, file: Path) -> None:
        spec = self.specs[index]
        try:
            same = value["question"] == spec.text and value["gold"] == spec.gold
            methods = list(value["played"])
            LiveResult.from_record(spec, value)
        except (KeyError, TypeError):
            raise LiveError(f"cannot resume: {file} is not a shard of a live run.") from None
        if not same:
            raise LiveError(
                f"cannot resume: {file} is not question {index} of this run's questions."
            )
        if methods != self.methods:
            raise LiveError(
                f"cannot resume: {file} played {', '.join(methods)}, this run plays "
                f"{', '.join(self.methods)}."
            )

    def results(self) -> dict[int, LiveResult]:
        return {i: LiveResult.from_record(self.specs[i], self.read(i)) for i in self.finished()}

    def assemble(self, results: Sequence[LiveResult]) -> int:
        """Write the store of what was generated (questions with a branch, in order) and drop
        the folder; returns how many questions it holds."""
        entries = []
        for result in results:
            if result.entry is not None:
                live = {method: asdict(p) for method, p in result.played.items()}
                entries.append({**result.entry, "id": _id(result.spec), "live": live})
        if entries:
            write_store(entries, self.store)
        self.remove()
        return len(entries)


def _id(spec: QuestionSpec) -> str | int:
    return spec.index if spec.id is None else spec.id


def check_output(out: Path, resume: bool) -> None:
    """Refuse an output that cannot be written, or that would replace a run's files."""
    folder = ShardFolder(out, 0).folder
    if not out.parent.is_dir():
        raise LiveError(f"the folder of the output {out} does not exist.")
    if not resume and (out.exists() or folder.exists()):
        raise LiveError(
            f"{out if out.exists() else folder} is there already; pass --resume to continue "
            "that run, or remove it."
        )
    if resume and out.exists() and not folder.exists():
        raise LiveError(f"{out} is complete; there is nothing to resume.")


def run_live(
    policies: dict[str, Any],
    specs: Sequence[QuestionSpec],
    engine: LiveEngine,
    protocol: Protocol,
    *,
    out: Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> tuple[list[LiveResult], int]:
    """Play every method of `policies` (the controller first) on every question; returns
    the results in question order and how many questions the written store holds."""
    from tqdm.auto import tqdm

    shards = None if out is None else LiveShards(out, specs, list(policies))
    done: dict[int, LiveResult] = {}
    if shards is not None:
        check_output(out, resume)
        done = shards.results() if resume else {}
    bar = tqdm(
        total=len(specs),
        initial=len(done),
        desc="live",
        unit="question",
        disable=None if progress else True,
    )
    with bar:
        for spec in specs:
            if spec.index in done:
                continue
            orders = protocol(spec.index, spec.n_branches)
            played, generated = {}, []
            for method, policy in policies.items():
                played[method], question = play_question(policy, spec, orders, engine)
                generated.append(question)
            ours = generated[0]  # the store keeps what the controller's own run generated
            result = LiveResult(spec, played, ours.entry() if ours.branches else None)
            done[spec.index] = result
            if shards is not None:
                shards.write(result)
            bar.update(1)
    results = [done[spec.index] for spec in specs]
    stored = 0 if shards is None else shards.assemble(results)
    return results, stored
