"""The held-out read: once per model, recorded in a ledger; the figure drawn from the ledger.

The library function runs here on a synthetic store standing in for the held-out group (the
command reads the real group; what it computes is the same function)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("sb3_contrib")

from tts_gym_agents.rl.config import TrainConfig  # noqa: E402
from tts_gym_agents.rl.heldout import (  # noqa: E402
    LEDGER_FILE,
    REPORT_FILE,
    append_to_ledger,
    evaluate_held_out,
    plot_ledger,
    read_ledger,
)
from tts_gym_agents.rl.train import train  # noqa: E402

from tts_gym.cli import main  # noqa: E402
from tts_gym.errors import TTSGymError  # noqa: E402
from tts_gym.store.synthetic import generate_store, write_store  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a tiny trained model, a synthetic store standing in for held-out)."""
    folder = tmp_path_factory.mktemp("heldout")
    store = write_store(generate_store(8, 10, seed=3, tokens=(1_000, 3_000)), folder / "s.json")
    other = write_store(generate_store(6, 10, seed=4, tokens=(1_000, 3_000)), folder / "h.json")
    config = TrainConfig(
        stores=(str(store),), max_branches=8, n_envs=4, n_steps=64, batch_size=64, n_epochs=1,
        folds=2, valid_orders=1, timesteps=512, eval_freq=512, checkpoint_freq=512,
    )  # fmt: skip
    train(config, folder / "run")
    return folder / "run" / "model.zip", other


def test_a_model_is_read_once_and_every_read_is_in_the_ledger(model, tmp_path) -> None:
    model_file, store = model
    ledger = tmp_path / LEDGER_FILE
    read = {"ledger": ledger, "n_orders": 2, "jobs": 1, "stores": [str(store)]}
    entry = evaluate_held_out(model_file, note="first look", **read)
    assert entry["read"] == 1 and entry["note"] == "first look"
    assert entry["token_penalty"] == TrainConfig().token_penalty  # the run's, from its config
    assert entry["seed"] == 0 and entry["fold"] == 0
    assert len(entry["sha256"]) == 64 and entry["model"] == str(model_file)
    assert 0 <= entry["acc"] <= 100 and entry["tokens_k"] > 0
    with pytest.raises(TTSGymError, match="read on the held-out stores before"):
        evaluate_held_out(model_file, **read)
    assert len(read_ledger(ledger)) == 1  # the refused read left no trace
    again = evaluate_held_out(model_file, again=True, baselines=False, **read)
    assert again["read"] == 2 and again["acc"] == entry["acc"]  # the same numbers, read twice
    assert [e["read"] for e in read_ledger(ledger)] == [1, 2]
    report = json.loads((model_file.parent / REPORT_FILE).read_text())
    assert list(report["summary"]) == [entry["name"]]  # the last read's table


def test_the_command_refuses_a_second_read_unless_again(model, tmp_path, monkeypatch, capsys):
    """From the user's side: `tts-gym held-out` reads the held-out group (here a synthetic
    store answers for it), refuses the same model twice in one sentence without reading a
    store, and records a second read with --again."""
    import tts_gym_agents.rl.heldout as heldout

    from tts_gym.store import select_stores

    model_file, store = model
    asked: list[list[str]] = []

    def held_out_stand_in(names, data_dir=None):
        asked.append(list(names))
        return select_stores([str(store)])

    monkeypatch.setattr(heldout, "select_stores", held_out_stand_in)
    ledger = tmp_path / LEDGER_FILE
    read = ["held-out", str(model_file), "--ledger", str(ledger), "--orders", "2", "-j", "1"]
    assert main([*read, "--no-baselines", "--note", "the shipped seed", "-q"]) == 0
    assert "now records 1 read." in capsys.readouterr().out
    assert asked == [["held-out"]]
    assert main([*read, "--no-baselines"]) == 1
    err = capsys.readouterr().err.strip()
    assert "held-out is read once per model" in err and len(err.splitlines()) == 1
    assert asked == [["held-out"]] and len(read_ledger(ledger)) == 1  # refused before reading
    assert main([*read, "--no-baselines", "--again", "-q"]) == 0
    assert "now records 2 reads." in capsys.readouterr().out
    entries = read_ledger(ledger)
    assert [e["read"] for e in entries] == [1, 2] and entries[0]["note"] == "the shipped seed"


def test_the_report_holds_the_baselines_and_the_figure_is_drawn(model, tmp_path) -> None:
    model_file, store = model
    ledger = tmp_path / LEDGER_FILE
    append_to_ledger(ledger, {"past": True, "acc": 40.0, "tokens_k": 5.0, "seq_tokens_k": 2.0})
    evaluate_held_out(model_file, ledger=ledger, n_orders=2, jobs=1, stores=[str(store)])
    summary = json.loads((model_file.parent / REPORT_FILE).read_text())["summary"]
    assert {"ASC", "SC@64", "Parallel-Probe", "CMC(beta=0.0)", "CMC(beta=1.0)"} <= set(summary)
    figure = plot_ledger(model_file, tmp_path / "figure.png", ledger)
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["held-out", str(model_file), "--ledger", str(ledger), "--plot",
                 str(tmp_path / "cli.png")]) == 0  # fmt: skip
    assert (tmp_path / "cli.png").is_file()


def test_a_broken_ledger_is_one_sentence(model, tmp_path, capsys) -> None:
    model_file, _ = model
    ledger = tmp_path / LEDGER_FILE
    ledger.write_text('{"when": "x"}\n{"when":\n')
    assert main(["held-out", str(model_file), "--ledger", str(ledger)]) == 1
    err = capsys.readouterr().err.strip()
    assert "line 2 is not JSON" in err and len(err.splitlines()) == 1
