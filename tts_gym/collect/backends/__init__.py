"""Generation backends: the only code of collection that calls a model.

`base` states the interface; each backend module implements it with its own library, which
`load_backend` imports only when that backend is chosen (vLLM is an optional extra).
"""

from __future__ import annotations

from tts_gym.collect.backends.base import (
    Backend,
    Generation,
    GenerationRequest,
    Sample,
    SampleRequest,
    SamplingConfig,
)

BACKENDS = ("vllm", "transformers")

__all__ = [
    "BACKENDS",
    "Backend",
    "Generation",
    "GenerationRequest",
    "Sample",
    "SampleRequest",
    "SamplingConfig",
    "load_backend",
]


def load_backend(
    name: str,
    model: str,
    *,
    seed: int,
    top_logprobs: int,
    tensor_parallel_size: int = 1,
    executor: str | None = None,
) -> Backend:
    """The backend `name` for `model`, its library imported now (`executor`: vLLM only)."""
    if name == "vllm":
        from tts_gym.collect.backends.vllm import VLLMBackend

        return VLLMBackend(
            model,
            seed=seed,
            top_logprobs=top_logprobs,
            tensor_parallel_size=tensor_parallel_size,
            executor=executor,
        )
    if name == "transformers":
        from tts_gym.collect.backends.transformers import TransformersBackend

        return TransformersBackend(model)
    raise ValueError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
