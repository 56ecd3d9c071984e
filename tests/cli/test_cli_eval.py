"""`tts-gym reproduce` and `tts-gym eval`, and the custom-controller example."""

from __future__ import annotations

import csv
import functools
import http.server
import io
import json
import shutil
import subprocess
import sys
import threading

import pytest

from tests.support import REPO_ROOT
from tts_gym.cli import main
from tts_gym.store import CATALOG
from tts_gym.store.fetch import MIRROR_ENV_VAR

STORE = "autotts/qwen3-8b/aime24"
FIRST_COLUMNS = ["model", "benchmark", "method", "acc", "tokens_k", "seq_tokens_k"]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_reproduce_csv(shared_replay, capsys):
    code, out, _ = run_cli(capsys, "reproduce", "--stores", STORE, "--format", "csv", "-q")
    assert code == 0
    assert out.splitlines()[0].split(",")[:6] == FIRST_COLUMNS
    rows = csv_rows(out)
    assert [row["method"] for row in rows] == [
        "SC@64", "ASC", "ESC", "Parallel-Probe", "CMC(beta=0.5)", "CMC(beta=1.0)"
    ]  # fmt: skip
    for row in rows:
        assert row["model"] == "Qwen3-8B" and row["benchmark"] == "aime24"
        assert abs(float(row["acc"]) - float(row["paper_acc"])) <= 0.05
        assert row["acc_agrees"] == row["tokens_agrees"] == "True"
    assert float(rows[0]["tokens_k"]) == pytest.approx(910.813035)


def test_reproduce_table_marks_rows_without_printed_values(shared_replay, capsys):
    code, out, err = run_cli(
        capsys, "reproduce", "--stores", STORE, "autotts/qwen3-4b/aime24", "--orders", "3"
    )
    assert code == 0 and "Qwen3-4B" in out and "Qwen3-8B rows only" in out
    assert "differs" in out  # 3 orders do not give the printed 100-order values
    assert "12 cells, 1,080 episodes" in err


def test_eval_builtin_with_sweep_csv_json_plot_and_traces(shared_replay, capsys, tmp_path):
    plot, traces, output = tmp_path / "pareto.png", tmp_path / "t.jsonl", tmp_path / "out.json"
    code, out, _ = run_cli(
        capsys, "eval", "--policy", "cmc", "--sweep", "beta=0,0.5,1", "--stores", STORE,
        "--orders", "3", "--format", "csv", "--plot", str(plot), "--traces", str(traces), "-q",
    )  # fmt: skip
    assert code == 0
    rows = csv_rows(out)
    assert list(rows[0])[:6] == FIRST_COLUMNS and "acc_lo" in rows[0] and "beta" in rows[0]
    assert [row["method"] for row in rows[:3]] == ["CMC(beta=0)", "CMC(beta=0.5)", "CMC(beta=1)"]
    assert len(rows) == 3 + 6  # the sweep, then the baselines
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    records = [json.loads(line) for line in traces.read_text().splitlines()]
    assert len(records) == 3 * 30 * 3 and {r["method"] for r in records} == {
        "CMC(beta=0)", "CMC(beta=0.5)", "CMC(beta=1)"
    }  # fmt: skip
    code, _, _ = run_cli(
        capsys, "eval", "--policy", "asc", "--stores", STORE, "--orders", "2",
        "--no-baselines", "--format", "json", "-o", str(output),
    )  # fmt: skip
    assert code == 0 and [row["method"] for row in json.loads(output.read_text())] == ["ASC"]


def test_eval_module_and_file_policies_with_paired_table(shared_replay, capsys, tmp_path):
    code, out, _ = run_cli(
        capsys, "eval", "--policy", "tests.support.autotts_controllers:ASCMethod",
        "--stores", STORE, "--orders", "3", "--compare", "ASC", "-q",
    )  # fmt: skip
    assert code == 0 and "ASCMethod" not in out  # named by NAME
    assert "asc_autotts" in out and "paired on the same orders" in out
    path = tmp_path / "mine.py"
    path.write_text(
        "class Mine:\n"
        "    def __init__(self, n=3):\n        self.n = n\n"
        "    def solve(self, q):\n        return [q.read() for _ in range(self.n)][-1]\n"
    )
    code, out, _ = run_cli(
        capsys, "eval", "--policy", f"{path}:Mine", "--config", "n=2", "--stores", STORE,
        "--orders", "2", "--no-baselines", "--format", "csv",
    )  # fmt: skip
    assert code == 0 and csv_rows(out)[0]["method"] == "Mine"


