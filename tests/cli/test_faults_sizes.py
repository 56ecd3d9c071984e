"""Issue 21, sizes: a small file may describe a large problem. What fits is played; what
cannot fit is one sentence naming the limit, before anything large is allocated."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tts_gym.cli import main
from tts_gym.engine.voting import EXACT_TRIALS
from tts_gym.store.synthetic import generate_store, write_store

GB = 1_000_000_000


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One question of 5,000 short branches (under 200 KB), answers that agree slowly."""
    store = generate_store(1, 5000, seed=0, tokens=(100, 900), solve_rate=(0.3, 0.35))
    path = write_store(store, tmp_path_factory.mktemp("sizes") / "wide.json")
    assert os.path.getsize(path) < 200_000
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_question_of_5000_branches_plays_alike_on_both_engines(wide, capsys) -> None:
    """ASC asked for near certainty votes thousands of branches: confidences far past the
    exact rows, from the compiled table and from the Python engine, give the same cells."""
    argv = ["eval", "--policy", "asc", "--config", "max_samples=5000", "threshold=0.99999999"]
    argv += ["--stores", str(wide), "--orders", "2", "--no-baselines", "-q", "--format", "csv"]
    code, compiled, err = run(capsys, *argv)
    assert code == 0, err
    code, python, err = run(capsys, *argv, "--engine", "python", "--jobs", "1")
    assert code == 0, err
    assert compiled == python
    tokens_k = float(compiled.splitlines()[1].split(",")[4])
    assert tokens_k * 1000 / 500 > EXACT_TRIALS  # more branches voted than the exact rows
    assert run(capsys, "validate", str(wide))[0] == 0


def test_what_cannot_fit_in_memory_is_one_sentence_naming_the_limit(
    wide, capsys, monkeypatch
) -> None:
    monkeypatch.setattr("tts_gym.memory.available_bytes", lambda: 2 * GB)
    store = write_store(generate_store(30, 128, seed=0), wide.parent / "thirty.json")
    code, out, err = run(capsys, "eval", "--policy", "sc", "--stores", str(store), "--orders",
                         "1000000")  # fmt: skip
    assert (code, out) == (1, "") and err.count("\n") == 1
    assert "1,000,000 orders of 30 questions of up to 128 branches would need about" in err
    assert "more than the 2 GB available; the most that fit: " in err and " orders." in err

    monkeypatch.setattr("tts_gym.memory.available_bytes", lambda: 20_000_000)
    other = write_store(generate_store(1, 4500, seed=2, tokens=(100, 900)), wide.parent / "o.json")
    code, _, err = run(capsys, "eval", "--policy", "cmc", "--stores", str(other), "-q")
    assert code == 1 and err.count("\n") == 1  # (a table of another size: none is cached)
    assert "the vote-confidence table of 4,500 branches would need about 162 MB" in err

    hundred = generate_store(100, 2, seed=0, tokens=(100, 200))
    hundred[0] = generate_store(1, 5000, seed=1, tokens=(100, 40_000))[0]  # one long branch
    path = write_store(hundred, wide.parent / "padded.json")
    code, _, err = run(capsys, "eval", "--policy", "cmc", "--stores", str(path), "--orders", "1")
    assert code == 1 and err.count("\n") == 1
    assert "padding 100 questions to 5,000 branches of 80 probes" in err
