"""`confidence=`: which of a store's confidence statistics the per-slot observation carries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tts_gym.env import TTSControlEnv, TTSControlVectorEnv
from tts_gym.env.observation import SLOT_FEATURES
from tts_gym.errors import TTSGymError
from tts_gym.store import load_store, write_store
from tts_gym.store.replay import CONFIDENCE_STATISTICS
from tts_gym.store.synthetic import generate_store


def _store_with_statistics(path: Path) -> Path:
    """A synthetic store whose four statistics are told apart by their values."""
    questions = generate_store(3, 4, seed=5, confidence=True, tokens=(1_000, 4_000))
    for q in questions:
        base = q["segment_confidence"]
        q[CONFIDENCE_STATISTICS["lowest"]] = [[v + 1 for v in row] for row in base]
        q[CONFIDENCE_STATISTICS["bottom10"]] = [[v + 2 for v in row] for row in base]
        q[CONFIDENCE_STATISTICS["tail"]] = [[v + 3 for v in row] for row in base]
    return write_store(questions, path)


@pytest.mark.parametrize("engine", ["compiled", "python"])
@pytest.mark.parametrize(("statistic", "offset"), [("group", 0), ("lowest", 1), ("tail", 3)])
def test_env_observes_the_chosen_statistic(tmp_path: Path, engine, statistic, offset) -> None:
    path = _store_with_statistics(tmp_path / "s.json")
    raw = json.loads(path.read_text())
    env = TTSControlEnv(stores=[str(path)], engine=engine, confidence=statistic, max_branches=4)
    env.reset(options={"question": 1, "order": [2, 0, 1, 3]})
    obs, *_ = env.step(1)  # BRANCH: slot 0 opens branch 2 and reveals its first probe
    expected = raw[1]["segment_confidence"][2][0] + offset
    assert obs["slots"][0, SLOT_FEATURES.index("confidence")] == pytest.approx(expected, abs=1e-6)


def test_vector_env_and_bad_choices(tmp_path: Path) -> None:
    path = _store_with_statistics(tmp_path / "s.json")
    env = TTSControlVectorEnv(2, stores=[str(path)], confidence="bottom10", max_branches=4)
    assert env.stores[0].questions[0].confidence == tuple(
        tuple(v + 2 for v in row) for row in load_store(path).questions[0].confidence
    )
    with pytest.raises(ValueError, match="confidence must be one of 'group', 'lowest'"):
        TTSControlEnv(stores=[str(path)], confidence="mean")
    older = generate_store(2, 3, seed=1, confidence=True)  # group confidence only
    old = write_store(older, tmp_path / "old.json")
    with pytest.raises(TTSGymError, match="no 'segment_tail_confidence'"):
        TTSControlEnv(stores=[str(old)], confidence="tail")
    bare = write_store(generate_store(2, 3, seed=1), tmp_path / "bare.json")
    assert TTSControlEnv(stores=[str(bare)], confidence="tail").stores[0].has_confidence is False
