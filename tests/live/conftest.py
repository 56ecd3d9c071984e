"""Fixtures of the live tests: the tiny model, a tokenizer folder, a question file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.tiny_lm import (
    _one_torch_thread,
    build_tokenizer,
    tiny_model,
    tokenizer,
    write_questions,
)

__all__ = ["_one_torch_thread", "tiny_model", "tokenizer"]  # fixtures, shared with tests/collect

LIVE_QUESTIONS = [
    {"question": f"What is {a}+{7 - a}?", "answer": "7", "id": f"q{a}"} for a in range(4)
] + [{"question": "Say seven.", "id": "no-gold"}]  # a question without a gold answer


@pytest.fixture(scope="session")
def tokenizer_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model's tokenizer alone: what `--engine openai` loads the chat template from."""
    folder = tmp_path_factory.mktemp("tokenizer")
    build_tokenizer().save_pretrained(folder)
    return folder


@pytest.fixture
def questions_file(tmp_path: Path) -> Path:
    return write_questions(tmp_path / "live.jsonl", LIVE_QUESTIONS)
