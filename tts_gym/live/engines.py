"""Engines: what fills a live question's branches when an episode needs them.

`fulfil(question, needs)` gets every need of one pass at once (`LiveEpisode`), so a wave's
requests are in flight together. Two kinds:

- `ReplayEngine` serves a store's branches (their probed answers, lengths and final answers)
  as if they were being generated, one interval at a time: with it, a live run equals
  `tts-gym eval` on the same orders, which is the proof that the live semantics are the
  replay semantics.
- `GenerationEngine` generates them with a model (`Model`: a collect backend in this process,
  `TokenModel`, for vLLM with prefix caching or transformers; or an OpenAI-compatible
  completions server, `tts_gym.live.completions.CompletionsModel`). A branch is a sampled
  continuation of the question's prompt, one interval (`D` tokens) at a time, each chunk with
  its own seed (from the run seed, the question, the branch and the chunk's first token), so
  what is generated does not depend on the concurrency. Exploring a branch generates its next
  interval; if the model did not end within it, the answer is probed exactly as `collect`
  probes (the prompt, the branch so far, the hand-off suffix, greedy; `AnswerReader` reads
  and matches it); if it did, the branch has ended after its real length and its final
  answer is its last `\\boxed{}`. Reading a branch generates it to its end. Token counts are
  the model's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

from tts_gym.collect.answers import AnswerReader
from tts_gym.collect.backends import Backend, GenerationRequest
from tts_gym.collect.collector import CollectConfig
from tts_gym.collect.prompt import PromptFormat
from tts_gym.collect.records import derive_seed
from tts_gym.live.branches import LiveQuestion
from tts_gym.live.episode import Need
from tts_gym.live.errors import LiveError
from tts_gym.store.replay import ReplayStore


class LiveEngine(Protocol):
    def fulfil(self, question: LiveQuestion, needs: Sequence[Need]) -> None:
        """Generate (or serve) what `needs` ask of `question`'s branches, all together."""
        ...


class ReplayEngine:
    """A store's branches, served an interval at a time (nothing is generated)."""

    def __init__(self, store: ReplayStore) -> None:
        self.store = store

    def fulfil(self, question: LiveQuestion, needs: Sequence[Need]) -> None:
        stored = self.store.questions[question.index]
        text = stored.answers.__getitem__
        question.requests += len(needs)
        for need in needs:
            branch = question.branch(need.branch)
            probes = stored.probes[need.branch]
            if need.depth is not None and need.depth < len(probes):
                answer = text(probes[need.depth])
                branch.add_probe(answer, answer)
            elif not branch.ended:
                final = text(stored.finals[need.branch])
                branch.end(stored.tokens[need.branch], len(probes), final, final)


@dataclass(frozen=True)
class Chunk:
    """What one continuation added to a branch: its piece (ids or text), its length in
    tokens, and whether the model ended the branch with it."""

    piece: Any
    tokens: int
    stopped: bool


class Model(Protocol):
    """A model as a live run uses it, token-level or text-level alike."""

    max_chunk: int | None  # longest continuation one request may ask for (None: any)

    def start(self, question: str) -> Any:
        """A new branch's record: the chat-formatted prompt, nothing generated."""
        ...

    def extend(self, requests: Sequence[tuple[Any, int, int]]) -> list[Chunk]:
        """Continue each (record, max_tokens, seed) by sampling, all together."""
        ...

    def append(self, record: Any, chunk: Chunk) -> Any:
        """The record with `chunk` appended."""
        ...

    def probe(self, requests: Sequence[tuple[Any, int]]) -> list[tuple[str, int]]:
        """For each (record, cut): the greedy continuation after the branch's first `cut`
        tokens and the suffix, as text, and its length in tokens; all together."""
        ...

    def text(self, record: Any) -> str:
        """The branch's generated text (its final answer is its last `\\boxed{}`)."""
        ...


_COLLECT = {f.name: f.default for f in fields(CollectConfig)}


@dataclass(frozen=True)
class Sampling:
    """How live branches are sampled and probed (defaults: those of `collect`, so that a
    live run and a collected store mean the same by an interval, a probe, a branch)."""

    interval: int = _COLLECT["interval"]
    max_tokens: int = _COLLECT["max_tokens"]
    temperature: float = _COLLECT["temperature"]
    top_p: float = _COLLECT["top_p"]
    probe_tokens: int = _COLLECT["probe_tokens"]
    seed: int = _COLLECT["seed"]

    def check(self) -> None:
        for name in ("interval", "max_tokens", "probe_tokens"):
            if getattr(self, name) < 1:
                raise LiveError(f"--{name.replace('_', '-')} must be at least 1.")
        if not self.temperature >= 0 or not 0 < self.top_p <= 1:  # NaN too
            raise LiveError("--temperature must be >= 0 and --top-p in (0, 1].")


