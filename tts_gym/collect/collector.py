"""The shared collection pipeline: questions in, a valid AutoTTS replay store out.

Per question: sample n traces, cut each every `interval` tokens (by token count), probe the
answer at every cut, read the final answer, match answers to the gold, compute per-segment
confidence. A branch of T tokens gets ceil(T/D) probe entries: the probed answers after
D, 2D, ... tokens (every cut strictly inside the trace) and, last, the final answer, which is
the shape of the AutoTTS stores. The store is rewritten atomically after every question, so
it is always a valid store of the questions done so far, and `resume` continues from there.
Each question's sampling seed is derived from (seed, question index) alone, so a resumed run
samples exactly what an uninterrupted one would.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from tts_gym.collect.answers import GoldMatcher, last_boxed, probe_answer
from tts_gym.collect.backends import BACKENDS, Backend, SamplingConfig, load_backend
from tts_gym.collect.confidence import segment_group_confidence, segment_mean_logprob
from tts_gym.collect.errors import CollectError
from tts_gym.collect.prompt import INSTRUCTION, PromptFormat, load_tokenizer
from tts_gym.collect.questions import QuestionItem, read_questions
from tts_gym.store.files import read_json, write_json
from tts_gym.store.replay import CONFIDENCE_KEY, parse_questions

EXTRA_KEYS = {
    "id": "the question's `id` from the question file, else its 0-based index",
    CONFIDENCE_KEY: "per branch, per segment: DeepConf group confidence at the segment's end",
    "segment_mean_logprob": "per branch, per segment: mean log-probability of sampled tokens",
    "raw_probe_answers": "per branch: the probe answers as read, before matching to the gold",
    "raw_final_answers": "per branch: the final answer as read, before matching to the gold",
    "prompt_tokens": "length of the chat-formatted prompt in tokens (not part of branch_tokens)",
}
DECIMALS = 6  # confidence values are rounded so the JSON stays small and byte-stable


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
    questions: int  # questions in the store now
    total: int  # questions in the question file
    collected: int  # questions collected by this run
    final_accuracy: float  # share of branches whose final answer is the gold answer


def metadata_path(store: str | os.PathLike) -> Path:
    """`STORE.json` -> `STORE.meta.json`, next to the store."""
    return Path(store).with_suffix(".meta.json")


def question_seed(seed: int, index: int) -> int:
    """A question's sampling seed, from the run seed and the question's index only."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0]) & 0x7FFFFFFF


def collect(
    questions: str | os.PathLike,
    out: str | os.PathLike,
    config: CollectConfig,
    *,
    resume: bool = False,
    backend: Backend | None = None,
    progress: bool = True,
) -> CollectResult:
    """Build (or, with `resume`, continue) the store `out`; every input check comes before
    the first write, so bad input leaves no file behind. `backend` overrides `config.backend`
    (tests pass fakes)."""
    config.check()
    _require_libraries(config.backend if backend is None else None)
    items = read_questions(questions)
    out = Path(out)
    meta_file = metadata_path(out)
    if not out.parent.is_dir():
        raise CollectError(f"the folder of the output {out} does not exist.")
    tokenizer = load_tokenizer(config.model)
    fmt = PromptFormat.for_tokenizer(tokenizer)
    settings = _settings(config, fmt, tokenizer)
    if resume:
        records, metadata = _resume_state(out, meta_file, items, settings)
    elif out.exists():
        raise CollectError(f"{out} already exists; pass --resume to continue it, or remove it.")
    else:
        records, metadata = [], None
    done = len(records)
    if done < len(items):
        if backend is None:
            backend = load_backend(
                config.backend,
                config.model,
                seed=config.seed,
                top_logprobs=config.top_logprobs,
                tensor_parallel_size=config.tensor_parallel_size,
            )
        metadata = _metadata(metadata, settings, out, Path(questions), items, tokenizer, fmt)
        _update_metadata(meta_file, metadata, len(records))
        _run(items, records, out, meta_file, metadata, backend, tokenizer, fmt, config, progress)
    return CollectResult(
        store=out,
        metadata=meta_file,
        questions=len(records),
        total=len(items),
        collected=len(records) - done,
        final_accuracy=_final_accuracy(records),
    )


def _run(
    items: list[QuestionItem],
    records: list[dict[str, Any]],
    out: Path,
    meta_file: Path,
    metadata: dict[str, Any],
    backend: Backend,
    tokenizer: Any,
    fmt: PromptFormat,
    config: CollectConfig,
    progress: bool,
) -> None:
    from tqdm.auto import tqdm

    with tqdm(
        total=len(items),
        initial=len(records),
        desc="collect",
        unit="question",
        disable=None if progress else True,
    ) as bar:
        for index in range(len(records), len(items)):
            records.append(collect_question(items[index], index, backend, tokenizer, fmt, config))
            write_json(out, records, indent=None)
            _update_metadata(meta_file, metadata, len(records))
            bar.update(1)
            bar.set_postfix(final_acc=f"{_final_accuracy(records):.2f}")


