"""The one store writer: compact UTF-8 JSON, atomic, no NaN; every producer goes through it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tts_gym.store import load_store, write_store
from tts_gym.store.synthetic import generate_store
from tts_gym.store.writer import store_text


def test_compact_utf8_and_loadable(tmp_path: Path) -> None:
    questions = generate_store(2, 3, seed=0, confidence=True)
    questions[0]["question"] = "Combien font ½ + ¼ ?"
    path = write_store(questions, tmp_path / "s.json")
    text = path.read_text(encoding="utf-8")
    assert text == store_text(questions) and "½" in text
    assert "], [" not in text and '": ' not in text  # no spaces between items
    assert json.loads(text) == questions
    assert load_store(path).questions[0].text == "Combien font ½ + ¼ ?"


def test_refuses_nan_and_leaves_nothing(tmp_path: Path) -> None:
    questions = generate_store(1, 2, seed=0, confidence=True)
    questions[0]["segment_confidence"][0][0] = math.nan
    with pytest.raises(ValueError, match="not JSON compliant"):
        write_store(questions, tmp_path / "s.json")
    assert list(tmp_path.iterdir()) == []
