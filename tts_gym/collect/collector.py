"""The collection pipeline: questions in, a valid AutoTTS replay store out.

Per question: sample n traces, cut each every `interval` tokens (by token count), probe the
answer at every cut, read the final answer, match answers to the gold, compute per-segment
confidence (`records`). Questions go `batch_questions` at a time to one backend in this
process, or to a pool of Ray workers (`cluster`); either way each finished question becomes
a shard in the work folder beside the store (`shards`), and the store is written from the
shards, in question order, once all are there. Each question's sampling seed is derived from
(seed, question index) alone, so a resumed, batched or distributed run samples exactly what
one uninterrupted process would.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tts_gym.collect.backends import BACKENDS, Backend, SamplingConfig, load_backend
from tts_gym.collect.errors import CollectError
from tts_gym.collect.hub import resolve_model
from tts_gym.collect.metadata import (
    metadata_path,
    new_metadata,
    previous_metadata,
    run_settings,
    write_metadata,
)
from tts_gym.collect.prompt import PromptFormat, load_tokenizer
from tts_gym.collect.questions import QuestionItem, read_questions
from tts_gym.collect.records import QuestionCollector
from tts_gym.collect.shards import Shards
from tts_gym.store.files import read_json
from tts_gym.store.replay import parse_questions

if TYPE_CHECKING:
    from tts_gym.collect.cluster import ClusterConfig


@dataclass(frozen=True)
class CollectConfig:
    model: str
    backend: str = "vllm"
    n: int = 128
    interval: int = 500
    max_tokens: int = 40000
    temperature: float = 0.7
    top_p: float = 0.95
    seed: int = 0
    probe_tokens: int = 32
    top_logprobs: int = 20
    confidence_window: int = 2048
    tail_window: int = 2048
    batch_questions: int = 1  # questions sampled together; does not change what is sampled
    tensor_parallel_size: int = 1  # vLLM only; does not change what is sampled

    def check(self) -> None:
        if self.backend not in BACKENDS:
            raise CollectError(
                f"unknown backend '{self.backend}'; use one of {', '.join(BACKENDS)}."
            )
        for name in (
            "n",
            "interval",
            "max_tokens",
            "probe_tokens",
            "top_logprobs",
            "confidence_window",
            "tail_window",
            "batch_questions",
            "tensor_parallel_size",
        ):
            value = getattr(self, name)
            if value < 1:
                raise CollectError(f"--{name.replace('_', '-')} must be at least 1, got {value}.")
        if self.temperature < 0:
            raise CollectError(f"--temperature must be non-negative, got {self.temperature}.")
        if not 0 < self.top_p <= 1:
            raise CollectError(f"--top-p must be in (0, 1], got {self.top_p}.")
        if self.seed < 0:
            raise CollectError(f"--seed must be non-negative, got {self.seed}.")

    @property
    def sampling(self) -> SamplingConfig:
        return SamplingConfig(
            n=self.n,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            top_logprobs=self.top_logprobs,
        )


@dataclass(frozen=True)
class CollectResult:
    store: Path
    metadata: Path
    questions: int  # questions in the store (the whole question file once it exists)
    total: int  # questions in the question file
    collected: int  # questions collected by this run
    final_accuracy: float  # share of branches whose final answer is the gold answer
    retried: int = 0  # questions run again because the Ray worker running them died


Finish = Callable[[int, dict[str, Any]], None]
"""What the runner calls with each finished question (its index and store entry)."""


def collect(
    questions: str | os.PathLike,
    out: str | os.PathLike,
    config: CollectConfig,
    *,
    resume: bool = False,
    cluster: ClusterConfig | None = None,
    backend: Backend | None = None,
    progress: bool = True,
) -> CollectResult:
    """Build (or, with `resume`, continue) the store `out`, in this process or on a Ray
    cluster (`cluster`); every input check comes before the first write, so bad input leaves
    no file behind. `backend` overrides `config.backend` in this process (tests pass fakes)."""
    config.check()
    if cluster is not None:
        cluster.check(config)
    _require_libraries(config.backend if backend is None else None)
    items = read_questions(questions)
    out = Path(out)
    meta_file = metadata_path(out)
    if not out.parent.is_dir():
        raise CollectError(f"the folder of the output {out} does not exist.")
    model = resolve_model(config.model)
    tokenizer = load_tokenizer(model)
    fmt = PromptFormat.for_tokenizer(tokenizer)
    settings = run_settings(config, fmt, tokenizer)
    shards = Shards(out, items)
    previous = _check_outputs(out, meta_file, shards, settings, resume)
    if resume and out.exists() and _adopt_store(out, shards):
        shards.remove()
        return CollectResult(out, meta_file, len(items), len(items), 0, _accuracy(read_json(out)))
    finished = set(shards.finished())
    todo = [index for index in range(len(items)) if index not in finished]
    pool = None
    if cluster is not None and todo:
        from tts_gym.collect.cluster import RayPool

        pool = RayPool.open(config, cluster, settings)
    retried = 0
    try:
        metadata = new_metadata(previous, settings, out, Path(questions), items, tokenizer, fmt)
        with _Recorder(shards, meta_file, metadata, len(items) - len(todo), progress) as record:
            if pool is not None:
                retried = pool.run(todo, items, record)
            elif todo:
                if backend is None:
                    backend = open_backend(config, model)
                run_here(todo, items, QuestionCollector(backend, tokenizer, fmt, config), record)
    finally:
        if pool is not None:
            pool.close()
    entries = shards.assemble()
    return CollectResult(
        out, meta_file, len(items), len(items), len(todo), _accuracy(entries), retried
    )


def open_backend(config: CollectConfig, model: str, executor: str | None = None) -> Backend:
    """`config.backend` for the files of `model` (a folder or hub name), loaded now."""
    return load_backend(
        config.backend,
        model,
        seed=config.seed,
        top_logprobs=config.top_logprobs,
        tensor_parallel_size=config.tensor_parallel_size,
        executor=executor,
    )


def run_here(
    todo: list[int], items: list[QuestionItem], collector: QuestionCollector, finish: Finish
) -> None:
    """The questions `todo`, `batch_questions` at a time, on this process's backend."""
    size = collector.config.batch_questions
    for start in range(0, len(todo), size):
        batch = [(index, items[index]) for index in todo[start : start + size]]
        for (index, _), entry in zip(batch, collector.collect(batch), strict=True):
            finish(index, entry)