def collect_question(
    item: QuestionItem,
    index: int,
    backend: Backend,
    tokenizer: Any,
    fmt: PromptFormat,
    config: CollectConfig,
) -> dict[str, Any]:
    """One question's store entry (AutoTTS keys first, then the extra keys)."""
    prompt = fmt.prompt_ids(tokenizer, item.question)
    samples = backend.sample(prompt, config.sampling, question_seed(config.seed, index))
    interval = config.interval
    suffix = list(fmt.suffix_ids)
    cuts = [range(interval, len(s.token_ids), interval) for s in samples]
    prefixes = [
        prompt + s.token_ids[:c] + suffix for s, cs in zip(samples, cuts, strict=True) for c in cs
    ]
    continuations = iter(backend.probe(prefixes, config.probe_tokens) if prefixes else [])

    match = GoldMatcher(item.answer)
    branches, raw_probes, raw_finals, confidence, mean_logprob = [], [], [], [], []
    for sample, branch_cuts in zip(samples, cuts, strict=True):
        raw = [probe_answer(_decode(tokenizer, next(continuations))) for _ in branch_cuts]
        raw.append(last_boxed(_decode(tokenizer, sample.token_ids)))
        probes = [match(answer) for answer in raw]
        branches.append([probes, len(sample.token_ids), probes[-1]])
        raw_probes.append(raw)
        raw_finals.append(raw[-1])
        confidence.append(
            _rounded(
                segment_group_confidence(sample.top_logprobs, interval, config.confidence_window)
            )
        )
        mean_logprob.append(_rounded(segment_mean_logprob(sample.logprobs, interval)))
    return {
        "id": index if item.id is None else item.id,
        "question": item.question,
        "gold_answer": item.answer,
        "probe_freq": interval,
        "final_answers_trace": [branch[2] for branch in branches],
        "each_branch": branches,
        CONFIDENCE_KEY: confidence,
        "segment_mean_logprob": mean_logprob,
        "raw_probe_answers": raw_probes,
        "raw_final_answers": raw_finals,
        "prompt_tokens": len(prompt),
    }


def _decode(tokenizer: Any, ids: Sequence[int]) -> str:
    return tokenizer.decode(list(ids), skip_special_tokens=True)


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), DECIMALS) for v in values]


def _final_accuracy(records: list[dict[str, Any]]) -> float:
    finals = [(f, r["gold_answer"]) for r in records for f in r["final_answers_trace"]]
    return sum(f == gold for f, gold in finals) / len(finals) if finals else 0.0


def _require_libraries(backend: str | None) -> None:
    needed = ["transformers", "math_verify"] + (["torch"] if backend == "transformers" else [])
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise CollectError(
            f"collection needs {', '.join(missing)}; install `pip install 'tts-gym[collect]'`."
        )


def _settings(config: CollectConfig, fmt: PromptFormat, tokenizer: Any) -> dict[str, Any]:
    """Everything that changes what is sampled or stored; a resumed run must match it exactly."""
    settings = asdict(config)
    del settings["tensor_parallel_size"]
    settings.update(
        instruction=INSTRUCTION,
        chat_template_sha256=hashlib.sha256(str(tokenizer.chat_template).encode()).hexdigest(),
        thinking=fmt.thinking,
        suffix=fmt.suffix,
        suffix_ids=list(fmt.suffix_ids),
    )
    return settings


def _resume_state(
    out: Path, meta_file: Path, items: list[QuestionItem], settings: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    metadata = read_json(meta_file, "metadata file") if meta_file.exists() else None
    if metadata is not None:
        old = metadata.get("settings") if isinstance(metadata, dict) else None
        if not isinstance(old, dict):
            raise CollectError(f"cannot resume: {meta_file} has no 'settings' object.")
        for key, value in settings.items():
            if old.get(key) != value:
                raise CollectError(
                    f"cannot resume {out}: it was collected with {key}={old.get(key)!r}, "
                    f"this run has {key}={value!r}."
                )
    if not out.exists():
        return [], metadata
    if metadata is None:
        raise CollectError(f"cannot resume {out}: its metadata file {meta_file} is missing.")
    records = read_json(out, "store")
    parse_questions(records, out)
    if len(records) > len(items):
        raise CollectError(
            f"cannot resume {out}: it holds {len(records)} questions, "
            f"the question file only {len(items)}."
        )
    for index, (record, item) in enumerate(zip(records, items[: len(records)], strict=True)):
        if record["question"] != item.question or record["gold_answer"] != item.answer:
            raise CollectError(
                f"cannot resume {out}: its question {index} differs from question {index} "
                "of the question file."
            )
    return records, metadata


def _metadata(
    previous: dict[str, Any] | None,
    settings: dict[str, Any],
    out: Path,
    questions: Path,
    items: list[QuestionItem],
    tokenizer: Any,
    fmt: PromptFormat,
) -> dict[str, Any]:
    now = _now()
    return {
        "store": out.name,
        "format": "AutoTTS replay store; extra per-question keys are ignored by AutoTTS readers",
        "questions_file": str(questions),
        "questions_sha256": hashlib.sha256(questions.read_bytes()).hexdigest(),
        "total_questions": len(items),
        "completed_questions": 0,
        "settings": settings,
        "example_prompt": tokenizer.decode(fmt.prompt_ids(tokenizer, items[0].question)),
        "extra_keys": EXTRA_KEYS,
        "confidence": {
            CONFIDENCE_KEY: (
                f"DeepConf group confidence: token confidence C_i = -mean of the "
                f"{settings['top_logprobs']} largest log-probabilities at position i; "
                f"value = mean of C over the {settings['confidence_window']} tokens up to "
                "the segment's last token (fewer at the start of the trace)"
            ),
            "segment_mean_logprob": "mean log-probability of the segment's sampled tokens",
            "segments": "segment k holds tokens k*D .. min((k+1)*D, T) - 1, one per probe entry",
        },
        "versions": _versions(settings["backend"]),
        "created": now if previous is None else previous.get("created", now),
        "updated": now,
    }


def _update_metadata(meta_file: Path, metadata: dict[str, Any], completed: int) -> None:
    metadata["completed_questions"] = completed
    metadata["updated"] = _now()
    write_json(meta_file, metadata, indent=None)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _versions(backend: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    names = ["tts-gym", "torch", "transformers", "tokenizers", "math-verify"]
    for name in names + (["vllm"] if backend == "vllm" else []):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found
