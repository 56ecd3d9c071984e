"""Waves in the control layer: the built-ins' reference wave structure (LATENCY.md), SC@N+SAC
against Parallel-Probe's printed rows, traces wave by wave, and the handle's batch calls
played on the engine and in the env through the adapter.

Wave structure is read off traces: every action record names its wave, and its cost is the
difference of the running token totals, so the sequential tokens are recomputed here by hand
from the trace alone (a wave lasts the largest per-slot sum in it; a write-up, an explore that
finishes a branch with the answer its previous explore revealed, runs on past its wave)
independently of the engine's bookkeeping.
"""

from __future__ import annotations

import csv
from collections import defaultdict

import numpy as np
import pytest

from tts_gym import TTSControlEnv
from tts_gym.control.builtin import (
    AdaptiveConsistency,
    ConfidenceMomentum,
    EarlyStoppingConsistency,
    ParallelProbe,
    SelfConsistency,
    SelfConsistencySAC,
    cmc_schedule,
)
from tts_gym.control.env_adapter import EnvAdapter
from tts_gym.control.errors import PolicyError
from tts_gym.control.handle import QuestionHandle
from tts_gym.control.loading import load_policy
from tts_gym.control.play import play
from tts_gym.control.traces import TracingEpisode
from tts_gym.engine import Episode
from tts_gym.engine.actions import BATCH_WIDTHS
from tts_gym.evaluation import evaluate
from tts_gym.evaluation.paper import agrees
from tts_gym.store import load_store
from tts_gym.store.synthetic import generate_store, write_store

BUILTINS = [
    SelfConsistency(16),
    AdaptiveConsistency(16, 0.9),
    EarlyStoppingConsistency(24, 4),
    ParallelProbe(num_chains=12, stable_steps=6, warm_up=3, prune_patience=2),
    ConfidenceMomentum(0.5),
    ConfidenceMomentum(1.0),
    SelfConsistencySAC(12, 4),
]


def written(tmp_path_factory, name: str, **spec):
    path = write_store(generate_store(**spec), tmp_path_factory.mktemp(name) / f"{name}.json")
    return load_store(str(path)), str(path)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    # short branches, some without probes: finishing segments of every size
    spec = dict(n_branches=(10, 40), seed=21, tokens=(300, 9000), zero_probe_share=0.1)
    return written(tmp_path_factory, "builtins", n_questions=6, **spec)[0]


