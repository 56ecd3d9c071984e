"""Sequential tokens in every output: `Cell`, intervals, paired comparisons, rows, tables, the
plot, and `tts-gym reproduce --table` with Parallel-Probe's printed values (synthetic stores)."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from tts_gym.cli import main
from tts_gym.control.builtin import AdaptiveConsistency, SelfConsistency
from tts_gym.control.loading import BUILTINS
from tts_gym.evaluation import compare, evaluate
from tts_gym.evaluation.evaluate import per_question_k
from tts_gym.evaluation.paper import (
    PARALLEL_PROBE_MEASURES,
    PARALLEL_PROBE_TABLE,
    TABLES,
    parallel_probe_controllers,
    parallel_probe_methods,
)
from tts_gym.evaluation.plots import pareto_figure
from tts_gym.evaluation.stats import bootstrap_ci, paired_difference
from tts_gym.store.synthetic import generate_store, write_store


class ReadSideBySide:
    """Read n whole branches as one wave and answer their majority: sequential tokens are the
    longest of the n, whatever wave structure the built-ins have."""

    def __init__(self, n: int = 8) -> None:
        self.n = n
        self.name = f"side-by-side@{n}"

    def solve(self, q):
        answers = [a for a in q.read_many(self.n) if a is not None]
        return max(answers, key=answers.count) if answers else None


FIRST_COLUMNS = ["model", "benchmark", "method", "acc", "tokens_k", "seq_tokens_k"]


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Two synthetic stores whose folder and file names read as Qwen3-8B and Qwen3-1.7B on
    aime24, so that the printed values of those rows apply to them."""
    root = tmp_path_factory.mktemp("latency")
    paths = []
    for seed, model in enumerate(("Qwen3-8B", "Qwen3-1.7B")):
        (root / model).mkdir()
        store = generate_store(n_questions=6, n_branches=(8, 20), seed=seed)
        paths.append(str(write_store(store, root / model / "aime24.json")))
    return paths


@pytest.fixture
def with_sac(monkeypatch):
    """A stand-in for the `sac` built-in, so that the five controllers resolve."""
    monkeypatch.setitem(BUILTINS, "sac", SelfConsistency)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cell_seq_tokens_interval_and_row(stores):
    cells = evaluate([ReadSideBySide(8), AdaptiveConsistency()], stores[0], n_orders=5, seed=3)
    sc, asc = cells
    for cell in (sc, asc):
        seq = cell.outcomes.seq_tokens
        assert cell.seq_tokens_k == pytest.approx(seq.mean() / 1000)
        assert 0 < cell.seq_tokens_k <= cell.tokens_k
        assert cell.seq_tokens_k_ci == bootstrap_ci(per_question_k(seq), seed=3)
        assert cell.seq_tokens_k_ci[0] <= cell.seq_tokens_k <= cell.seq_tokens_k_ci[1]
        row = cell.row()
        assert list(row)[:6] == FIRST_COLUMNS and row["seq_tokens_k"] == cell.seq_tokens_k
        assert (row["seq_tokens_k_lo"], row["seq_tokens_k_hi"]) == cell.seq_tokens_k_ci
    assert (sc.outcomes.seq_tokens < sc.outcomes.tokens).all()  # one wave of 8 branches
    assert sc.seq_tokens_k_ci != sc.tokens_k_ci


def test_paired_comparison_has_sequential_tokens(stores):
    sc, asc = evaluate([ReadSideBySide(8), AdaptiveConsistency()], stores[0], n_orders=5)
    diff = compare(sc, asc)
    assert diff.d_seq_tokens_k == pytest.approx(asc.seq_tokens_k - sc.seq_tokens_k)
    assert diff.d_seq_tokens_k_ci[0] <= diff.d_seq_tokens_k <= diff.d_seq_tokens_k_ci[1]
    # the new column resamples the same questions: the other intervals do not move
    acc = np.stack([100 * sc.correct.mean(axis=1), 100 * asc.correct.mean(axis=1)], axis=1)
    tok = np.stack([per_question_k(c.outcomes.tokens) for c in (sc, asc)], axis=1)
    (_, acc_ci), (_, tok_ci) = paired_difference(
        np.stack([acc[:, 0], tok[:, 0]], axis=1), np.stack([acc[:, 1], tok[:, 1]], axis=1)
    )
    assert (diff.d_acc_ci, diff.d_tokens_k_ci) == (acc_ci, tok_ci)


