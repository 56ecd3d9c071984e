"""The CPU backend: plain transformers, for small models and for tests.

Decoding is a short explicit loop over the KV cache rather than `generate()`: it keeps only
the top-k log-probabilities per step (full-vocabulary scores for 40k steps would not fit in
memory), and it samples with one seeded `torch.Generator` per request, so a question's
traces do not depend on what ran before it or beside it (resuming, `--batch-questions` and
Ray workers give the same store).
Log-probabilities are those of the raw model distribution (before temperature and top-p),
as vLLM reports them by default.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tts_gym.collect.backends.base import (
    Generation,
    GenerationRequest,
    Sample,
    SampleRequest,
    SamplingConfig,
)
from tts_gym.collect.errors import CollectError
from tts_gym.errors import first_line


class TransformersBackend:
    def __init__(self, model: str) -> None:
        from transformers import AutoModelForCausalLM
        from transformers.utils import logging

        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        logging.disable_progress_bar()  # weight-loading bars would cut into our progress bar
        try:
            loaded = AutoModelForCausalLM.from_pretrained(
                model, dtype=torch.float32 if self.device.type == "cpu" else "auto"
            )
        except (OSError, ValueError) as error:
            raise CollectError(
                f"transformers cannot load model '{model}' ({first_line(error)})."
            ) from None
        self.model = loaded.to(self.device).eval()
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.model.config.eos_token_id
        eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
        self.eos = torch.tensor(eos, dtype=torch.long, device=self.device)

    def sample(
        self, requests: Sequence[SampleRequest], config: SamplingConfig
    ) -> list[list[Sample]]:
        # One question at a time, its n traces one batch: rows of one prompt share a length.
        return [self._sample(request, config) for request in requests]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        # One prefix at a time: prefixes differ in length, and on CPU padding buys nothing.
        generations = []
        for r in requests:
            generator = None if r.temperature <= 0 else self._generator(r.seed or 0)
            tokens, _, _, lengths, stopped = self._decode(
                [r.prefix_ids], r.max_tokens, r.temperature, r.top_p, 1, generator
            )
            generations.append(Generation(tokens[0, : int(lengths[0])].tolist(), bool(stopped[0])))
        return generations

    def _sample(self, request: SampleRequest, config: SamplingConfig) -> list[Sample]:
        tokens, logprobs, top, lengths, _ = self._decode(
            [request.prompt_ids] * config.n,
            config.max_tokens,
            config.temperature,
            config.top_p,
            config.top_logprobs,
            self._generator(request.seed),
        )
        return [
            Sample(tokens[r, :n].tolist(), logprobs[r, :n].numpy(), top[r, :n].numpy())
            for r, n in enumerate(lengths.tolist())
        ]

    def _generator(self, seed: int) -> torch.Generator:
        return torch.Generator(self.device).manual_seed(seed)

    @torch.inference_mode()
    def _decode(
        self,
        rows: list[list[int]],
        max_tokens: int,
        temperature: float,
        top_p: float,
        k: int,
        generator: torch.Generator | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Decode equal-length rows together; a row stops after its first end-of-sequence token.
        Returns tokens, their log-probabilities, the top k, lengths, and which rows stopped."""
        n = len(rows)
        k = min(k, self.model.config.vocab_size)
        tokens = torch.zeros((n, max_tokens), dtype=torch.long)
        logprobs = torch.zeros((n, max_tokens), dtype=torch.float32)
        top = torch.zeros((n, max_tokens, k), dtype=torch.float32)
        lengths = torch.full((n,), max_tokens, dtype=torch.long)
        done = torch.zeros(n, dtype=torch.bool, device=self.device)
        step_input = torch.tensor(rows, dtype=torch.long, device=self.device)
        cache = None
        for t in range(max_tokens):
            out = self.model(
                input_ids=step_input, past_key_values=cache, use_cache=True, logits_to_keep=1
            )
            cache = out.past_key_values
            logits = out.logits[:, -1, :].float()
            raw = torch.log_softmax(logits, dim=-1)
            chosen = _choose(logits, temperature, top_p, generator)
            tokens[:, t] = chosen.cpu()
            logprobs[:, t] = raw.gather(1, chosen[:, None])[:, 0].cpu()
            top[:, t] = raw.topk(k, dim=-1).values.cpu()
            ended = ~done & torch.isin(chosen, self.eos)
            lengths[ended.cpu()] = t + 1
            done |= ended
            if bool(done.all()):
                break
            step_input = chosen[:, None]
        return tokens, logprobs, top, lengths, done.cpu()


def _choose(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None
) -> torch.Tensor:
    """Greedy at temperature 0, else nucleus sampling from softmax(logits / temperature)."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        # keep the smallest head of the sorted distribution whose mass reaches top_p
        sorted_probs[sorted_probs.cumsum(dim=-1) - sorted_probs > top_p] = 0.0
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]
