"""The vLLM backend's requests and the reading of its outputs, against a fake `vllm` module.

vLLM itself is not installed in CI (it needs a GPU); these tests pin what the backend asks
vLLM for (token-id prompts, sampling parameters, log-probabilities, greedy probes) and how it
turns vLLM's per-position log-probability dictionaries into arrays.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from tts_gym.collect.backends import SamplingConfig, load_backend
from tts_gym.collect.backends.vllm import VLLMBackend, sample_from_completion
from tts_gym.collect.errors import CollectError


@dataclass
class Logprob:  # vllm.logprobs.Logprob
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:
    index: int
    token_ids: list[int]
    logprobs: list[dict[int, Logprob]] | None


@dataclass
class RequestOutput:
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]


class SamplingParams:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


class FakeLLM:
    instances: list[FakeLLM] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.requests: list[tuple[list[dict], SamplingParams, dict]] = []
        FakeLLM.instances.append(self)

    def generate(self, prompts: list[dict], params: SamplingParams, **kwargs: Any):
        self.requests.append((prompts, params, kwargs))
        n = params.kwargs["n"]
        results = []
        for prompt in prompts:
            ids = prompt["prompt_token_ids"]
            outputs = []
            for j in range(n):
                # a trace of 3 tokens; log-probs: the sampled token and two more
                tokens = [ids[-1] + j, 7, 2]
                positions = [
                    {tokens[0]: Logprob(-0.5, 1), 99: Logprob(-1.5, 2)},
                    {7: Logprob(-3.0, 3), 11: Logprob(-0.1, 1), 12: Logprob(-2.0, 2)},
                    {2: Logprob(-0.2, 1), 13: Logprob(-4.0, 2)},
                ]
                logprobs = positions if params.kwargs.get("logprobs") else None
                outputs.append(CompletionOutput(j, tokens, logprobs))
            results.append(RequestOutput(ids, outputs))
        return results


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM
    module.SamplingParams = SamplingParams
    inputs = types.ModuleType("vllm.inputs")
    inputs.TokensPrompt = lambda prompt_token_ids: {"prompt_token_ids": prompt_token_ids}
    module.inputs = inputs
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.inputs", inputs)
    FakeLLM.instances.clear()
    return module


def test_engine_is_built_for_prefix_caching_and_logprobs(fake_vllm) -> None:
    backend = load_backend(
        "vllm", "Qwen/Qwen3-0.6B", seed=5, top_logprobs=2, tensor_parallel_size=2
    )
    assert isinstance(backend, VLLMBackend)
    assert FakeLLM.instances[0].kwargs == {
        "model": "Qwen/Qwen3-0.6B",
        "seed": 5,
        "enable_prefix_caching": True,
        "max_logprobs": 2,
        "tensor_parallel_size": 2,
    }


def test_sampling_request(fake_vllm) -> None:
    backend = VLLMBackend("m", seed=0, top_logprobs=2)
    config = SamplingConfig(n=3, max_tokens=40000, temperature=0.7, top_p=0.95, top_logprobs=2)
    samples = backend.sample([5, 6, 10], config, seed=1234)
    [(prompts, params, kwargs)] = FakeLLM.instances[0].requests
    assert prompts == [{"prompt_token_ids": [5, 6, 10]}]
    assert params.kwargs == {
        "n": 3,
        "temperature": 0.7,
        "top_p": 0.95,
        "max_tokens": 40000,
        "seed": 1234,
        "logprobs": 2,
        "detokenize": False,
    }
    assert kwargs == {"use_tqdm": False}
    assert [s.token_ids for s in samples] == [[10, 7, 2], [11, 7, 2], [12, 7, 2]]


def test_logprob_arrays_from_a_completion() -> None:
    positions = [
        {4: Logprob(-0.5, 1), 99: Logprob(-1.5, 2)},
        # the sampled token 7 is outside the top 2: vLLM adds it as a third entry
        {7: Logprob(-3.0, 3), 11: Logprob(-0.1, 1), 12: Logprob(-2.0, 2)},
    ]
    sample = sample_from_completion(CompletionOutput(0, [4, 7], positions), k=2)
    assert sample.token_ids == [4, 7]
    np.testing.assert_allclose(sample.logprobs, [-0.5, -3.0])
    np.testing.assert_allclose(sample.top_logprobs, [[-0.5, -1.5], [-0.1, -2.0]])


def test_probe_request_is_one_greedy_batch(fake_vllm) -> None:
    backend = VLLMBackend("m", seed=0, top_logprobs=2)
    prefixes = [[1, 2, 3, 9], [1, 2, 3, 4, 5, 9]]  # prompt + trace[:k*D] + suffix
    continuations = backend.probe(prefixes, max_tokens=32)
    [(prompts, params, kwargs)] = FakeLLM.instances[0].requests
    assert prompts == [{"prompt_token_ids": p} for p in prefixes]
    assert params.kwargs == {"n": 1, "temperature": 0.0, "max_tokens": 32, "detokenize": False}
    assert kwargs == {"use_tqdm": False}
    assert continuations == [[9, 7, 2], [9, 7, 2]]  # in the order of the prefixes


def test_missing_vllm_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    with pytest.raises(CollectError, match=r"pip install 'tts-gym\[vllm\]'"):
        VLLMBackend("m", seed=0, top_logprobs=20)


def test_model_that_vllm_cannot_load(fake_vllm, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(**kwargs: Any) -> None:
        raise ValueError("No such model: m\nmore detail")

    monkeypatch.setattr(fake_vllm, "LLM", refuse)
    with pytest.raises(CollectError, match=r"^vLLM cannot load model 'm' \(No such model: m\)\.$"):
        VLLMBackend("m", seed=0, top_logprobs=20)