class GenerationEngine:
    """Branches generated by `model` (see the module docstring)."""

    def __init__(self, model: Model, sampling: Sampling) -> None:
        self.model = model
        self.sampling = sampling

    def fulfil(self, question: LiveQuestion, needs: Sequence[Need]) -> None:
        interval, max_tokens = self.sampling.interval, self.sampling.max_tokens
        targets = {
            need.branch: max_tokens if need.depth is None else (need.depth + 1) * interval
            for need in needs
        }
        for b in targets:
            branch = question.branch(b)
            if branch.record is None:
                branch.record = self.model.start(question.text)
        self._extend(question, targets)
        # an explored branch that goes on past its interval is probed at the interval's end
        probes = [
            (need.branch, targets[need.branch])
            for need in needs
            if need.depth is not None and question.branch(need.branch).goes_on(targets[need.branch])
        ]
        if not probes:
            return
        answers = self.model.probe([(question.branch(b).record, cut) for b, cut in probes])
        question.requests += len(probes)
        reader = AnswerReader(question.gold)
        for (b, _), (continuation, tokens) in zip(probes, answers, strict=True):
            question.branch(b).add_probe(*reader.probe(continuation))
            question.probe_tokens += tokens

    def _extend(self, question: LiveQuestion, targets: dict[int, int]) -> None:
        """Generate each branch up to its target (or its end), in rounds of concurrent
        requests of at most `model.max_chunk` tokens; ended branches get their final answer."""
        sampling, limit = self.sampling, self.model.max_chunk
        reader = AnswerReader(question.gold)
        while True:
            work = []
            for b, target in targets.items():
                branch = question.branch(b)
                if not branch.ended and branch.tokens < target:
                    want = min(target, sampling.max_tokens) - branch.tokens
                    seed = derive_seed(sampling.seed, question.index, b, branch.tokens)
                    work.append((b, want if limit is None else min(want, limit), seed))
            if not work:
                return
            chunks = self.model.extend([(question.branch(b).record, n, s) for b, n, s in work])
            question.requests += len(work)
            for (b, asked, _), chunk in zip(work, chunks, strict=True):
                branch = question.branch(b)
                if chunk.tokens > asked or (chunk.tokens < asked and not chunk.stopped):
                    raise LiveError(
                        f"the model returned {chunk.tokens} tokens for a request of {asked} "
                        "and did not say that the branch ended."
                    )
                branch.record = self.model.append(branch.record, chunk)
                branch.tokens += chunk.tokens
                question.generated += chunk.tokens
                if chunk.stopped or branch.tokens >= sampling.max_tokens:
                    n_probes = max(0, -(-branch.tokens // sampling.interval) - 1)
                    branch.end(
                        branch.tokens, n_probes, *reader.final(self.model.text(branch.record))
                    )


class TokenModel:
    """A collect backend in this process (vLLM with prefix caching, or transformers): token
    ids in, token ids out; a branch's record is (prompt ids, generated ids)."""

    max_chunk = None

    def __init__(
        self, backend: Backend, tokenizer: Any, fmt: PromptFormat, sampling: Sampling
    ) -> None:
        self.backend, self.tokenizer, self.fmt, self.sampling = backend, tokenizer, fmt, sampling

    def start(self, question: str) -> tuple[list[int], list[int]]:
        return self.fmt.prompt_ids(self.tokenizer, question), []

    def extend(self, requests: Sequence[tuple[Any, int, int]]) -> list[Chunk]:
        s = self.sampling
        generations = self.backend.generate(
            [
                GenerationRequest(prompt + generated, n, s.temperature, s.top_p, seed)
                for (prompt, generated), n, seed in requests
            ]
        )
        return [Chunk(g.token_ids, len(g.token_ids), g.stopped) for g in generations]

    def append(self, record: Any, chunk: Chunk) -> tuple[list[int], list[int]]:
        prompt, generated = record
        return prompt, generated + chunk.piece

    def probe(self, requests: Sequence[tuple[Any, int]]) -> list[tuple[str, int]]:
        generations = self.backend.generate(
            [
                GenerationRequest(
                    self.fmt.probe_ids(prompt, generated[:cut]), self.sampling.probe_tokens
                )
                for (prompt, generated), cut in requests
            ]
        )
        return [(self._decode(g.token_ids), len(g.token_ids)) for g in generations]

    def text(self, record: Any) -> str:
        return self._decode(record[1])

    def _decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)