def test_plot_has_both_cost_axes_side_by_side(stores):
    cells = evaluate([ReadSideBySide(4), ReadSideBySide(8)], stores, n_orders=2)
    panels = [ax for ax in pareto_figure(cells).axes if ax.get_visible()]
    assert len(panels) == 4  # two stores, two cost axes each
    for s, store_cells in enumerate((cells[:2], cells[2:])):
        total, sequential = panels[2 * s], panels[2 * s + 1]
        assert "sequential" in sequential.get_xlabel() and "sequential" not in total.get_xlabel()
        for ax, cost in ((total, "tokens_k"), (sequential, "seq_tokens_k")):
            series = [line for line in ax.get_lines() if line.get_label().startswith("side")]
            assert [line.get_label() for line in series] == ["side-by-side@4", "side-by-side@8"]
            xs = [line.get_xdata()[0] for line in series]
            assert xs == [getattr(cell, cost) for cell in store_cells]
    colours = [line.get_color() for ax in panels[:2] for line in ax.get_lines()[:2]]
    assert colours[:2] == colours[2:]  # same colours on both axes


def test_eval_table_and_csv_show_sequential_tokens(stores, capsys):
    code, out, _ = run_cli(
        capsys, "eval", "--policy", "sc", "--config", "n=4", "--stores", stores[0],
        "--orders", "3", "--no-baselines", "--compare", "SC@4", "-q",
    )  # fmt: skip
    assert code == 0 and "seq tokens k" in out and "d seq tokens k" in out
    code, out, _ = run_cli(
        capsys, "eval", "--policy", "sc", "--stores", stores[0], "--orders", "3",
        "--no-baselines", "--format", "csv", "-q",
    )  # fmt: skip
    header = out.splitlines()[0].split(",")
    assert header[:6] == FIRST_COLUMNS and {"seq_tokens_k_lo", "seq_tokens_k_hi"} <= set(header)


def test_parallel_probe_values_are_packaged_as_printed(shared_replay):
    with open(shared_replay / "autotts" / "parallel_probe_table.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(PARALLEL_PROBE_TABLE) == 60
    for row in rows:
        key = (row["model"], row["benchmark"], row["method"])
        assert PARALLEL_PROBE_TABLE[key] == tuple(float(row[m]) for m in PARALLEL_PROBE_MEASURES)
    methods = list(dict.fromkeys(row["method"] for row in rows))
    assert list(parallel_probe_methods()) == methods


def test_parallel_probe_table_refuses_without_sac(stores, capsys, monkeypatch):
    monkeypatch.delitem(BUILTINS, "sac", raising=False)
    code, out, err = run_cli(
        capsys, "reproduce", "--table", "parallel-probe", "--stores", *stores, "-q"
    )
    assert code == 1 and out == ""
    assert "needs SC@64+SAC (policy 'sac')" in err and len(err.strip().splitlines()) == 1


def test_parallel_probe_table_rows(stores, capsys, with_sac):
    assert [type(c) for c in parallel_probe_controllers()][3] is SelfConsistency
    code, out, _ = run_cli(
        capsys, "reproduce", "--table", "parallel-probe", "--stores", *stores,
        "--orders", "4", "--format", "json", "-q",
    )  # fmt: skip
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 2 * 5 and list(rows[0])[:6] == FIRST_COLUMNS
    assert [row["method"] for row in rows[:5]] == list(parallel_probe_methods())
    for row in rows:
        printed = PARALLEL_PROBE_TABLE[(row["model"], "aime24", row["method"])]
        assert (row["paper_acc"], row["paper_seq_tokens_k"], row["paper_tokens_k"]) == printed
        for measure, agrees in (("acc", "acc_agrees"), ("seq_tokens_k", "seq_tokens_agrees")):
            assert row[f"{measure}_diff"] == pytest.approx(row[measure] - row[f"paper_{measure}"])
            assert isinstance(row[agrees], bool)
    by_key = {(row["model"], row["method"]): row for row in rows}
    assert "docs/stores.md" in by_key["Qwen3-1.7B", "Parallel-Probe"]["note"]
    assert "docs/stores.md" not in by_key["Qwen3-8B", "Parallel-Probe"]["note"]
    assert by_key["Qwen3-8B", "Parallel-Probe"]["note"] == ""  # nothing known to differ
    assert all(row["note"] == "" for (_, method), row in by_key.items() if method == "ASC")
    code, out, _ = run_cli(
        capsys, "reproduce", "--table", "parallel-probe", "--stores", *stores, "--orders", "4"
    )
    assert code == 0 and "Parallel-Probe's table" in out and "seq k" in out
    assert "known" in out and "differs" in out  # 4 orders of synthetic stores cannot agree


def test_autotts_table_has_sequential_tokens_but_no_printed_ones(stores, capsys):
    code, out, _ = run_cli(
        capsys, "reproduce", "--stores", stores[0], "--orders", "2", "--format", "csv", "-q"
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0])[:6] == FIRST_COLUMNS and "paper_seq_tokens_k" not in rows[0]
    assert [row["method"] for row in rows] == list(TABLES["autotts"].methods)
    assert all(float(row["seq_tokens_k"]) > 0 for row in rows)
