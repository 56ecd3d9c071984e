"""Issue 23's newcomer frictions, each as a new user meets it, each fixed."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tests.support import REPO_ROOT, allow_missing_layers
from tts_gym.cli import main
from tts_gym.control import play
from tts_gym.control.builtin import ConfidenceMomentum
from tts_gym.evaluation import Protocol, evaluate, score
from tts_gym.store import load_store
from tts_gym.store.synthetic import generate_store, write_store

POLICIES = '''
class Agree:
    """Answers once `k` opened branches agree."""

    def __init__(self, k=2):
        self.k = k

    def solve(self, q):
        seen = {}
        while q.can_branch:
            answer = q.branch()[0]
            seen[answer] = seen.get(answer, 0) + 1
            if seen[answer] >= self.k:
                return answer
        return None


class Silent:
    """Answers without reading anything: zero tokens."""

    def solve(self, q):
        return None
'''


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_store(generate_store(4, 8, seed=2, tokens=(1_000, 3_000)), tmp_path / "s.json")
    (tmp_path / "policies.py").write_text(POLICIES)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_offline_fetch_error_says_where_else_stores_come_from(tmp_path, capsys) -> None:
    argv = ["fetch", "autotts/qwen3-8b/aime24", "--data-dir", str(tmp_path), "-q"]
    assert main([*argv, "--mirror", "http://127.0.0.1:9"]) == 1  # nothing listens there
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "could not start" in err
    assert "--mirror URL" in err and "$TTS_GYM_MIRROR" in err and "$TTS_GYM_DATA" in err


def test_pytest_lists_every_skip_with_its_reason(pytestconfig) -> None:
    assert "-rs" in pytestconfig.getini("addopts")
    bare = []
    for path in (REPO_ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and _name(node.func) in ("skip", "skipif"):
                has_reason = node.args[1:] if _name(node.func) == "skipif" else node.args
                if not has_reason and not any(k.arg in ("reason", "msg") for k in node.keywords):
                    bare.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert bare == []


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def test_sweep_labels_keep_their_brackets_in_the_table(folder, capsys) -> None:
    argv = ["eval", "--policy", "policies.py:Agree", "--sweep", "k=2,3", "--stores", "s.json"]
    assert main([*argv, "--orders", "2", "--no-baselines", "-q"]) == 0
    out = capsys.readouterr().out
    assert "Agree [k=2]" in out and "Agree [k=3]" in out


def test_the_custom_controller_example_is_a_policy_file(folder, capsys) -> None:
    spec = f"{REPO_ROOT / 'examples/custom_controller.py'}:FirstToThree"
    argv = ["eval", "--policy", spec, "--stores", "s.json", "--orders", "2", "--no-baselines"]
    assert main([*argv, "--format", "csv", "-q"]) == 0
    assert ",FirstToThree," in capsys.readouterr().out


@pytest.mark.parametrize("suffix, magic", [("jpg", b"\xff\xd8\xff"), ("pdf", b"%PDF"),
                                           ("svg", b"<?xml"), ("png", b"\x89PNG")])  # fmt: skip
def test_a_plot_is_written_in_the_format_its_suffix_names(folder, capsys, suffix, magic) -> None:
    pytest.importorskip("matplotlib")
    argv = ["eval", "--policy", "policies.py:Silent", "--stores", "s.json", "--orders", "2"]
    assert main([*argv, "-q", "--no-baselines", "--plot", f"out.{suffix}"]) == 0
    assert (folder / f"out.{suffix}").read_bytes().startswith(magic)
    assert capsys.readouterr().err == ""  # zero tokens on a log axis: no matplotlib warning


def test_an_unknown_plot_suffix_is_refused_before_playing(folder, capsys) -> None:
    argv = ["eval", "--policy", "sc", "--stores", "s.json", "--plot", "out.xyz"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write a plot as .xyz" in err and ".jpg" in err


def test_reprs_are_short(folder) -> None:
    store = load_store("s.json")
    (cell,) = evaluate("sc", store, n_orders=2)
    for holder in (store, store.questions[0], cell, cell.outcomes):
        assert len(repr(holder)) < 200, repr(holder)
    assert repr(store.questions[0]).startswith("Question(index=0, branches=8, answers=")
    assert repr(cell).startswith("Cell(store='s', method='SC@64', acc=")


def test_accuracy_is_a_percent_in_check_controller_as_in_eval(folder, capsys) -> None:
    """`eval`, `reproduce` and the training record print percent; `check-controller` too."""
    spec = f"{REPO_ROOT / 'tests/agents/discovery/fixtures/cmc_standalone.py'}:CMC"
    argv = ["check-controller", spec, "--stores", "s.json", "--betas", "0,1", "--orders", "1"]
    assert main([*argv, "--memory-mb", "1024", *allow_missing_layers()]) == 0
    sweep = json.loads(capsys.readouterr().out)["sweep"]
    store = load_store("s.json")
    for point in sweep:
        outcomes = play(ConfidenceMomentum(point["beta"]), store, Protocol("default", 1, 0))
        assert point["acc"] == pytest.approx(100 * score(outcomes, store).mean())
    assert max(point["acc"] for point in sweep) > 1.0  # a fraction could not pass both