BROKEN = {
    "syntax.py": ("class Mine(:\n", "syntax error at line 1"),
    "missing.py": ("class Other:\n    pass\n", "defines no 'Mine'"),
    "raising.py": (
        "class Mine:\n    def solve(self, q):\n        q.branch()\n        raise KeyError('x')\n",
        "raised KeyError",
    ),
    "number.py": (
        "class Mine:\n    def solve(self, q):\n        return 42\n",
        "returned 42 (int) from solve(q), not an answer string or None",
    ),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_eval_broken_policy_file_is_one_sentence(shared_replay, capsys, tmp_path, name):
    source, message = BROKEN[name]
    path = tmp_path / name
    path.write_text(source)
    code, out, err = run_cli(
        capsys, "eval", "--policy", f"{path}:Mine", "--stores", STORE, "--orders", "1",
        "--no-baselines", "-q", "-j", "1",
    )  # fmt: skip
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert err.startswith("tts-gym eval: ")


def test_custom_controller_example_runs(shared_replay):
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / "custom_controller.py"), "--orders", "3"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "FirstToThree" in result.stdout and "- ASC =" in result.stdout


def test_reproduce_and_eval_csvs_are_identical_on_both_engines(shared_replay, capsys):
    reproduce = ["reproduce", "--stores", STORE, "autotts/qwen3-0.6b/hmmt25", "--orders", "4"]
    reproduce += ["--format", "csv"]
    code, compiled, err = run_cli(capsys, *reproduce)
    assert code == 0 and "(compiled engine, " in err
    code, python, err = run_cli(capsys, *reproduce, "--engine", "python", "-j", "2")
    assert code == 0 and "(python engine, 2 processes)" in err
    assert compiled == python and len(csv_rows(compiled)) == 12
    sweep = ["eval", "--policy", "cmc", "--sweep", "beta=0,0.3,1", "--stores", STORE]
    sweep += ["--orders", "5", "--format", "csv", "-q"]
    outputs = [run_cli(capsys, *sweep, "--engine", engine)[1] for engine in ("compiled", "python")]
    assert outputs[0] == outputs[1] and len(csv_rows(outputs[0])) == 3 + 6


@pytest.fixture
def one_store_mirror(shared_replay, tmp_path, monkeypatch):
    """A local server holding Qwen3-8B aime24 in the data-folder layout, as $TTS_GYM_MIRROR."""
    entry = CATALOG[STORE]
    served = tmp_path / "served" / entry.relative_path
    served.parent.mkdir(parents=True)
    shutil.copyfile(shared_replay / entry.relative_path, served)
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "served")
    )
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(MIRROR_ENV_VAR, f"http://127.0.0.1:{server.server_address[1]}")
    yield tmp_path / "data"
    server.shutdown()
    server.server_close()


def test_reproduce_fetches_missing_stores_unless_told_not_to(one_store_mirror, capsys):
    data = str(one_store_mirror)
    argv = ["reproduce", "--stores", STORE, "--orders", "2", "--format", "csv", "-q"]
    assert main([*argv, "--no-fetch", "--data-dir", data]) == 1
    err = capsys.readouterr().err
    assert "not in the data folder" in err and len(err.strip().splitlines()) == 1
    assert main([*argv, "--data-dir", data]) == 0
    captured = capsys.readouterr()
    assert "fetching 1 missing catalog store(s)" in captured.err
    assert len(list(csv.DictReader(io.StringIO(captured.out)))) == 6
    assert main([*argv, "--data-dir", data]) == 0  # present now: nothing to fetch
    assert "fetching" not in capsys.readouterr().err
