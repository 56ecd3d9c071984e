"""The production backend: vLLM on a GPU (`pip install 'tts-gym[vllm]'`), imported lazily.

Each call is one `LLM.generate` over all its requests, one `SamplingParams` per request:
the sampling of a batch of questions (`SamplingParams(n=...)`, vLLM seeds child j with
seed + j) goes out together and continuous batching schedules it; so do the probes of all
their branches, which share prompts and growing trace prefixes and so hit the prefix cache.
A live branch's continuation is the same call with its branch's text as the prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tts_gym.collect.backends.base import (
    Generation,
    GenerationRequest,
    Sample,
    SampleRequest,
    SamplingConfig,
)
from tts_gym.collect.errors import CollectError
from tts_gym.errors import first_line


class VLLMBackend:
    def __init__(
        self,
        model: str,
        *,
        seed: int,
        top_logprobs: int,
        tensor_parallel_size: int = 1,
        executor: str | None = None,
    ) -> None:
        """`executor`: vLLM's `distributed_executor_backend` ("mp" inside a Ray worker, whose
        GPUs Ray has already reserved); None lets vLLM choose."""
        try:
            import vllm
            from vllm.inputs import TokensPrompt
        except ImportError as error:
            raise CollectError(
                f"the vllm backend needs vLLM ({error}); install it with "
                "`pip install 'tts-gym[vllm]'` on a machine with a GPU, "
                "or use `--backend transformers`."
            ) from None
        self._sampling_params = vllm.SamplingParams
        self._tokens_prompt = TokensPrompt
        options: dict[str, Any] = (
            {} if executor is None else {"distributed_executor_backend": executor}
        )
        try:
            self.llm = vllm.LLM(
                model=model,
                seed=seed,
                enable_prefix_caching=True,
                max_logprobs=top_logprobs,
                tensor_parallel_size=tensor_parallel_size,
                **options,
            )
        except (OSError, ValueError) as error:
            raise CollectError(f"vLLM cannot load model '{model}' ({first_line(error)}).") from None

    def sampling_params(self, config: SamplingConfig, seed: int) -> Any:
        return self._sampling_params(
            n=config.n,
            temperature=config.temperature,
            top_p=config.top_p,
            max_tokens=config.max_tokens,
            seed=seed,
            logprobs=config.top_logprobs,
            detokenize=False,
        )

    def generation_params(self, request: GenerationRequest) -> Any:
        if request.temperature <= 0:
            return self._sampling_params(
                n=1, temperature=0.0, max_tokens=request.max_tokens, detokenize=False
            )
        return self._sampling_params(
            n=1,
            temperature=request.temperature,
            top_p=request.top_p,
            max_tokens=request.max_tokens,
            seed=request.seed,
            detokenize=False,
        )

    def sample(
        self, requests: Sequence[SampleRequest], config: SamplingConfig
    ) -> list[list[Sample]]:
        prompts = [self._tokens_prompt(prompt_token_ids=list(r.prompt_ids)) for r in requests]
        params = [self.sampling_params(config, r.seed) for r in requests]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return [
            [sample_from_completion(c, config.top_logprobs) for c in output.outputs]
            for output in outputs
        ]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        prompts = [self._tokens_prompt(prompt_token_ids=list(r.prefix_ids)) for r in requests]
        params = [self.generation_params(r) for r in requests]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return [generation_from_completion(output.outputs[0]) for output in outputs]


def generation_from_completion(completion: Any) -> Generation:
    """A `Generation` from a vLLM `CompletionOutput`: "stop" is the model's own end."""
    return Generation(list(completion.token_ids), completion.finish_reason == "stop")


def sample_from_completion(completion: Any, k: int) -> Sample:
    """Arrays from a vLLM `CompletionOutput` with `logprobs=k`.

    Each position maps token id -> `Logprob`: the top k plus the sampled token when it is not
    among them, so the k largest values are the top k.
    """
    token_ids = list(completion.token_ids)
    positions = completion.logprobs
    logprobs = np.array(
        [positions[i][token].logprob for i, token in enumerate(token_ids)], dtype=np.float32
    )
    top = np.array(
        [
            sorted((e.logprob for e in position.values()), reverse=True)[:k]
            for position in positions
        ],
        dtype=np.float32,
    ).reshape(len(token_ids), k)
    return Sample(token_ids=token_ids, logprobs=logprobs, top_logprobs=top)
