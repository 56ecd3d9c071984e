"""`tts-gym stores` and `tts-gym validate`: what they print, and one line on failure."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tts_gym.cli import main
from tts_gym.store import CATALOG
from tts_gym.store.synthetic import generate_store, write_store


def bad_store(tmp_path: Path) -> Path:
    store = generate_store(3, 4, seed=0)
    store[2]["probe_freq"] = 0
    return write_store(store, tmp_path / "bad.json")


def test_stores_json_reports_presence(shared_replay: Path, tmp_path: Path, capsys) -> None:
    assert main(["stores", "--format", "json", "--data-dir", str(shared_replay)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in rows] == list(CATALOG)
    assert all(row["present"] for row in rows)
    assert {row["role"] for row in rows} == {"search", "held-out"}
    assert main(["stores", "--format", "json", "--data-dir", str(tmp_path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert not any(row["present"] for row in rows)
    assert rows[0]["path"] == str(tmp_path / CATALOG[rows[0]["name"]].relative_path)


def test_stores_table_lists_every_store(tmp_path: Path, capsys) -> None:
    assert main(["stores", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for entry in CATALOG.values():
        line = next(line for line in out.splitlines() if entry.name in line)
        assert entry.role in line and entry.relative_path in line and " no " in line
    assert "12 missing" in out


def test_validate_real_store(shared_replay: Path, capsys) -> None:
    argv = ["validate", "autotts/qwen3-8b/aime24", "--data-dir", str(shared_replay)]
    assert main([*argv, "--format", "json"]) == 0
    (summary,) = json.loads(capsys.readouterr().out)
    assert summary["questions"] == 30
    assert summary["branches_min"] == summary["branches_max"] == 128
    assert summary["probe_freqs"] == [500] and summary["probes_max"] == 80
    assert summary["last_probe_differs"] == summary["empty_probe_branches"] == 0
    assert 0 < summary["err_final_share"] < 0.05 and 0 < summary["err_probe_share"] < 0.1
    assert summary["has_confidence"] is False and summary["catalog_checksum"] == "ok"
    assert main(argv) == 0
    assert "autotts/qwen3-8b/aime24: valid" in capsys.readouterr().out


def test_validate_synthetic_file(tmp_path: Path, capsys) -> None:
    path = write_store(
        generate_store(2, (1, 3), seed=1, confidence=True, zero_probe_share=1.0),
        tmp_path / "syn.json",
    )
    assert main(["validate", str(path), "--format", "json"]) == 0
    (summary,) = json.loads(capsys.readouterr().out)
    assert summary["has_confidence"] and summary["catalog_checksum"] is None
    assert summary["empty_probe_branches"] == summary["branches"]
    assert summary["probes_max"] == 0 and summary["err_probe_share"] == 0.0


@pytest.mark.parametrize(
    "target, expected",
    [
        ("bad", "question 2: field 'probe_freq' must be a positive integer, got 0."),
        ("missing.json", "no store file at"),
        ("autotts/qwen3-8b/aime26", "did you mean 'autotts/qwen3-8b/aime25'"),
        ("autotts/qwen3-8b/aime24", "`tts-gym fetch autotts/qwen3-8b/aime24`"),
    ],
)
def test_validate_failure_is_one_line(tmp_path: Path, capsys, target: str, expected: str) -> None:
    spec = str(bad_store(tmp_path)) if target == "bad" else target
    assert main(["validate", spec, "--data-dir", str(tmp_path / "empty")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("tts-gym validate: ") and captured.err.count("\n") == 1
    assert expected in captured.err


def test_validate_as_a_process_prints_no_traceback(tmp_path: Path) -> None:
    path = bad_store(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "tts_gym.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == f"tts-gym validate: {path}: question 2: field 'probe_freq' " + (
        "must be a positive integer, got 0.\n"
    )


def test_validate_names_a_renamed_catalog_store(
    shared_replay: Path, tmp_path: Path, capsys
) -> None:
    copy = tmp_path / "whatever.json"
    copy.write_bytes(
        (shared_replay / CATALOG["autotts/qwen3-8b/hmmt25"].relative_path).read_bytes()
    )
    assert main(["validate", str(copy), "--format", "json"]) == 0
    (summary,) = json.loads(capsys.readouterr().out)
    assert (summary["name"], summary["role"], summary["path"]) == (
        "autotts/qwen3-8b/hmmt25",
        "held-out",
        str(copy),
    )
    assert summary["sha256"] == CATALOG["autotts/qwen3-8b/hmmt25"].sha256
    assert summary["catalog_checksum"] == "ok"


def test_validate_and_stores_speak_csv_like_the_other_commands(tmp_path, capsys):
    path = write_store(generate_store(2, 4, seed=1), tmp_path / "s.json")
    assert main(["validate", str(path), "--format", "csv", "-o", str(tmp_path / "v.csv")]) == 0
    (row,) = list(csv.DictReader((tmp_path / "v.csv").open()))
    assert row["questions"] == "2" and row["branches_max"] == "4"
    assert main(["stores", "--format", "csv", "--data-dir", str(tmp_path)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 12 and {row["present"] for row in rows} == {"False"}
