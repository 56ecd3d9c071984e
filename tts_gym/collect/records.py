"""One batch of questions in, their store entries out: sample, cut, probe, read, match, measure.

A branch of T tokens gets ceil(T/D) probe entries: the probed answers after D, 2D, ...
tokens (every cut strictly inside the trace) and, last, the final answer, which is the shape
of the AutoTTS stores. A batch's sampling is one backend call and all its probes another, so
a batching backend sees every question of the batch at once; each question's sampling seed
derives from (seed, question index) alone, so the entries do not depend on the batching, on
which worker ran them, or on what ran before (resuming gives the same store).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tts_gym.collect.answers import AnswerReader
from tts_gym.collect.backends import Backend, GenerationRequest, SampleRequest
from tts_gym.collect.confidence import segment_mean_logprob, segment_statistics
from tts_gym.collect.prompt import PromptFormat
from tts_gym.collect.questions import QuestionItem
from tts_gym.store.replay import CONFIDENCE_KEY, CONFIDENCE_STATISTICS

if TYPE_CHECKING:
    from tts_gym.collect.collector import CollectConfig

EXTRA_KEYS = {
    "id": "the question's `id` from the question file, else its 0-based index",
    CONFIDENCE_KEY: "per branch, per segment: DeepConf group confidence at the segment's end",
    CONFIDENCE_STATISTICS["lowest"]: "per branch, per segment: lowest group confidence so far",
    CONFIDENCE_STATISTICS["bottom10"]: "per branch, per segment: bottom-10% group confidence",
    CONFIDENCE_STATISTICS["tail"]: "per branch, per segment: tail confidence at the segment's end",
    "segment_mean_logprob": "per branch, per segment: mean log-probability of sampled tokens",
    "raw_probe_answers": "per branch: the probe answers as read, before matching to the gold",
    "raw_final_answers": "per branch: the final answer as read, before matching to the gold",
    "prompt_tokens": "length of the chat-formatted prompt in tokens (not part of branch_tokens)",
}
DECIMALS = 6  # confidence values are rounded so the JSON stays small and byte-stable


def derive_seed(seed: int, *keys: int) -> int:
    """A request's seed (31 bits), from the run seed and what the request is (its question's
    index, and for a live branch's chunk, the branch and the chunk's first token) only."""
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0]) & 0x7FFFFFFF


def question_seed(seed: int, index: int) -> int:
    """A question's sampling seed, from the run seed and the question's index only."""
    return derive_seed(seed, index)


class QuestionCollector:
    """Store entries of questions from one backend (what each Ray worker holds, too)."""

    def __init__(
        self, backend: Backend, tokenizer: Any, fmt: PromptFormat, config: CollectConfig
    ) -> None:
        self.backend = backend
        self.tokenizer = tokenizer
        self.fmt = fmt
        self.config = config

    def collect(self, batch: Sequence[tuple[int, QuestionItem]]) -> list[dict[str, Any]]:
        """The store entries of `(question index, item)` pairs, in the order given."""
        config = self.config
        prompts = [self.fmt.prompt_ids(self.tokenizer, item.question) for _, item in batch]
        requests = [
            SampleRequest(prompt, question_seed(config.seed, index))
            for prompt, (index, _) in zip(prompts, batch, strict=True)
        ]
        sampled = self.backend.sample(requests, config.sampling)
        probes = [
            GenerationRequest(
                self.fmt.probe_ids(prompt, sample.token_ids[:cut]), config.probe_tokens
            )
            for prompt, samples in zip(prompts, sampled, strict=True)
            for sample in samples
            for cut in range(config.interval, len(sample.token_ids), config.interval)
        ]
        continuations = iter(self.backend.generate(probes) if probes else [])
        return [
            self._entry(index, item, prompt, samples, continuations)
            for (index, item), prompt, samples in zip(batch, prompts, sampled, strict=True)
        ]

    def _entry(self, index, item, prompt, samples, continuations) -> dict[str, Any]:
        """One question's store entry (AutoTTS keys first, then the extra keys)."""
        config = self.config
        interval = config.interval
        reader = AnswerReader(item.answer)
        branches, raw_probes, raw_finals, mean_logprob = [], [], [], []
        statistics: dict[str, list[list[float]]] = {name: [] for name in CONFIDENCE_STATISTICS}
        for sample in samples:
            cuts = range(interval, len(sample.token_ids), interval)
            read = [reader.probe(self._decode(next(continuations).token_ids)) for _ in cuts]
            read.append(reader.final(self._decode(sample.token_ids)))
            probes = [matched for _, matched in read]
            branches.append([probes, len(sample.token_ids), probes[-1]])
            raw_probes.append([raw for raw, _ in read])
            raw_finals.append(read[-1][0])
            values = segment_statistics(
                sample.top_logprobs, interval, config.confidence_window, config.tail_window
            )
            for name, column in statistics.items():
                column.append(_rounded(values[name]))
            mean_logprob.append(_rounded(segment_mean_logprob(sample.logprobs, interval)))
        return {
            "id": index if item.id is None else item.id,
            "question": item.question,
            "gold_answer": item.answer,
            "probe_freq": interval,
            "final_answers_trace": [branch[2] for branch in branches],
            "each_branch": branches,
            **{CONFIDENCE_STATISTICS[name]: column for name, column in statistics.items()},
            "segment_mean_logprob": mean_logprob,
            "raw_probe_answers": raw_probes,
            "raw_final_answers": raw_finals,
            "prompt_tokens": len(prompt),
        }

    def _decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), DECIMALS) for v in values]
