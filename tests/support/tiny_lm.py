"""A tiny causal LM and a character-level tokenizer, built on the fly (no download).

The model is a 2-layer Llama trained for about a second to answer `7}` after `\\boxed{`, so
that real probes and final answers come out of real generation (collect and live tests).
Torch runs on one thread in these tests: on a small shared CPU, thread contention makes a
tiny model many times slower, and one thread everywhere (Ray workers included) keeps the
floating-point sums, hence the samples, identical across processes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

SPECIALS = ["<unk>", "<|user|>", "<|assistant|>", "<|end|>"]
CHARS = "0123456789{}\\+-*/^()=.,?:! \nabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
CHAT_TEMPLATE = (
    "{% for m in messages %}<|user|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% if enable_thinking %}<think>\n{% endif %}"
    "{% endif %}"
)
QUESTIONS = [
    {"question": "What is 3+4?", "answer": "07"},
    {"question": "Half of 14?", "answer": "\\frac{14}{2}", "id": "half"},
    {"question": "What is 2-2?", "answer": 0},
]


def build_tokenizer():
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate([*SPECIALS, "<think>", "</think>", *CHARS])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    core.add_special_tokens(SPECIALS)
    core.add_tokens(["<think>", "</think>"])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="<unk>", eos_token="<|end|>", pad_token="<|end|>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(path: Path) -> Path:
    """Train and save the tiny model and its tokenizer in `path`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    model = LlamaForCausalLM(config)
    tail = tokenizer.encode("\\boxed{7}<|end|>", add_special_tokens=False)
    noise = torch.randint(6, len(tokenizer), (16, 24), generator=torch.Generator().manual_seed(0))
    batch = torch.tensor([row + tail for row in noise.tolist()])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(80):
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    torch.set_num_threads(threads)
    tokenizer.save_pretrained(path)
    model.save_pretrained(path)
    return path


def write_questions(path: Path, questions: list[dict] = QUESTIONS) -> Path:
    path.write_text("".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8")
    return path


def one_thread_env() -> dict[str, str]:
    """The environment for a child process running the tiny model (one torch thread)."""
    return {**os.environ, "OMP_NUM_THREADS": "1"}


# ---- fixtures (imported by the conftest of each folder that uses them) --------------------


@pytest.fixture(autouse=True)
def _one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama that learned one habit: `\\boxed{` is followed by `7}` and the end."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tokenizer(tiny_model: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)
