"""The macros inside the compiled core equal the Python planner over `TTSControl-v0`, bit for bit:
policy observations, macro masks, rewards, ends and answers at every decision, under random
macros on edge and real stores, and under the shipped model's own decisions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

pytest.importorskip("sb3_contrib")

from tts_gym_agents.rl.evaluate import play_episodes  # noqa: E402
from tts_gym_agents.rl.policy import load_sb3_policy  # noqa: E402
from tts_gym_agents.rl.split import split_questions  # noqa: E402

from tests.support import REPO_ROOT  # noqa: E402
from tests.support.episodes import write_edge_stores  # noqa: E402
from tts_gym.env import TTSControlEnv  # noqa: E402
from tts_gym.env.macro import Macro, MacroEnv  # noqa: E402
from tts_gym.env.macro_core import (  # noqa: E402
    ANSWER_ID,
    CORRECT,
    ENDED,
    GLOBAL_QUESTION,
    PRIMITIVES,
    TOKENS_SPENT,
    MacroBatch,
    answer_text,
    float32_sum,
)
from tts_gym.evaluation.protocols import numpy_orders  # noqa: E402
from tts_gym.store import ReplayStore  # noqa: E402

SHIPPED = REPO_ROOT / "agents/rl/models/ppo-search"
PENALTY = 3.0  # large enough that the rewards are far from round numbers

Episode = tuple[int, int, list[int]]  # (store, question, order)


def test_float32_sum_is_numpys() -> None:
    rng = np.random.default_rng(0)
    for n in [*range(0, 300), 511, 1024, 1031, 4099]:
        scale = np.float32(rng.choice([1e-3, 1.0, 1e4]))
        values = (rng.random(n) * scale).astype(np.float32)
        assert np.float32(float32_sum(values, n)).tobytes() == values.sum().tobytes(), n


# ---- random macros --------------------------------------------------------------------------
def pick(legal: np.ndarray, rng: np.random.Generator) -> int:
    """A random legal macro, WIDEN or ADVANCE four times in five (long episodes)."""
    choices = np.flatnonzero(legal)
    going = choices[choices >= Macro.WIDEN]
    return int(rng.choice(going if going.size and rng.random() < 0.8 else choices))


def reference_play(env: MacroEnv, episodes: Sequence[Episode], seed: int) -> list[list[tuple]]:
    """Each episode on the Python planner: per decision (globals, summary, mask, macro,
    reward, done), then (answer, correct, tokens)."""
    logs = []
    for e, (s, q, order) in enumerate(episodes):
        rng = np.random.default_rng([seed, e])
        obs, _ = env.reset(options={"store": s, "question": q, "order": order})
        log: list[tuple] = []
        done = False
        while not done:
            legal = env.action_masks()
            macro = pick(legal, rng)
            log.append((obs["globals"], obs["summary"], legal, macro))
            obs, reward, done, _, info = env.step(macro)
            log.append((reward, done))
        log.append((info["answer"], info["correct"], info["tokens"]))
        logs.append(log)
    return logs


def core_play(
    stores: Sequence[ReplayStore],
    max_branches: int,
    patience: int,
    episodes: Sequence[Episode],
    seed: int,
) -> list[list[tuple]]:
    """The same episodes on a `MacroBatch` of 16 envs in lockstep, logged the same way."""
    core = MacroBatch(stores, min(16, len(episodes)), max_branches=max_branches, patience=patience)
    tables = core.batch.tables
    logs: list[list[tuple]] = [[] for _ in episodes]
    rngs = [np.random.default_rng([seed, e]) for e in range(len(episodes))]
    pending = iter(range(len(episodes)))
    running: dict[int, int] = {}

    def take(envs: Sequence[int]) -> None:
        started = []
        for i in envs:
            e = next(pending, None)
            if e is not None:
                s, q, order = episodes[e]
                core.stage(i, tables.global_question(s, q), order)
                running[i] = e
                started.append(i)
        if started:
            core.start(started)

    take(range(core.n))
    while running:
        macros = np.zeros(core.n, dtype=np.int64)
        acting = np.zeros(core.n, dtype=bool)
        for i, e in running.items():
            macros[i] = pick(core.legal[i], rngs[e])
            acting[i] = True
            logs[e].append(
                (core.globals[i].copy(), core.summary[i].copy(), core.legal[i].copy(), macros[i])
            )
        assert core.step(macros, acting, token_penalty=PENALTY) == -1
        ended = []
        for i, e in list(running.items()):
            outcome = core.outcome[i]
            logs[e].append((core.returns[i], bool(outcome[ENDED])))
            assert outcome[PRIMITIVES] >= 1
            if outcome[ENDED]:
                answer = answer_text(core, int(outcome[GLOBAL_QUESTION]), int(outcome[ANSWER_ID]))
                logs[e].append((answer, bool(outcome[CORRECT]), int(outcome[TOKENS_SPENT])))
                assert not core.legal[i].any()  # an ended episode takes no macro
                del running[i]
                ended.append(i)
        take(ended)
    return logs


def assert_same_logs(got: list[list[tuple]], expected: list[list[tuple]]) -> None:
    """Equal entries; arrays equal to the bit, with the same dtype."""
    assert len(got) == len(expected)
    for e, (a, b) in enumerate(zip(got, expected, strict=True)):
        assert len(a) == len(b), f"episode {e}: {len(a)} entries, expected {len(b)}"
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            for u, v in zip(x, y, strict=True):
                if isinstance(v, np.ndarray):
                    assert u.dtype == v.dtype and u.tobytes() == v.tobytes(), (e, k, u, v)
                else:
                    assert u == v, (e, k, u, v)


def check_random_macros(
    paths: Sequence[str], max_branches: int, per_question: int, patience: int = 8
) -> None:
    env = MacroEnv(
        TTSControlEnv(stores=list(paths), max_branches=max_branches, token_penalty=PENALTY),
        patience=patience,
    )
    stores = env.unwrapped.stores
    episodes = [
        (s, q, order)
        for s, store in enumerate(stores)
        for q in range(store.n_questions)
        for order in numpy_orders(store.questions[q].n_branches, per_question, [9, s, q])
    ]
    expected = reference_play(env, episodes, seed=4)
    got = core_play(stores, max_branches, patience, episodes, seed=4)
    assert_same_logs(got, expected)
    assert sum(len(log) for log in got) > 6 * len(episodes)  # episodes of several macros
    played = {int(entry[3]) for log in got for entry in log if len(entry) == 4}
    if max_branches >= 8:  # with 3 slots, PRUNE (which keeps two alive) is rare
        assert played == set(range(len(Macro))), played  # every macro was compared


@pytest.fixture(scope="module")
def edge_stores(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return list(write_edge_stores(tmp_path_factory.mktemp("edge")).values())


@pytest.mark.parametrize("max_branches, patience", [(3, 1), (8, 2), (64, 3)])
def test_random_macros_equal_the_planner_on_edge_stores(edge_stores, max_branches, patience):
    """3 branches (WIDEN stops at the mask), branches without probes, 'ERR' everywhere,
    1 to 40 branches; five stores in one batch; a short patience, so that PRUNE has work."""
    check_random_macros(edge_stores, max_branches, per_question=4, patience=patience)


@pytest.mark.real_stores
def test_random_macros_equal_the_planner_on_the_search_stores() -> None:
    check_random_macros(["search"], max_branches=32, per_question=1)


# ---- the shipped model ----------------------------------------------------------------------
class Recorder:
    """`choose`, logging every call's inputs and outputs."""

    def __init__(self, choose) -> None:
        self.choose = choose
        self.calls: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def __call__(self, obs: dict[str, np.ndarray], masks: np.ndarray) -> np.ndarray:
        macros = self.choose(obs, masks)
        self.calls.append((obs["globals"].copy(), obs["summary"].copy(), masks.copy(), macros))
        return macros


