"""The interface every backend implements: sample traces with log-probabilities, probe greedily.

Everything else (prompts, cutting, answers, confidence, the store) is shared code, so a
backend is only these two calls and the two backends produce stores of the same shape.
"""

from __future__ import annotations

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
class Sample:
    """One sampled trace. Token ids include the end-of-sequence token when the model emitted one."""

    token_ids: list[int]
    logprobs: np.ndarray  # (T,) log-probability of each sampled token
    top_logprobs: np.ndarray  # (T, k) the k largest log-probabilities at each position


class Backend(Protocol):
    def sample(self, prompt_ids: list[int], config: SamplingConfig, seed: int) -> list[Sample]:
        """`config.n` independent traces of one prompt, reproducible from `seed`."""
        ...

    def probe(self, prefixes: list[list[int]], max_tokens: int) -> list[list[int]]:
        """Greedy continuations (token ids, at most `max_tokens`) of each prefix, in order."""
        ...
