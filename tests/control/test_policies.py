"""Controllers: the question handle, loading specs, and the env adapter (env == engine)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import tts_gym  # noqa: F401  (registers TTSControl-v0)
from tests.support.autotts_controllers import CMCMethod
from tts_gym.control import PolicyLoadError, QuestionHandle, load_policy, parse_config, play
from tts_gym.control.builtin import (
    AdaptiveConsistency,
    ConfidenceMomentum,
    ParallelProbe,
    SelfConsistency,
)
from tts_gym.control.env_adapter import EnvAdapter
from tts_gym.engine import Episode
from tts_gym.env import ActionKind, TTSControlEnv, encode_action
from tts_gym.errors import IllegalActionError
from tts_gym.evaluation import autotts_orders, evaluate
from tts_gym.evaluation.paper import PAPER_TABLE1, agrees, table1_controllers
from tts_gym.store import load_store

QWEN3_8B = [f"autotts/qwen3-8b/{b}" for b in ("aime24", "aime25", "hmmt25")]


@pytest.fixture(scope="module")
def store(shared_replay):
    return load_store("autotts/qwen3-8b/aime24")


def handle(store, branches=None) -> QuestionHandle:
    question = store.questions[0]
    order = list(range(question.n_branches))[:branches]
    return QuestionHandle(Episode(question, order), question.probe_freq)


def test_handle_speaks_both_vocabularies(store):
    q = handle(store)
    answer, slot, finished = q.branch()
    assert (slot, finished, q.n_open, q.tokens) == (0, False, 1, 500)
    assert isinstance(answer, str)
    assert q.probe_more(0)[1] is False and q.tokens == 1000
    assert q.probe_new()[1] == 1
    final = q.get_new_branch_final_answer()
    assert isinstance(final, str) and q.n_open == 3
    assert q.get_seq_and_total_tokens() == (q.tokens, q.tokens)  # one wave per call
    assert q.probe_interval == q.probe_freq == 500 and q.can_branch
    q.prune(1)
    with pytest.raises(IllegalActionError, match=r"CONTINUE\(1\).*pruned"):
        q.advance(1)
    assert not any("gold" in name for name in dir(q))


def test_handle_batch_calls_are_one_wave_each(store):
    q, reference = handle(store), Episode(store.questions[0], range(store.questions[0].n_branches))
    opened = q.branch_many(3)
    assert [slot for _, slot, _ in opened] == [0, 1, 2]
    assert (q.tokens, q.seq_tokens) == (1500, 500)  # three intervals side by side
    assert opened == [
        (reference.answer_text(answer), slot, done) for answer, slot, done in
        (reference.open() for _ in range(3))
    ]  # fmt: skip
    advanced = q.advance_many([2, 0])
    assert [done for _, done in advanced] == [False, False]
    assert q.tokens == 2500 and q.seq_tokens == 1000
    finals = q.read_many(2)
    assert len(finals) == 2 and q.n_open == 5
    lengths = [store.questions[0].tokens[b] for b in (3, 4)]
    assert q.get_seq_and_total_tokens() == (1000 + max(lengths), 2500 + sum(lengths))
    with pytest.raises(IllegalActionError, match="listed twice"):
        q.advance_many([1, 1])


def test_exhausted_branches_raise_value_error_like_autotts(store):
    q = handle(store, branches=2)
    q.probe_new()
    q.read()
    assert not q.can_branch
    for call in (q.probe_new, q.get_new_branch_final_answer, lambda: q.probe_more(5)):
        with pytest.raises(ValueError):
            call()
    while not q.advance(0)[1]:
        pass
    with pytest.raises(ValueError, match="finished"):
        q.probe_more(0)


def test_load_policy_builtins_and_config():
    assert load_policy("CMC", {"beta": 1.0}) == ConfidenceMomentum(1.0)
    assert load_policy("sc", {"n": 8}).name == "SC@8"
    assert load_policy("Parallel-Probe").name == "Parallel-Probe"
    assert load_policy("tts_gym.control.builtin:SelfConsistency", {"n": 4}) == SelfConsistency(4)
    assert load_policy("tests.support.autotts_controllers:CMCMethod", {"beta": 0.5}).config == {
        "beta": 0.5
    }
    assert parse_config(["beta=0.5", "name=x", "n=3"]) == {"beta": 0.5, "name": "x", "n": 3}


@pytest.mark.parametrize(
    ("spec", "config", "message"),
    [
        ("nope", {}, "unknown policy 'nope'"),
        ("no_such_module:X", {}, "no module named 'no_such_module'"),
        ("tts_gym.control.builtin:Nope", {}, "defines no 'Nope'"),
        ("cmc", {"gamma": 1}, "cannot be constructed with gamma=1"),
        ("missing.py:X", {}, "there is no file missing.py"),
    ],
)
def test_load_policy_errors_are_one_sentence(spec, config, message):
    with pytest.raises(PolicyLoadError, match=message) as error:
        load_policy(spec, config)
    assert "\n" not in str(error.value)


def test_load_policy_from_files(tmp_path):
    good = tmp_path / "good.py"
    good.write_text("class Mine:\n    def solve(self, q):\n        return q.read()\n")
    assert type(load_policy(f"{good}:Mine")).__name__ == "Mine"
    bad = tmp_path / "bad.py"
    bad.write_text("class Mine(:\n")
    with pytest.raises(PolicyLoadError, match="syntax error at line 1"):
        load_policy(f"{bad}:Mine")
    raising = tmp_path / "raising.py"
    raising.write_text("raise RuntimeError('no GPU here')\n")
    with pytest.raises(PolicyLoadError, match="raised RuntimeError: no GPU here"):
        load_policy(f"{raising}:Mine")
    plain = tmp_path / "plain.py"
    plain.write_text("class Mine:\n    pass\n")
    with pytest.raises(PolicyLoadError, match=r"none of the methods solve\(q\)"):
        load_policy(f"{plain}:Mine")


def _env_and_engine_agree(controller, store_name: str, pairs: list[tuple[int, list[int]]]):
    """Episodes stepped in TTSControl-v0 through the adapter equal the engine's."""
    store = load_store(store_name)
    env = TTSControlEnv(stores=[store_name])
    adapter = EnvAdapter(controller, env)
    for question, order in pairs:
        obs, info = env.reset(options={"question": question, "order": order})
        adapter.reset()
        steps, done = 0, False
        while not done:
            action = adapter.act(obs, info)
            assert info["action_mask"][action]
            obs, _, done, _, info = env.step(action)
            steps += 1
        engine = play(controller, store, [order], questions=[question])
        assert info["answer"] == engine.answers[0][0], (store_name, question, controller)
        assert info["tokens"] == engine.tokens[0, 0]
        assert info["stop_reason"] == "submit" or info["answer"] is None
        assert steps > 1


