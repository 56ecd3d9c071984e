"""Run files that lie are not believed (issue 21): `best.json`, verdicts, controllers and the
ledger's dollars are checked against each other before `--final` spends the one held-out
evaluation or `--resume` goes on spending; each fault is one sentence, and a failed
`--resume` leaves the run folder exactly as it was."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.agents.discovery.conftest import closed_port, ledger
from tts_gym.cli import main

FINAL = ["--held-out", "autotts/qwen3-8b/aime25", "--final-orders", "1"]


@pytest.fixture
def run(openai_reference, tmp_path) -> Path:
    """A copy of the 3-round reference run (best: round 1)."""
    copy = tmp_path / "full"
    shutil.copytree(openai_reference[0], copy)
    return copy


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def one_sentence(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err


def final_refused(run: Path, capsys) -> str:
    before = snapshot(run)
    assert main(["discover", "--final", str(run), *FINAL]) == 1
    assert not (run / "final").exists() and snapshot(run) == before
    assert "final_start" not in {e["event"] for e in ledger(run)}
    return one_sentence(capsys)


def test_a_hand_edited_best_json_is_not_taken(run, tmp_path, capsys) -> None:
    elsewhere = tmp_path / "mine.py"
    elsewhere.write_text((run / "round-0001/candidate-1/controller.py").read_text())
    forged = {"round": 3, "candidate": 1, "score": 1.0, "controller": str(elsewhere)}
    (run / "best.json").write_text(json.dumps(forged))
    assert "best.json does not match the rounds' verdicts (they select round 1" in (
        final_refused(run, capsys)
    )


def test_a_verdict_that_disagrees_with_the_ledger_is_not_taken(run, capsys) -> None:
    path = run / "round-0003/verdict.json"
    verdict = json.loads(path.read_text())
    path.write_text(json.dumps({**verdict, "score": 1.0}))
    best = json.loads((run / "best.json").read_text())
    controller = "round-0003/candidate-2/controller.py"
    (run / "best.json").write_text(
        json.dumps({**best, "round": 3, "candidate": 2, "score": 1.0, "controller": controller})
    )
    err = final_refused(run, capsys)
    assert "round 3's verdict does not match the ledger" in err


def test_a_replaced_or_missing_chosen_controller(run, capsys) -> None:
    best = json.loads((run / "best.json").read_text())
    controller = run / best["controller"]
    controller.write_text(controller.read_text() + "\n# tuned by hand\n")
    assert "is not the file that was scored" in final_refused(run, capsys)
    controller.unlink()
    assert f"the chosen controller {controller} is missing." in final_refused(run, capsys)


def resume_refused(run: Path, capsys, *extra: str) -> str:
    before = snapshot(run)
    assert main(["discover", "--resume", str(run), *extra]) == 1
    assert snapshot(run) == before  # nothing written, nothing cut, nothing dropped
    return one_sentence(capsys)


def rewrite_ledger(run: Path, change) -> None:
    events = [change(e) for e in ledger(run)]
    text = "".join(json.dumps(e) + "\n" for e in events if e is not None)
    (run / "ledger.jsonl").write_text(text)


def test_negative_dollars_do_not_lift_the_cap(run, capsys) -> None:
    def negative(event: dict) -> dict:
        return {**event, "dollars": -5.0} if event["event"] == "api_call" else event

    rewrite_ledger(run, negative)
    err = resume_refused(run, capsys, "--rounds", "4")
    assert re.search(r"line \d+'s 'dollars' is -5.0, not a number of at least 0\.", err)


def test_an_emptied_or_cut_ledger_does_not_lift_the_cap(run, capsys) -> None:
    rewrite_ledger(run, lambda e: None if e["event"] == "api_call" else e)
    err = resume_refused(run, capsys, "--rounds", "4")
    assert "records $0.0000 for round 1 but its usage files record $0.0360" in err
    (run / "ledger.jsonl").write_bytes(b"")
    assert "does not begin with the run's start" in resume_refused(run, capsys, "--rounds", "4")


def test_a_ledger_field_of_the_wrong_type(run, capsys) -> None:
    rewrite_ledger(run, lambda e: {**e, "seconds": "ten"} if e["event"] == "round_end" else e)
    err = resume_refused(run, capsys, "--rounds", "4")
    assert "'seconds' is \"ten\", not a number of at least 0." in err


def test_a_lock_that_is_a_folder(run, capsys) -> None:
    (run / ".lock").unlink()
    (run / ".lock").mkdir()
    assert f"cannot lock {run}: {run / '.lock'} is a folder." in resume_refused(run, capsys)


def test_a_failed_resume_changes_nothing(run, capsys, monkeypatch) -> None:
    """A kill left a torn ledger line and a candidate under way; the endpoint is gone."""
    with open(run / "ledger.jsonl", "ab") as handle:
        handle.write(b'{"event": "api_call", "round": 4, "dol')
    (run / "round-0004.partial/candidate-1.partial").mkdir(parents=True)
    (run / "round-0004.partial/candidate-1.partial/prompt.md").write_text("Round 4 of 5.")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    url = f"http://127.0.0.1:{closed_port()}/v1"
    err = resume_refused(run, capsys, "--rounds", "5", "--base-url", url)
    assert "cannot reach the endpoint" in err