def reference_batched_play(
    choose, envs: Sequence[MacroEnv], episodes: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """How `SB3Policy.play` played before the core ran the macros: envs in lockstep, one `choose`
    per round over the running ones in the order they took their episodes."""
    finals: list[dict[str, Any]] = [{} for _ in episodes]
    pending = iter(enumerate(episodes))
    running: dict[int, tuple[int, dict[str, np.ndarray]]] = {}

    def start(e: int) -> None:
        item = next(pending, None)
        if item is not None:
            running[e] = (item[0], envs[e].reset(options=item[1])[0])

    for e in range(len(envs)):
        start(e)
    while running:
        order = list(running)
        obs = {key: np.stack([running[e][1][key] for e in order]) for key in running[order[0]][1]}
        masks = np.stack([envs[e].action_masks() for e in order])
        for e, macro in zip(order, choose(obs, masks), strict=True):
            index = running[e][0]
            next_obs, _, terminated, _, info = envs[e].step(int(macro))
            if terminated:
                finals[index] = info
                del running[e]
                start(e)
            else:
                running[e] = (index, next_obs)
    return finals


@pytest.mark.real_stores
def test_the_shipped_model_decides_as_before() -> None:
    """Every validation episode of the shipped model's run, and two orders of eight training
    questions per search store: the same inputs reach the network in the same batches, it
    picks the same macros, and the episodes end with the same answers and tokens."""
    policy = load_sb3_policy(SHIPPED / "model.zip")
    config = policy.config
    m = config.max_branches
    env = TTSControlEnv(stores=list(config.stores), max_branches=m)
    stores = env.stores
    train_q, valid_q = split_questions(stores, config.folds, config.fold)
    for s, store in enumerate(stores):
        valid = [
            (q, order)
            for t, q in valid_q
            if t == s
            for order in numpy_orders(store.questions[q].n_branches, 8, [config.seed, s, q])
        ]
        training = [
            (q, order)
            for q in [q for t, q in train_q if t == s][:8]
            for order in numpy_orders(store.questions[q].n_branches, 2, [5, s, q])
        ]
        episodes = valid + training
        old, new = Recorder(policy.choose), Recorder(policy.choose)
        envs = [
            MacroEnv(TTSControlEnv(stores=[store], max_branches=m), config.widen, config.patience)
            for _ in range(64)
        ]
        finals = reference_batched_play(
            old, envs, [{"question": q, "order": order} for q, order in episodes]
        )
        core = MacroBatch([store], 64, max_branches=m, widen=config.widen, patience=config.patience)
        answers, tokens, _ = play_episodes(new, core, episodes)
        assert len(new.calls) == len(old.calls) > 10
        for a, b in zip(new.calls, old.calls, strict=True):
            for x, y in zip(a, b, strict=True):
                assert x.dtype == y.dtype and x.tobytes() == y.tobytes()
        texts = [answer_text(core, q, int(a)) for (q, _), a in zip(episodes, answers, strict=True)]
        assert texts == [info["answer"] for info in finals]
        assert tokens.tolist() == [info["tokens"] for info in finals]
