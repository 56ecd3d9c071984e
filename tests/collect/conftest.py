"""Fixtures of the collect tests: the tiny model and its tokenizer, a question file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.tiny_lm import _one_torch_thread, tiny_model, tokenizer, write_questions

__all__ = ["_one_torch_thread", "tiny_model", "tokenizer"]  # fixtures, shared with tests/live


@pytest.fixture
def questions_file(tmp_path: Path) -> Path:
    return write_questions(tmp_path / "questions.jsonl")
