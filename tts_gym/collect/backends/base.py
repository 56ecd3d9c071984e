"""The interface every backend implements: sample traces with log-probabilities, and continue
prefixes (greedy probes, or sampled continuations of a live branch).

Both calls take many requests at once, so a backend that batches (vLLM) sees the whole batch:
the sampling of several questions goes out together (`--batch-questions`), and so do all
their probes. Everything else (prompts, cutting, answers, confidence, the store) is shared
code, so a backend is only these two calls and every backend produces stores of one shape.
Results never depend on how requests are batched: each request carries its own seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class SamplingConfig:
    n: int
    max_tokens: int
    temperature: float
    top_p: float
    top_logprobs: int  # k of the top-k log-probabilities returned per position


@dataclass(frozen=True)
class SampleRequest:
    """One question: `SamplingConfig.n` traces of `prompt_ids`, reproducible from `seed`."""

    prompt_ids: list[int]
    seed: int


@dataclass(frozen=True)
class Sample:
    """One sampled trace. Token ids include the end-of-sequence token when the model emitted one."""

    token_ids: list[int]
    logprobs: np.ndarray  # (T,) log-probability of each sampled token
    top_logprobs: np.ndarray  # (T, k) the k largest log-probabilities at each position


@dataclass(frozen=True)
class GenerationRequest:
    """One continuation of `prefix_ids`: greedy at temperature 0 (a probe), else sampled
    (top-p) from its own `seed`."""

    prefix_ids: list[int]
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None


@dataclass(frozen=True)
class Generation:
    token_ids: list[int]  # the end-of-sequence token included when the model emitted one
    stopped: bool  # the model ended it (end of sequence) before `max_tokens` ran out


class Backend(Protocol):
    def sample(
        self, requests: Sequence[SampleRequest], config: SamplingConfig
    ) -> list[list[Sample]]:
        """Per request, `config.n` independent traces, in request order."""
        ...

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """One continuation per request, in request order."""
        ...