def _check_outputs(
    out: Path, meta_file: Path, shards: Shards, settings: dict[str, Any], resume: bool
) -> dict[str, Any] | None:
    """Refuse to overwrite a store or an interrupted run unless resuming; when resuming, the
    metadata of the run being continued (checked against `settings`)."""
    if not resume:
        if out.exists():
            raise CollectError(f"{out} already exists; pass --resume to continue it, or remove it.")
        if shards.folder.exists():
            raise CollectError(
                f"{shards.folder} holds the finished questions of an interrupted run; pass "
                "--resume to continue it, or remove it."
            )
        return None
    previous = previous_metadata(meta_file, out, settings)
    if previous is None and (out.exists() or shards.folder.exists()):
        raise CollectError(f"cannot resume {out}: its metadata file {meta_file} is missing.")
    return previous


class _Recorder:
    """What happens to each finished question: its shard, the metadata's count, the bar."""

    def __init__(
        self, shards: Shards, meta_file: Path, metadata: dict[str, Any], done: int, progress: bool
    ) -> None:
        from tqdm.auto import tqdm

        self.shards, self.meta_file, self.metadata = shards, meta_file, metadata
        self.done, self.finals, self.correct = done, 0, 0
        write_metadata(meta_file, metadata, done)
        self.bar = tqdm(
            total=len(shards.items),
            initial=done,
            desc="collect",
            unit="question",
            disable=None if progress else True,
        )

    def __call__(self, index: int, entry: dict[str, Any]) -> None:
        self.shards.write(index, entry)
        self.done += 1
        write_metadata(self.meta_file, self.metadata, self.done)
        self.finals += len(entry["final_answers_trace"])
        self.correct += entry["final_answers_trace"].count(entry["gold_answer"])
        self.bar.update(1)
        self.bar.set_postfix(final_acc=f"{self.correct / self.finals:.2f}")

    def __enter__(self) -> _Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


def _adopt_store(out: Path, shards: Shards) -> bool:
    """Resuming onto an existing store: whole (True), or the first questions of a longer
    question file, which then count as finished (written as shards)."""
    entries = read_json(out, "store")
    parse_questions(entries, out)
    if len(entries) > len(shards.items):
        raise CollectError(
            f"cannot resume {out}: it holds {len(entries)} questions, "
            f"the question file only {len(shards.items)}."
        )
    shards.check_entries(entries, 0, out)
    if len(entries) == len(shards.items):
        return True
    for index, entry in enumerate(entries):
        if not shards.path(index).exists():
            shards.write(index, entry)
    return False


def _accuracy(entries: list[dict[str, Any]]) -> float:
    """Share of branches whose final answer is the gold answer."""
    finals = [(f, e["gold_answer"]) for e in entries for f in e["final_answers_trace"]]
    return sum(f == gold for f, gold in finals) / len(finals) if finals else 0.0


def _require_libraries(backend: str | None) -> None:
    needed = ["transformers", "math_verify"] + (["torch"] if backend == "transformers" else [])
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise CollectError(
            f"collection needs {', '.join(missing)}; install `pip install 'tts-gym[collect]'`."
        )
