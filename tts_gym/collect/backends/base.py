"""The interface every backend implements: sample traces with log-probabilities, probe greedily.

Everything else (prompts, cutting, answers, confidence, the store) is shared code, so a
backend is only these two calls and the two backends produce stores of the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

BACKENDS = ("vllm", "transformers")


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


def load_backend(
    name: str, model: str, *, seed: int, top_logprobs: int, tensor_parallel_size: int = 1
) -> Backend:
    """Import the backend's library only when it is chosen (vLLM is an optional extra)."""
    if name == "vllm":
        from tts_gym.collect.backends.vllm import VLLMBackend

        return VLLMBackend(
            model, seed=seed, top_logprobs=top_logprobs, tensor_parallel_size=tensor_parallel_size
        )
    if name == "transformers":
        from tts_gym.collect.backends.transformers import TransformersBackend

        return TransformersBackend(model)
    raise ValueError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
