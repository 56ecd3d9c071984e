"""The production backend: vLLM on a GPU (`pip install 'tts-gym[vllm]'`), imported lazily.

A question's n traces are one request with `SamplingParams(n=...)` (vLLM seeds child j with
seed + j); its probes are one batched `generate` call, so the probes of a branch, which share
the prompt and a growing prefix of the trace, hit the prefix cache.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tts_gym.collect.backends.base import Sample, SamplingConfig
from tts_gym.collect.errors import CollectError
from tts_gym.errors import first_line


class VLLMBackend:
    def __init__(
        self, model: str, *, seed: int, top_logprobs: int, tensor_parallel_size: int = 1
    ) -> None:
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
        try:
            self.llm = vllm.LLM(
                model=model,
                seed=seed,
                enable_prefix_caching=True,
                max_logprobs=top_logprobs,
                tensor_parallel_size=tensor_parallel_size,
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

    def probe_params(self, max_tokens: int) -> Any:
        return self._sampling_params(n=1, temperature=0.0, max_tokens=max_tokens, detokenize=False)

    def sample(self, prompt_ids: list[int], config: SamplingConfig, seed: int) -> list[Sample]:
        prompt = self._tokens_prompt(prompt_token_ids=list(prompt_ids))
        [output] = self.llm.generate([prompt], self.sampling_params(config, seed), use_tqdm=False)
        return [sample_from_completion(c, config.top_logprobs) for c in output.outputs]

    def probe(self, prefixes: list[list[int]], max_tokens: int) -> list[list[int]]:
        prompts = [self._tokens_prompt(prompt_token_ids=list(p)) for p in prefixes]
        outputs = self.llm.generate(prompts, self.probe_params(max_tokens), use_tqdm=False)
        return [list(output.outputs[0].token_ids) for output in outputs]


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