@pytest.mark.parametrize("store_name", QWEN3_8B)
@pytest.mark.parametrize("controller", table1_controllers(), ids=lambda c: c.name)
def test_env_adapter_matches_engine_per_episode(shared_replay, store_name, controller):
    rng = np.random.default_rng(zlib.crc32(f"{store_name} {controller.name}".encode()))
    orders = autotts_orders(128)
    pairs = [(int(rng.integers(30)), orders[int(rng.integers(100))]) for _ in range(12)]
    _env_and_engine_agree(controller, store_name, pairs)


def test_env_adapter_runs_imperative_controllers(shared_replay):
    orders = autotts_orders(128, 3)
    _env_and_engine_agree(CMCMethod(0.5), QWEN3_8B[1], [(q, orders[q % 3]) for q in range(4)])


def test_env_adapter_abandons_an_episode_on_reset(shared_replay):
    env = TTSControlEnv(stores=[QWEN3_8B[0]])
    adapter = EnvAdapter(ParallelProbe(), env)
    obs, info = env.reset(seed=0)
    for _ in range(10):
        obs, *_, info = env.step(adapter.act(obs, info))
    obs, info = env.reset(seed=1)  # mid-episode: the adapter starts afresh
    adapter.reset()
    done = False
    while not done:
        obs, _, done, _, info = env.step(adapter.act(obs, info))
    assert info["tokens"] > 0


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_table1_qwen3_8b_reproduces_through_the_env(shared_replay):
    """All 18 cells, 54,000 episodes stepped one action at a time in TTSControl-v0."""
    from tts_gym.evaluation import Setting, evaluate_settings

    # each adapter is bound to the env that the runner builds for it
    settings = [Setting(EnvAdapter(c), c.name) for c in table1_controllers()]
    cells = evaluate_settings(settings, QWEN3_8B, "autotts")
    for cell in cells:
        paper_acc, paper_tokens = PAPER_TABLE1[(cell.model, cell.benchmark, cell.method)]
        assert agrees(cell.acc, paper_acc) and agrees(cell.tokens_k, paper_tokens), cell.row()


class ReadThenSubmit:
    """A step policy: READ three branches, then SUBMIT the first."""

    def act(self, obs, info) -> int:
        max_branches = len(obs["answer_id"])
        if info["slot"] < 2:
            return encode_action(ActionKind.READ, 0, max_branches)
        return encode_action(ActionKind.SUBMIT, 0, max_branches)


def test_harness_runs_step_policies_through_the_env(shared_replay):
    (cell,) = evaluate(ReadThenSubmit(), QWEN3_8B[0], n_orders=3, trace=True)
    (first_read,) = evaluate(SelfConsistency(1), QWEN3_8B[0], n_orders=3)
    assert cell.outcomes.answers == first_read.outcomes.answers
    assert (cell.outcomes.tokens > first_read.outcomes.tokens).all()
    record = cell.outcomes.traces[0][0]
    assert [a["action"] for a in record["actions"]] == ["READ", "READ", "READ", "SUBMIT"]
    assert record["stop_reason"] == "submit" and record["tokens"] == cell.outcomes.tokens[0, 0]
    adapted = evaluate(EnvAdapter(AdaptiveConsistency()), QWEN3_8B[0], n_orders=3)[0]
    plain = evaluate(AdaptiveConsistency(), QWEN3_8B[0], n_orders=3)[0]
    assert adapted.outcomes.answers == plain.outcomes.answers
    assert (adapted.outcomes.tokens == plain.outcomes.tokens).all()


def test_env_adapter_thread_fallback_without_greenlet(shared_replay, monkeypatch):
    import tts_gym.control.env_adapter as env_adapter

    monkeypatch.setattr(env_adapter, "greenlet", None)
    orders = autotts_orders(128, 2)
    _env_and_engine_agree(ConfidenceMomentum(0.5), QWEN3_8B[2], [(3, orders[0]), (7, orders[1])])
    env = TTSControlEnv(stores=[QWEN3_8B[0]])
    adapter = EnvAdapter(ParallelProbe(), env)
    obs, info = env.reset(seed=0)
    for _ in range(5):
        obs, *_, info = env.step(adapter.act(obs, info))
    adapter.reset()  # the controller thread is unwound, not left waiting
    assert not adapter._running