def episodes(store, n_orders=4, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    for question in store.questions:
        for _ in range(n_orders):
            yield TracingEpisode(question, rng.permutation(question.n_branches).tolist(), **kwargs)


def waves(record) -> list[list[tuple[str, int, int, bool]]]:
    """The trace's waves in order: (action, slot, tokens it charged, whether they were a
    write-up) per single action."""
    grouped: dict[int, list] = defaultdict(list)
    tokens = 0
    last_revealed: dict[int, str] = {}  # slot -> what its last explore revealed
    for action in record["actions"]:
        kind, slot = action["action"], action["slot"]
        writeup = (
            kind == "CONTINUE"
            and action["finished"]
            and last_revealed.get(slot) == action["revealed"]
        )
        if kind in ("BRANCH", "CONTINUE"):
            last_revealed[slot] = action["revealed"]
        grouped[action["wave"]].append((kind, slot, action["tokens"] - tokens, writeup))
        tokens = action["tokens"]
    assert sorted(grouped) == list(range(len(grouped)))  # consecutive, in order
    return [grouped[w] for w in sorted(grouped)]


def sequential(trace_waves, max_parallel=None) -> int:
    """When the last generation ends: the waves one after another, write-ups running on."""
    clock = end = 0
    for wave in trace_waves:
        before: dict[int, int] = defaultdict(int)  # per slot: tokens before its write-up
        writeups: dict[int, int] = defaultdict(int)
        for _, slot, cost, writeup in wave:
            (writeups if writeup else before)[slot] += cost
        busy = [s for s in sorted(set(before) | set(writeups)) if before[s] + writeups[s] > 0]
        width = max_parallel or max(1, len(busy))
        for i in range(0, len(busy), width):  # sub-waves, in slot order
            sub_wave = busy[i : i + width]
            for s in sub_wave:
                if writeups[s]:
                    end = max(end, clock + before[s] + writeups[s])
            clock += max(before[s] for s in sub_wave)
    return max(clock, end)


def kinds(wave) -> set[str]:
    return {action for action, _, _, _ in wave}


@pytest.mark.parametrize("controller", BUILTINS, ids=lambda c: c.name)
@pytest.mark.parametrize("max_parallel", [None, 3])
def test_builtins_have_the_reference_wave_structure(store, controller, max_parallel):
    """LATENCY.md's table, wave by wave; seq_tokens recomputed from the trace by hand."""
    for episode in episodes(store, max_parallel=max_parallel):
        controller.run(episode)
        record = episode.record(None)
        trace_waves = waves(record)
        assert episode.seq_tokens == sequential(trace_waves, max_parallel)
        assert record["seq_tokens"] == episode.seq_tokens <= episode.tokens
        reads = [w for w in trace_waves if kinds(w) == {"READ"}]
        if isinstance(controller, SelfConsistency):
            assert len(trace_waves) == 1 and kinds(trace_waves[0]) == {"READ"}
        elif isinstance(controller, AdaptiveConsistency):
            assert all(len(w) == 1 for w in trace_waves) and len(reads) == len(trace_waves)
            assert episode.seq_tokens == episode.tokens
        elif isinstance(controller, EarlyStoppingConsistency):
            assert len(reads) == len(trace_waves)
            assert all(len(w) == controller.window for w in reads[:-1])
        elif isinstance(controller, ParallelProbe):
            assert kinds(trace_waves[0]) == {"BRANCH"}
            for w in trace_waves[1:]:  # a lockstep round: each slot once; or a free PRUNE
                assert kinds(w) in ({"CONTINUE"}, {"PRUNE"})
                assert len({slot for _, slot, _, _ in w}) == len(w)
            if max_parallel is None:  # the write-ups run on: its longest per-branch cost
                assert episode.seq_tokens == max(episode.charged)
        elif isinstance(controller, ConfidenceMomentum):
            burst = cmc_schedule(controller.beta).burst_aligned
            assert kinds(trace_waves[0]) == {"BRANCH"}
            for w in trace_waves[1:]:  # a round of bursts, a widening, or a free PRUNE
                assert kinds(w) in ({"CONTINUE"}, {"BRANCH"}, {"PRUNE"})
                per_slot = [slot for _, slot, _, _ in w]
                assert max(per_slot.count(s) for s in per_slot) <= burst
        else:  # SC@N+SAC: one wave of branch-local chains
            assert len(trace_waves) == 1
            if max_parallel is None:
                assert episode.seq_tokens == max(episode.charged, default=0)


def test_sc_latency_is_its_longest_read_and_asc_latency_its_total(store):
    for episode in episodes(store, seed=1):
        SelfConsistency(64).run(episode)
        assert episode.seq_tokens == max(episode.charged)
    for episode in episodes(store, seed=1):
        AdaptiveConsistency().run(episode)
        assert episode.seq_tokens == episode.tokens


def test_sac_stops_a_branch_after_patience_equal_answers(store):
    question = store.questions[0]
    episode = TracingEpisode(question, list(range(question.n_branches)))
    SelfConsistencySAC(3, 4).run(episode)
    for slot in range(3):
        revealed = [a["revealed"] for a in episode.actions if a["slot"] == slot]
        tail = revealed[-4:]
        assert episode.finished[slot] or (len(set(tail)) == 1 and len(tail) == 4)
        assert not any(len(set(revealed[i : i + 4])) == 1 for i in range(len(revealed) - 4))


def test_sac_is_a_policy_named_sc_at_64_plus_sac():
    policy = load_policy("sac")
    assert isinstance(policy, SelfConsistencySAC) and policy.name == "SC@64+SAC"
    assert load_policy("sac", {"n_branches": 8, "patience": 3}).name == "SC@8+SAC(patience=3)"


@pytest.mark.real_stores
def test_sac_reproduces_parallel_probe_printed_rows(shared_replay):
    """SC@64+SAC's 12 rows of Parallel-Probe's table: accuracy (%), tokens and sequential
    tokens (thousands per question), within the printed rounding, on the autotts protocol."""
    with open(shared_replay / "autotts" / "parallel_probe_table.csv", newline="") as file:
        rows = [row for row in csv.DictReader(file) if row["method"] == "SC@64+SAC"]
    assert len(rows) == 12
    stores = [f"autotts/{row['model'].lower()}/{row['benchmark']}" for row in rows]
    cells = evaluate([SelfConsistencySAC()], stores, protocol="autotts")
    for row, cell in zip(rows, cells, strict=True):
        assert (cell.model, cell.benchmark, cell.method) == (
            row["model"], row["benchmark"], "SC@64+SAC",
        )  # fmt: skip
        seq_tokens_k = float(cell.outcomes.seq_tokens.mean()) / 1000
        for ours, printed in (
            (cell.acc, row["acc"]),
            (cell.tokens_k, row["tokens_k"]),
            (seq_tokens_k, row["seq_tokens_k"]),
        ):
            assert agrees(ours, float(printed)), (row, ours, printed)


# ---- traces of batch calls ----------------------------------------------------------------
def test_a_batch_call_is_one_trace_record_for_its_wave(store):
    question = next(q for q in store.questions if min(map(len, q.probes[:4])) >= 2)
    episode = TracingEpisode(question, list(range(question.n_branches)))
    opened = episode.open_many(4)
    episode.advance(0)
    advanced = episode.advance_many([2, 1])  # alive: each has a second probe
    read = episode.read_many(2)
    actions = episode.actions
    assert [a["action"] for a in actions] == ["OPEN_MANY", "CONTINUE", "ADVANCE_MANY", "READ_MANY"]
    assert [a["wave"] for a in actions] == [0, 1, 2, 3]
    assert actions[0]["slot"] == [0, 1, 2, 3]
    assert actions[0]["revealed"] == [question.answers[a] for a, _, _ in opened]
    assert actions[2]["slot"] == [2, 1]
    assert actions[2]["finished"] == [done for _, done in advanced]
    assert actions[3]["slot"] == [4, 5] and actions[3]["finished"] == [True, True]
    assert actions[3]["revealed"] == [question.answers[a] for a in read]
    assert actions[-1]["seq_tokens"] == episode.seq_tokens < episode.tokens
    assert episode.record("x")["seq_tokens"] == episode.seq_tokens


# ---- the handle's batch calls: engine and env -----------------------------------------------
class RandomWaves:
    """An imperative controller making random batch calls that the env has single actions
    for (seeded), logging every result it gets with the tokens and sequential tokens after."""

    MAX_OPEN = 10  # the stores below have at least 12 branches

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.log: list = []

    def solve(self, q: QuestionHandle):
        rng = np.random.default_rng(self.seed)
        finished: list[bool] = []
        last = None
        for _ in range(int(rng.integers(2, 9))):
            alive = [s for s, done in enumerate(finished) if not done]
            move, k = int(rng.integers(3)), int(rng.choice([1, BATCH_WIDTHS[0], BATCH_WIDTHS[1]]))
            if move == 0 and alive:
                slots = [int(s) for s in rng.permutation(alive)]
                results = q.advance_many(slots)
                for slot, (answer, done) in zip(slots, results, strict=True):
                    finished[slot] = done
                    last = answer
            elif move == 1 and q.n_open + k <= self.MAX_OPEN:
                results = q.branch_many(k)
                finished += [done for _, _, done in results]
                last = results[-1][0]
            elif move == 2 and q.n_open + k <= self.MAX_OPEN:
                results = q.read_many(k)
                finished += [True] * k
                last = results[-1]
            else:
                continue
            self.log.append((results, q.tokens, q.seq_tokens))
        return last


@pytest.fixture(scope="module")
def store_file(tmp_path_factory):
    spec = dict(n_branches=(12, 30), seed=8, tokens=(300, 8000))
    return written(tmp_path_factory, "waves", n_questions=5, **spec)


def stepped(controller, env, question, order):
    """Play `controller` through the adapter; the env steps it took and the last info."""
    adapter = EnvAdapter(controller, env)
    obs, info = env.reset(options={"question": question, "order": order})
    n_steps, done = 0, False
    while not done:
        obs, _, done, _, info = env.step(adapter.act(obs, info))
        n_steps += 1
    return n_steps, info


@pytest.mark.parametrize("engine", ["compiled", "python"])
def test_handle_batch_calls_and_env_batch_actions_give_the_same_waves(store_file, engine):
    spec, path = store_file
    env = TTSControlEnv(stores=[path], max_branches=64, engine=engine)
    rng = np.random.default_rng(3)
    shapes = set()  # advance_many gives pairs, branch_many triples, read_many strings
    for trial in range(12):
        question = int(rng.integers(spec.n_questions))
        order = rng.permutation(spec.questions[question].n_branches).tolist()
        on_engine, in_env = RandomWaves(trial), RandomWaves(trial)
        outcomes = play(on_engine, spec, [order], questions=[question])
        _, info = stepped(in_env, env, question, order)
        assert in_env.log == on_engine.log and on_engine.log  # results, tokens, seq per wave
        assert (info["tokens"], info["seq_tokens"]) == (
            outcomes.tokens[0, 0], outcomes.seq_tokens[0, 0],
        )  # fmt: skip
        assert info["answer"] == outcomes.answers[0][0]
        shapes |= {len(results[0]) if isinstance(results[0], tuple) else 1
                   for results, _, _ in on_engine.log}  # fmt: skip
    assert shapes == {1, 2, 3}


class ReadEight:
    def solve(self, q):
        answers = q.read_many(8)
        return answers[0]


def test_a_batch_call_is_one_env_step(store_file):
    """The controller gets nothing of the wave until it has ended: one step, then SUBMIT."""
    spec, path = store_file
    env = TTSControlEnv(stores=[path], max_branches=16)
    n_steps, info = stepped(ReadEight(), env, 0, list(range(spec.questions[0].n_branches)))
    assert n_steps == 2 and info["stop_reason"] == "submit"
    lengths = spec.questions[0].tokens[:8]
    assert (info["tokens"], info["seq_tokens"]) == (sum(lengths), max(lengths))


class Calls:
    def __init__(self, call):
        self.call = call

    def solve(self, q):
        q.branch_many(2)
        q.branch()
        self.call(q)
        return None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda q: q.advance_many([0, 2]), r"advance_many\(\[0, 2\]\) has no single action"),
        (lambda q: q.read_many(3), r"read_many\(3\) has no single action in TTSControl-v0"),
        (lambda q: q.branch_many(5), r"open_many\(5\) has no single action"),
    ],
)
def test_env_refuses_batch_calls_it_has_no_single_action_for(store_file, call, message):
    spec, path = store_file
    env = TTSControlEnv(stores=[path], max_branches=16)
    order = list(range(spec.questions[0].n_branches))
    with pytest.raises(PolicyError, match=message):
        stepped(Calls(call), env, 0, order)


def test_reference_waves_in_the_env_are_single_actions(store_file):
    """The env has no action grouping single actions: SC@N's reads there are a wave each,
    same answers and tokens as on the engine, its total as sequential tokens."""
    spec, path = store_file
    env = TTSControlEnv(stores=[path], max_branches=16)
    order = list(range(spec.questions[2].n_branches))
    _, info = stepped(SelfConsistency(6), env, 2, order)
    engine = Episode(spec.questions[2], order)
    answer = SelfConsistency(6).run(engine)
    assert info["answer"] == engine.answer_text(answer) and info["tokens"] == engine.tokens
    assert info["seq_tokens"] == engine.tokens > engine.seq_tokens
