"""The vLLM backend's requests and the reading of its outputs, against a fake `vllm` module.

vLLM itself is not installed in CI (it needs a GPU); these tests pin what the backend asks
vLLM for (token-id prompts, one `SamplingParams` per request with its own seed,
log-probabilities, greedy probes, sampled continuations), that a batch of questions is one
`generate` call for the sampling and one for all their probes, and how the backend turns
vLLM's per-position log-probability dictionaries into arrays.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from tts_gym.collect import CollectConfig, QuestionItem
from tts_gym.collect.backends import (
    Generation,
    GenerationRequest,
    SampleRequest,
    SamplingConfig,
    load_backend,
)
from tts_gym.collect.backends.vllm import VLLMBackend, sample_from_completion
from tts_gym.collect.errors import CollectError
from tts_gym.collect.prompt import PromptFormat
from tts_gym.collect.records import QuestionCollector, question_seed


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
    finish_reason: str = "stop"


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

    def generate(self, prompts: list[dict], params: list[SamplingParams], **kwargs: Any):
        assert len(params) == len(prompts)  # vLLM's per-request sampling parameters
        self.requests.append((prompts, params, kwargs))
        results = []
        for prompt, param in zip(prompts, params, strict=True):
            ids = prompt["prompt_token_ids"]
            outputs = []
            for j in range(param.kwargs["n"]):
                # a trace of 3 tokens; log-probs: the sampled token and two more
                tokens = [ids[-1] + j, 7, 2]
                positions = [
                    {tokens[0]: Logprob(-0.5, 1), 99: Logprob(-1.5, 2)},
                    {7: Logprob(-3.0, 3), 11: Logprob(-0.1, 1), 12: Logprob(-2.0, 2)},
                    {2: Logprob(-0.2, 1), 13: Logprob(-4.0, 2)},
                ]
                logprobs = positions if param.kwargs.get("logprobs") else None
                reason = "length" if param.kwargs["max_tokens"] <= 3 else "stop"
                outputs.append(CompletionOutput(j, tokens, logprobs, reason))
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


def test_sampling_of_several_questions_is_one_request(fake_vllm) -> None:
    backend = VLLMBackend("m", seed=0, top_logprobs=2)
    config = SamplingConfig(n=3, max_tokens=40000, temperature=0.7, top_p=0.95, top_logprobs=2)
    requests = [SampleRequest([5, 6, 10], seed=1234), SampleRequest([5, 20], seed=99)]
    sampled = backend.sample(requests, config)
    [(prompts, params, kwargs)] = FakeLLM.instances[0].requests
    assert prompts == [{"prompt_token_ids": [5, 6, 10]}, {"prompt_token_ids": [5, 20]}]
    common = {"n": 3, "temperature": 0.7, "top_p": 0.95, "max_tokens": 40000, "logprobs": 2}
    assert [p.kwargs for p in params] == [
        {**common, "seed": 1234, "detokenize": False},
        {**common, "seed": 99, "detokenize": False},
    ]
    assert kwargs == {"use_tqdm": False}
    assert [[s.token_ids for s in samples] for samples in sampled] == [
        [[10, 7, 2], [11, 7, 2], [12, 7, 2]],
        [[20, 7, 2], [21, 7, 2], [22, 7, 2]],
    ]


def test_a_batch_of_questions_through_the_pipeline(fake_vllm) -> None:
    """`--batch-questions 2`: one generate call samples both questions, one probes them all."""
    tokenizer = _DigitTokenizer()
    config = CollectConfig(model="m", n=2, interval=1, top_logprobs=2, probe_tokens=4, seed=3)
    fmt = PromptFormat(thinking=False, suffix="|", suffix_ids=(9,))
    backend = VLLMBackend("m", seed=3, top_logprobs=2)
    batch = [(4, QuestionItem("1?", "7")), (9, QuestionItem("22?", "7"))]
    entries = QuestionCollector(backend, tokenizer, fmt, config).collect(batch)
    sampling, probing = FakeLLM.instances[0].requests
    assert [p.kwargs["seed"] for p in sampling[1]] == [question_seed(3, 4), question_seed(3, 9)]
    prompts = [fmt.prompt_ids(tokenizer, item.question) for _, item in batch]
    # every cut strictly inside each 3-token trace (1 and 2 tokens), both questions, in order
    assert [p["prompt_token_ids"] for p in probing[0]] == [
        prompt + [prompt[-1] + j, 7][:cut] + [9]
        for prompt in prompts
        for j in range(2)
        for cut in (1, 2)
    ]
    assert all(
        p.kwargs == {"n": 1, "temperature": 0.0, "max_tokens": 4, "detokenize": False}
        for p in probing[1]
    )
    assert [e["id"] for e in entries] == [4, 9]
    assert [len(e["each_branch"]) for e in entries] == [2, 2]


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


def test_probes_and_continuations_are_one_batch(fake_vllm) -> None:
    backend = VLLMBackend("m", seed=0, top_logprobs=2)
    requests = [
        GenerationRequest([1, 2, 3, 9], max_tokens=32),  # a probe: prompt + trace[:k*D] + suffix
        GenerationRequest([1, 2, 3, 4, 5], max_tokens=3, temperature=0.6, top_p=0.9, seed=41),
    ]
    generations = backend.generate(requests)
    [(prompts, params, kwargs)] = FakeLLM.instances[0].requests
    assert prompts == [{"prompt_token_ids": r.prefix_ids} for r in requests]
    assert params[0].kwargs == {"n": 1, "temperature": 0.0, "max_tokens": 32, "detokenize": False}
    assert params[1].kwargs == {
        "n": 1,
        "temperature": 0.6,
        "top_p": 0.9,
        "max_tokens": 3,
        "seed": 41,
        "detokenize": False,
    }
    assert kwargs == {"use_tqdm": False}
    # in the order of the requests; "stop" is the model's own end, "length" ran out
    assert generations == [Generation([9, 7, 2], True), Generation([5, 7, 2], False)]


def test_inside_a_ray_worker_tensor_parallel_runs_on_processes(fake_vllm) -> None:
    load_backend("vllm", "m", seed=1, top_logprobs=2, tensor_parallel_size=4, executor="mp")
    assert FakeLLM.instances[0].kwargs["distributed_executor_backend"] == "mp"
    assert FakeLLM.instances[0].kwargs["tensor_parallel_size"] == 4


class _DigitTokenizer:
    """Enough of a tokenizer for the pipeline: one id per character of the chat text."""

    chat_template = "stub"

    def apply_chat_template(self, messages, **kwargs) -> str:
        return messages[0]["content"][:3]

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": [ord(c) % 50 for c in text]}

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        return "".join(str(i % 10) for i in ids)


def test_missing_vllm_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    with pytest.raises(CollectError, match=r"pip install -e '\.\[vllm\]'"):
        VLLMBackend("m", seed=0, top_logprobs=20)


def test_model_that_vllm_cannot_load(fake_vllm, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(**kwargs: Any) -> None:
        raise ValueError("No such model: m\nmore detail")

    monkeypatch.setattr(fake_vllm, "LLM", refuse)
    with pytest.raises(CollectError, match=r"^vLLM cannot load model 'm' \(No such model: m\)\.$"):
        VLLMBackend("m", seed=0, top_logprobs=20)
