"""`tts-gym discover compare` and `tts-gym discover report` on real runs: the comparison's
figures against the runs' own ledgers, a `--feedback scalar` run beside a `full` one, the
held-out result of a run with a final report, and the HTML page rendered by headless
Chromium with no error, no network and the expected content."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from tests.agents.discovery.conftest import ledger
from tests.agents.discovery.fixtures.headless import chromium, open_page
from tts_gym.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def finished(openai_reference, tmp_path_factory) -> Path:
    """A copy of the reference run with its held-out report (one order per question)."""
    run = tmp_path_factory.mktemp("finished") / "full"
    shutil.copytree(openai_reference[0], run)
    held_out = ["--held-out", "autotts/qwen3-8b/aime25", "--final-orders", "1"]
    assert main(["discover", "--final", str(run), *held_out]) == 0
    return run


def expected_rows(run: Path) -> list[dict]:
    """What compare must say of `run`, computed here from its ledger and round verdicts."""
    events = ledger(run)
    rows, dollars, seconds, best = [], 0.0, 0.0, None
    for number in sorted(e["round"] for e in events if e["event"] == "round_end"):
        dollars += sum(
            e["dollars"] for e in events if e["event"] == "api_call" and e["round"] == number
        )
        seconds += sum(
            e["seconds"] for e in events if e["event"] == "round_end" and e["round"] == number
        )
        verdict = json.loads((run / f"round-{number:04d}/verdict.json").read_text())
        score = verdict["score"] if verdict["ok"] else None
        best = score if best is None or (score is not None and score > best) else best
        rows.append(
            {
                "round": number,
                "result": "accepted" if verdict["ok"] else "rejected",
                "why": "" if verdict["ok"] else verdict["errors"][0],
                "accepted": sum(c["ok"] for c in verdict["candidates"]),
                "score": score,
                "best": best,
                "dollars": dollars,
                "minutes": seconds / 60,
            }
        )
    return rows


def test_compare_matches_the_ledgers(finished, scalar_run, tmp_path, capsys) -> None:
    table, plot = tmp_path / "compare.csv", tmp_path / "compare.png"
    args = ["discover", "compare", str(finished), str(scalar_run), "--format", "csv"]
    assert main([*args, "-o", str(table), "--plot", str(plot)]) == 0
    assert plot.read_bytes().startswith(PNG)
    rows = list(csv.DictReader(table.open()))
    held_out = json.loads((finished / "final/verdict.json").read_text())["score"]
    for run, feedback, free_knobs in ((finished, "full", "False"), (scalar_run, "scalar", "True")):
        mine = [row for row in rows if row["run"] == run.name]
        expected = expected_rows(run)
        assert len(mine) == len(expected) >= 1
        for row, want in zip(mine, expected, strict=True):
            assert int(row["round"]) == want["round"] and row["result"] == want["result"]
            assert row["why"] == want["why"] and int(row["accepted"]) == want["accepted"]
            assert int(row["candidates"]) == 2
            for key in ("score", "best"):
                assert (float(row[key]) if row[key] else None) == pytest.approx(want[key])
            assert float(row["dollars"]) == pytest.approx(want["dollars"])
            assert float(row["minutes"]) == pytest.approx(want["minutes"])
            assert (row["proposer"], row["model"]) == ("openai", "local-coder")
            assert (row["feedback"], row["free_knobs"]) == (feedback, free_knobs)
            want_held_out = held_out if run == finished else None
            assert (float(row["held_out"]) if row["held_out"] else None) == want_held_out
    assert [row["result"] for row in rows if row["run"] == "full"] == [
        "accepted",
        "rejected",
        "accepted",
    ]
    capsys.readouterr()
    assert main(["discover", "compare", str(finished), str(scalar_run)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"full\s+openai\s+local-coder\s+full\s+no\s+2\s+3", out)
    assert re.search(r"scalar\s+openai\s+local-coder\s+scalar\s+yes\s+2\s+1", out)
    assert f"{held_out:+.4f}" in out and "no tool call" in out


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["compare"], "needs at least one run folder"),
        (["compare", "RUN", "--rounds", "3"], "takes run folders and --format, --output, --plot"),
        (["report", "RUN", "RUN"], "takes one run folder and nothing else"),
        (["report", "RUN", "--plot", "x.png"], "takes one run folder and nothing else"),
        (["compare", "RUN", "-o", "same.csv", "--plot", "same.csv"], "name the same file"),
        (["compare", "nowhere"], "there is no run folder nowhere."),
    ],
)
def test_compare_and_report_bad_input(openai_reference, args, said, capsys) -> None:
    run = str(openai_reference[0])
    assert main(["discover", *[run if a == "RUN" else a for a in args]]) == 1
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1


PROBE = """JSON.stringify({
  title: document.title,
  text: document.body.innerText,
  images: Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt]),
  rounds: document.querySelectorAll("section").length,
  diffs: document.querySelectorAll("pre.diff").length,
  scripts: document.scripts.length,
})"""


@pytest.mark.skipif(chromium() is None, reason="needs Chromium: apt-get install chromium")
def test_the_report_renders_in_headless_chromium(finished) -> None:
    assert main(["discover", "report", str(finished)]) == 0
    page = finished / "report.html"
    source = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", source)  # nothing fetched
    visit = open_page(page.resolve().as_uri(), PROBE)
    assert visit.exceptions == []
    assert [m for m in visit.console if m.get("type") in ("error", "warning", "assert")] == []
    assert [e for e in visit.log if e.get("level") == "error"] == []
    assert all(url.startswith(("file:", "data:")) for url in visit.requests), visit.requests
    shown = json.loads(visit.probe)
    assert shown["title"] == "Discovery run full" and shown["scripts"] == 0
    assert shown["rounds"] == 3 and shown["diffs"] >= 1
    assert len(shown["images"]) == 4  # scores, curves, and the held-out report's two plots
    assert all(complete and width > 0 for complete, width, _ in shown["images"])
    text = shown["text"]
    best = json.loads((finished / "best.json").read_text())
    for words in (
        "Score of every candidate, round by round",
        f"The best controller (round {best['round']}) against the baselines",
        f"Round 1: accepted, score {best['score']:+.4f} (candidate {best['candidate']} kept)",
        "Round 2: rejected (candidate 1 kept)",
        "controller.py has a syntax error at line 5: expected ':'.",
        "Diff to the best controller before this round (round 1)",
        "Held out",
        "Spend",
        "class Controller:",
    ):
        assert words in text, words
    spent = sum(e["dollars"] for e in ledger(finished) if e["event"] == "api_call")
    assert f"${spent:.2f}" in text
