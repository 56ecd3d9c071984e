"""Issue 21, outputs: an output never replaces an input, two outputs never share a file, and
every write error is one sentence that leaves nothing behind.

Each case runs the real command line in-process (`tts_gym.cli.main`) and checks the exit
code, that stderr is exactly one line, and that the folder holds what it held before (the
inputs byte for byte, no partial file). The disk failures that need a real disk (read-only,
full) run the command in a tmpfs of their own (`tests.support.in_tmpfs`).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.support import in_tmpfs
from tts_gym.cli import main
from tts_gym.store import CATALOG
from tts_gym.store.files import WriteError, atomic_write, write_file
from tts_gym.store.synthetic import generate_store, write_store

POLICY = """
class Answers:
    def solve(self, q):
        return q.branch()[0]
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with a store `s.json`, a symbolic and a hard link to it, a policy
    file and a questions file; the current folder while the test runs."""
    write_store(generate_store(3, 6, seed=1, tokens=(1_000, 3_000)), tmp_path / "s.json")
    (tmp_path / "link.json").symlink_to("s.json")
    os.link(tmp_path / "s.json", tmp_path / "hard.json")
    (tmp_path / "policy.py").write_text(POLICY)
    (tmp_path / "q.jsonl").write_text('{"question": "1+1?", "answer": "2"}\n')
    monkeypatch.chdir(tmp_path)
    return tmp_path


def snapshot(folder: Path) -> dict[str, bytes | str]:
    return {
        str(p.relative_to(folder)): "dir" if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if not p.is_symlink()
    }


def one_line(capsys, argv: list[str], code: int = 1) -> str:
    assert main(argv) == code
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    return captured.err


EVAL = ["eval", "--policy", "sc", "--stores", "s.json", "--orders", "2", "--no-baselines", "-q"]

REPLACES = "would replace the store"
SAME = "is the same file as the store"
REPLACES_AN_INPUT = [
    (["validate", "s.json", "--format", "json", "-o", "s.json"], f"-o s.json {REPLACES} s.json"),
    (["validate", "s.json", "-o", "./s.json"], f"-o s.json {REPLACES} s.json"),
    (["validate", "s.json", "-o", "link.json"], f"-o link.json {SAME} s.json"),
    (["validate", "s.json", "-o", "hard.json"], f"-o hard.json {SAME} s.json"),
    (["validate", "link.json", "-o", "s.json"], f"-o s.json {SAME} link.json"),
    ([*EVAL, "--traces", "s.json"], "--traces s.json would replace the store s.json"),
    ([*EVAL, "--plot", "hard.json"], "--plot hard.json is the same file as the store s.json"),
    ([*EVAL, "-o", "s.json"], "-o s.json would replace the store s.json"),
    (["eval", "--policy", "policy.py:Answers", "--stores", "s.json", "-o", "policy.py"],
     "-o policy.py would replace the policy file policy.py"),
    (["reproduce", "--stores", "s.json", "-o", "s.json"], "-o s.json would replace the store"),
    (["collect", "--model", "m", "--questions", "q.jsonl", "--out", "q.jsonl"],
     "--out q.jsonl would replace the input q.jsonl"),
    (["train", "--stores", "s.json", "--out", "s.json"], "--out s.json is a file, not a folder"),
]  # fmt: skip

CLASHING_OUTPUTS = [
    ([*EVAL, "-o", "r.csv", "--plot", "r.csv"], "-o r.csv and --plot r.csv name the same file"),
    ([*EVAL, "--traces", "t.jsonl", "--plot", "./t.jsonl"], "--traces t.jsonl and --plot t.jsonl"),
]


@pytest.mark.parametrize("argv, says", REPLACES_AN_INPUT + CLASHING_OUTPUTS)
def test_an_output_never_replaces_an_input_nor_another_output(folder, capsys, argv, says) -> None:
    before = snapshot(folder)
    err = one_line(capsys, argv)
    assert says in err
    assert snapshot(folder) == before


def test_a_catalog_store_is_an_input_where_it_lies(folder, capsys) -> None:
    """`--stores NAME` reads DATA/<collection>/<Model>/<benchmark>.json: that file is an input."""
    entry = CATALOG["autotts/qwen3-8b/aime24"]
    dest = folder / "data" / entry.relative_path
    dest.parent.mkdir(parents=True)
    shutil.copy(folder / "s.json", dest)
    argv = [*EVAL[:3], "--stores", entry.name, "--data-dir", "data", "--traces", str(dest)]
    assert "would replace the store" in one_line(capsys, argv)


@pytest.mark.parametrize(
    "output, says",
    [
        (".", "-o . is a folder; name a file to write."),
        ("s.json/r.csv", "-o s.json/r.csv cannot be written: s.json is a file."),
        ("s.json/deeper/r.csv", "-o s.json/deeper/r.csv cannot be written: s.json is a file."),
        ("bad\0name.csv", "holds a NUL character"),
    ],
)
def test_an_output_that_cannot_be_written_is_refused_before_any_work(
    folder, capsys, output, says
) -> None:
    before = snapshot(folder)
    assert says in one_line(capsys, [*EVAL, "--format", "csv", "-o", output])
    assert snapshot(folder) == before


def test_an_output_the_format_cannot_tell_is_refused(folder, capsys) -> None:
    assert "give --format csv or json" in one_line(capsys, ["validate", "s.json", "-o", "x.txt"])
    err = one_line(capsys, ["validate", "s.json", "--format", "table", "-o", "x.csv"])
    assert "a table is printed, not written" in err
    assert main(["validate", "s.json", "-o", "x.json"]) == 0  # the suffix says json
    assert (folder / "x.json").read_text().startswith("[")


def test_write_errors_are_one_sentence_and_leave_nothing(folder, capsys) -> None:
    """Where the door cannot see the failure coming, the writer names the file and why."""
    (folder / "out").mkdir()
    with pytest.raises(WriteError, match=r"cannot write .*out: it is a folder; nothing was"):
        write_file(folder / "out", "x")
    with pytest.raises(WriteError, match="a part of its path is a file, not a folder"):
        write_file(folder / "s.json" / "x.csv", "x")
    with pytest.raises(ZeroDivisionError), atomic_write(folder / "partial.csv") as handle:
        handle.write(b"half")
        raise ZeroDivisionError  # any failure mid-write: the partial file goes with it
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["s.json", "link.json", "hard.json", "policy.py", "q.jsonl", "out"]
    )


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
@pytest.mark.parametrize(
    "options, says",
    [("ro", "is read-only"), ("size=4k", "the disk is full")],
    ids=["read-only", "full"],
)
def test_a_read_only_or_full_disk_is_one_sentence(folder, options, says) -> None:
    """`eval --traces` onto a read-only disk (refused at the door) or one too small for the
    traces (refused by the writer): one line, and `find` lists nothing left on the disk."""
    disk = folder / "disk"
    disk.mkdir()
    argv = [sys.executable, "-m", "tts_gym.cli", *EVAL, "--format", "csv", "-o", "cells.csv"]
    done = in_tmpfs(options, disk, [*argv, "--traces", str(disk / "traces.jsonl")])
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""  # `find` listed nothing: no partial file
    assert done.stderr.count("\n") == 1 and says in done.stderr, done.stderr
    assert str(disk / "traces.jsonl") in done.stderr
