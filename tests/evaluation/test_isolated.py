"""The in-process harness hands policies gold-free episodes and scores outside them, and
`tts-gym eval --isolate` plays a policy file through the boundary with the same numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.sandbox.support import small_store
from tests.support import REPO_ROOT, allow_missing_layers
from tts_gym.cli import main
from tts_gym.control import play
from tts_gym.control.outcomes import Outcomes
from tts_gym.evaluation import Protocol, evaluate, score
from tts_gym.evaluation.isolated import PlayedInSandbox

CMC_FILE = REPO_ROOT / "tests" / "agents" / "discovery" / "fixtures" / "cmc_standalone.py"


class LooksForGold:
    """Every kind of policy, each noting what gold it could find in what it was given."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def run(self, episode) -> int:
        self.found += [episode.question.gold, episode.question.text]
        episode.read()
        return episode.revealed[0]


class ImperativeLooksForGold:
    def __init__(self) -> None:
        self.found: list[str] = []

    def solve(self, q) -> str | None:
        question = q._episode.question
        self.found += [question.gold, question.text]
        return q.read()


class StepLooksForGold:
    env_kwargs = {"max_branches": 4}

    def __init__(self) -> None:
        self.found: list[str] = []

    def bind(self, env) -> None:
        self.found += [q.gold for store in env.unwrapped.stores for q in store.questions]

    def act(self, obs, info) -> int:
        return 2 if info["tokens"] == 0 else 3 + 3 * 4  # READ, then SUBMIT(0)


class BatchedLooksForGold:
    def __init__(self) -> None:
        self.found: list[str] = []

    def play(self, store, orders, *, questions=None) -> Outcomes:
        self.found += [q.gold for q in store.questions]
        rows = range(store.n_questions) if questions is None else questions
        n = len(orders(0, store.questions[0].n_branches))
        zeros = np.zeros((len(rows), n), dtype=np.int64)
        return Outcomes([[None] * n for _ in rows], zeros, zeros.copy())


@pytest.mark.parametrize(
    "policy", [LooksForGold, ImperativeLooksForGold, StepLooksForGold, BatchedLooksForGold]
)
def test_policies_find_no_gold_and_are_scored_outside(tmp_path, policy) -> None:
    store = small_store(tmp_path)
    controller = policy()
    outcomes = play(controller, store, Protocol("default", 2, 0))
    assert controller.found and set(controller.found) == {""}
    correct = score(outcomes, store)  # against the real store's gold answers
    if not isinstance(controller, BatchedLooksForGold):
        assert correct.any()


def test_evaluate_scores_gold_free_play_in_worker_processes(tmp_path) -> None:
    store = small_store(tmp_path)
    (cell,) = evaluate(LooksForGold(), store, n_orders=3, jobs=2)
    expected = [
        [q.answers[q.finals[order[0]]] == q.gold for order in Protocol("default", 3, 0)(i, 16)]
        for i, q in enumerate(store.questions)
    ]
    assert cell.correct.tolist() == expected


def eval_csv(capsys, *args: str) -> list[str]:
    assert main(["eval", *args, "--no-baselines", "--format", "csv", "--orders", "3"]) == 0
    return capsys.readouterr().out.splitlines()


def test_eval_isolate_gives_the_in_process_numbers(tmp_path, capsys) -> None:
    store = str(small_store(tmp_path).path)
    common = ["--policy", f"{CMC_FILE}:CMC", "--sweep", "beta=0,1", "--stores", store]
    isolated = eval_csv(capsys, *common, "--isolate", *allow_missing_layers())
    assert isolated == eval_csv(capsys, *common)
    assert [row.split(",")[2] for row in isolated[1:]] == ["CMC [beta=0]", "CMC [beta=1]"]


def test_eval_isolate_traces_match(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = str(small_store(tmp_path).path)
    spec = f"{CMC_FILE}:CMC"
    for isolate, name in ((["--isolate", *allow_missing_layers()], "a.jsonl"), ([], "b.jsonl")):
        eval_csv(capsys, "--policy", spec, *isolate, "--stores", store, "--traces", name)
    isolated, plain = (
        [json.loads(line) for line in (tmp_path / name).read_text().splitlines()]
        for name in ("a.jsonl", "b.jsonl")
    )
    assert isolated == plain and len(isolated) == 8 * 3


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cmc", "--isolate plays a policy file: give it as path.py:Class, not 'cmc'."),
        ("missing.py:Controller", "there is no file missing.py"),
        ("{step}:Controller", "has no solve(q) method: the sandbox runs controllers written"),
    ],
)
def test_eval_isolate_bad_input_is_one_sentence(tmp_path, capsys, spec: str, message: str):
    step = tmp_path / "step.py"
    step.write_text("class Controller:\n    def act(self, obs, info):\n        return 0\n")
    store = str(small_store(tmp_path).path)
    args = ["eval", "--isolate", "--policy", spec.replace("{step}", str(step)), "--stores", store]
    args += allow_missing_layers()
    assert main(args) == 1
    captured = capsys.readouterr()
    assert message in captured.err and captured.err.count("\n") == 1


def test_played_in_sandbox_splits_its_seconds_by_questions(tmp_path) -> None:
    """Split into question ranges (as worker processes split a store), the ranges' seconds
    add up to the sweep's once, not once per range."""
    store = small_store(tmp_path)
    protocol = Protocol("autotts", 2)
    n = store.n_questions
    played = Outcomes(
        [["x", None] for _ in range(n)],
        np.arange(2 * n, dtype=np.int64).reshape(n, 2),
        np.zeros((n, 2), dtype=np.int64),
        seconds=8.0,
    )
    setting = PlayedInSandbox("p", protocol, {store.name: played})
    parts = [setting.play(store, protocol, questions=range(a, b)) for a, b in ((0, 3), (3, n))]
    joined = Outcomes.concat(parts)
    assert joined.seconds == pytest.approx(8.0)
    assert parts[0].seconds == pytest.approx(8.0 * 3 / n)
    assert joined.tokens.tolist() == played.tokens.tolist()
