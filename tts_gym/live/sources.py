"""From a command's words to an engine and its questions: `vllm`, `transformers`, `openai`
(a completions server) or `replay:STORE`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tts_gym.collect.backends import load_backend
from tts_gym.collect.hub import resolve_model
from tts_gym.collect.prompt import PromptFormat, load_tokenizer
from tts_gym.collect.questions import read_questions
from tts_gym.live.engines import GenerationEngine, LiveEngine, ReplayEngine, Sampling, TokenModel
from tts_gym.live.errors import LiveError
from tts_gym.live.report import Labels
from tts_gym.live.runner import QuestionSpec
from tts_gym.store.select import select_stores

ENGINES = ("vllm", "transformers", "openai", "replay:STORE")


@dataclass(frozen=True)
class EngineConfig:
    """Which engine, and how to reach it. `model`: what vllm or transformers load, or the
    name an OpenAI-compatible server serves; `tokenizer`: where the chat template comes from
    for `openai` (default: `model`); `branches`: how many branches a question offers."""

    engine: str
    model: str | None = None
    tokenizer: str | None = None
    base_url: str | None = None
    branches: int = 64
    tensor_parallel_size: int = 1  # vllm
    timeout: float = 600.0  # openai: seconds per request
    attempts: int = 4  # openai: tries per request
    concurrency: int = 64  # openai: requests in flight at once
    api_key_env: str = "OPENAI_API_KEY"  # openai: the environment variable holding the key

    def check(self) -> None:
        kind = self.engine.partition(":")[0]
        if kind not in ("vllm", "transformers", "openai", "replay"):
            raise LiveError(f"unknown engine '{self.engine}'; use one of {', '.join(ENGINES)}.")
        for name in ("branches", "tensor_parallel_size", "attempts", "concurrency"):
            if getattr(self, name) < 1:
                raise LiveError(f"--{name.replace('_', '-')} must be at least 1.")
        if not self.timeout > 0:
            raise LiveError(f"--timeout must be positive, got {self.timeout}.")
        if kind in ("vllm", "transformers", "openai") and not self.model:
            raise LiveError(f"--engine {kind} needs --model.")
        if kind == "openai" and not self.base_url:
            raise LiveError("--engine openai needs --base-url (e.g. http://localhost:8000/v1).")


def open_engine(
    config: EngineConfig,
    sampling: Sampling,
    questions: str | os.PathLike | None,
    data_dir: str | os.PathLike | None = None,
) -> tuple[LiveEngine, list[QuestionSpec], Labels, Any]:
    """The engine, the questions it plays, the labels of the report, and what to close."""
    config.check()
    sampling.check()
    kind, _, store_spec = config.engine.partition(":")
    if kind == "replay":
        if questions is not None:
            raise LiveError("replay:STORE plays the store's own questions; drop --questions.")
        if not store_spec:
            raise LiveError("--engine replay needs a store: replay:NAME_OR_PATH.")
        [store] = select_stores([store_spec], data_dir)
        specs = [
            QuestionSpec(q.index, q.text, q.gold, q.probe_freq, q.n_branches)
            for q in store.questions
        ]
        labels = Labels(store.model or "-", store.benchmark or store.name, store.name)
        return ReplayEngine(store), specs, labels, None
    if questions is None:
        raise LiveError(f"--engine {kind} needs --questions FILE.jsonl.")
    items = read_questions(questions, need_answers=False)
    specs = [
        QuestionSpec(i, item.question, item.answer, sampling.interval, config.branches, item.id)
        for i, item in enumerate(items)
    ]
    assert config.model is not None
    tokenizer = load_tokenizer(resolve_model(config.tokenizer or config.model))
    fmt = PromptFormat.for_tokenizer(tokenizer)
    labels = Labels(config.model, Path(questions).stem, "-")
    if kind == "openai":
        from tts_gym.live.completions import CompletionsClient, CompletionsModel

        client = CompletionsClient(
            config.base_url or "",
            config.model,
            timeout=config.timeout,
            attempts=config.attempts,
            concurrency=config.concurrency,
            api_key=os.environ.get(config.api_key_env),
        )
        model = CompletionsModel(client, tokenizer, fmt, sampling)
        return GenerationEngine(model, sampling), specs, labels, client
    backend = load_backend(
        kind,
        resolve_model(config.model),
        seed=sampling.seed,
        top_logprobs=1,
        tensor_parallel_size=config.tensor_parallel_size,
    )
    model = TokenModel(backend, tokenizer, fmt, sampling)
    return GenerationEngine(model, sampling), specs, labels, None
