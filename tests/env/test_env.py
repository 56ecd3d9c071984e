"""TTSControl-v0's replay: the cost model against the raw JSON, masks, refusals, options and the
observation (the checks every registered id passes: test_registered.py; arguments:
test_arguments.py)."""

from __future__ import annotations

import copy
import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils import seeding
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import tts_gym
from tests.support.episodes import random_masked_action as random_action
from tests.support.episodes import write_edge_stores
from tts_gym import ActionKind, TTSControlEnv, decode_action, encode_action
from tts_gym.engine.actions import BATCH_KINDS, BATCH_WIDTHS
from tts_gym.engine.core.random import keyed_order, order_key
from tts_gym.env.observation import GLOBAL_FEATURES, SLOT_FEATURES
from tts_gym.errors import IllegalActionError
from tts_gym.store import CATALOG

AUTOTTS = sorted(CATALOG)
SLOT = {name: i for i, name in enumerate(SLOT_FEATURES)}
GLOBAL = {name: i for i, name in enumerate(GLOBAL_FEATURES)}
ENV_IDS = [k for k in gym.registry if k.startswith("TTSControl")]
ENGINES = ["compiled", "python"]


@pytest.fixture(scope="module")
def edge_stores(tmp_path_factory) -> dict[str, str]:
    return write_edge_stores(tmp_path_factory.mktemp("synthetic"))


def random_masked_action(info: dict, rng: np.random.Generator, stop_weight: float = 0.02) -> int:
    """A random legal action of a 64-slot env; ANSWER and SUBMIT are rare so episodes run long."""
    return random_action(info["action_mask"], rng, 64, stop_weight)


# ---- Gymnasium conventions --------------------------------------------------------------------
@pytest.mark.real_stores
def test_registered_on_import():
    assert tts_gym.ENV_ID in gym.registry
    env = gym.make("TTSControl-v0")
    assert isinstance(env.unwrapped, TTSControlEnv)
    assert env.unwrapped.stores[0].name == "autotts/qwen3-0.6b/aime24"  # default: search stores
    assert {s.role for s in env.unwrapped.stores} == {"search"}


@pytest.mark.real_stores
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("store", ["autotts/qwen3-8b/aime24", "autotts/qwen3-0.6b/hmmt25"])
def test_check_env_real_stores(store):
    env = gym.make("TTSControl-v0", stores=[store])
    check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.real_stores
def test_masked_sample_is_legal(engine):
    """The space is static; `sample(mask=info["action_mask"])` draws legal actions."""
    env = TTSControlEnv(stores=["autotts/qwen3-8b/aime24"], engine=engine, illegal_actions="raise")
    _, info = env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(200):
        action = env.action_space.sample(mask=info["action_mask"])
        assert env.action_masks()[action]
        _, _, terminated, _, info = env.step(action)
        if terminated:
            _, info = env.reset()


@pytest.mark.parametrize("engine", ENGINES)
def test_an_ignored_action_changes_nothing(edge_stores, engine):
    """illegal_actions="ignore" (the default): a masked action is a step that does nothing."""
    env = TTSControlEnv(stores=[edge_stores["mixed"]], max_branches=8, engine=engine)
    obs, info = env.reset(seed=3)
    branch = encode_action(ActionKind.BRANCH, 0, 8)
    obs, _, _, _, info = env.step(branch)
    tokens, seq_tokens = info["tokens"], info["seq_tokens"]
    again, reward, terminated, truncated, info = env.step(encode_action(ActionKind.CONTINUE, 5, 8))
    assert info["illegal"] and reward == 0.0 and not terminated and not truncated
    assert all(np.array_equal(obs[key], again[key]) for key in obs)
    assert (info["step_cost"], info["slot"], info["revealed"]) == (0, -1, None)
    assert (info["tokens"], info["seq_tokens"]) == (tokens, seq_tokens)
    _, _, _, _, info = env.step(encode_action(ActionKind.CONTINUE, 0, 8))
    assert "illegal" not in info


# ---- the replay, checked against the raw JSON --------------------------------------------------
class ShadowModel:
    """BASELINES.md section 1 and LATENCY.md's waves (no width cap, write-ups running on past
    their wave: docs/env.md) re-derived from the raw JSON, independent of the engine."""

    def __init__(self, raw_question: dict, order: list[int], max_branches: int):
        self.branches = raw_question["each_branch"]
        self.interval = raw_question["probe_freq"]
        self.order, self.max_branches = order, max_branches
        self.slots: list[dict] = []
        self.tokens = 0
        self.clock = 0  # the waves one after another
        self.writeup_end = 0  # when the last write-up ends

    @property
    def seq_tokens(self) -> int:
        return max(self.clock, self.writeup_end)

    def expected_mask(self, n_actions: int) -> np.ndarray:
        mask = np.zeros(n_actions, dtype=np.int8)
        mask[ActionKind.ANSWER] = 1
        room = min(len(self.order), self.max_branches) - len(self.slots)
        mask[ActionKind.BRANCH] = mask[ActionKind.READ] = room >= 1
        for k in BATCH_WIDTHS:
            mask[encode_action(ActionKind.OPEN_MANY, k, self.max_branches)] = room >= k
            mask[encode_action(ActionKind.READ_MANY, k, self.max_branches)] = room >= k
        for i, s in enumerate(self.slots):
            alive = not (s["finished"] or s["pruned"])
            mask[encode_action(ActionKind.CONTINUE, i, self.max_branches)] = alive
            mask[encode_action(ActionKind.PRUNE, i, self.max_branches)] = alive
            mask[encode_action(ActionKind.SUBMIT, i, self.max_branches)] = s["answer"] is not None
            if alive:
                mask[encode_action(ActionKind.ADVANCE_ALL, 0, self.max_branches)] = 1
        return mask

    def apply_batch(self, kind: ActionKind, k: int) -> int:
        """A batch action, one wave (each branch in it once): returns its total cost. The wave
        lasts its longest segment that is not a write-up; write-ups end after it started."""
        if kind is ActionKind.ADVANCE_ALL:
            alive = [i for i, s in enumerate(self.slots) if not (s["finished"] or s["pruned"])]
            segments = [self.segment(ActionKind.CONTINUE, i) for i in alive]
        else:
            single = ActionKind.BRANCH if kind is ActionKind.OPEN_MANY else ActionKind.READ
            segments = [self.segment(single, 0) for _ in range(k)]
        for _, cost, writeup in segments:
            if writeup:
                self.writeup_end = max(self.writeup_end, self.clock + cost)
        self.clock += max((cost for _, cost, writeup in segments if not writeup), default=0)
        return sum(cost for _, cost, _ in segments)

    def explore(self, slot: int) -> tuple[str, int, bool]:
        """(answer, cost, whether the cost is the branch's write-up: its end, after a last
        probe that gave its final answer)."""
        s = self.slots[slot]
        probes, length, final = self.branches[s["branch"]]
        writeup = False
        if s["depth"] < len(probes):
            answer, cost = probes[s["depth"]], self.interval
            s["depth"] += 1
        else:
            answer, cost = final, max(0, length - s["charged"])
            s["finished"] = True
            writeup = len(probes) > 0 and probes[-1] == final
        s["charged"] += cost
        s["answer"] = answer
        return answer, cost, writeup

    def segment(self, kind: ActionKind, slot: int) -> tuple[str | None, int, bool]:
        """Apply one action: (answer revealed, cost, write-up); the caller times it."""
        if kind in (ActionKind.BRANCH, ActionKind.READ):
            branch = self.order[len(self.slots)]
            self.slots.append(
                dict(branch=branch, depth=0, charged=0, finished=False, pruned=False, answer=None)
            )
            slot = len(self.slots) - 1
            if kind is ActionKind.READ:
                probes, length, final = self.branches[branch]
                self.slots[slot].update(finished=True, charged=length, answer=final)
                self.tokens += length
                return final, length, False
        if kind in (ActionKind.BRANCH, ActionKind.CONTINUE):
            answer, cost, writeup = self.explore(slot)
            self.tokens += cost
            return answer, cost, writeup
        if kind is ActionKind.PRUNE:
            self.slots[slot]["pruned"] = True
        return None, 0, False

    def apply(self, kind: ActionKind, slot: int) -> tuple[str | None, int]:
        """A single action, a wave of its own (a write-up takes no time in it)."""
        answer, cost, writeup = self.segment(kind, slot)
        if writeup:
            self.writeup_end = max(self.writeup_end, self.clock + cost)
        else:
            self.clock += cost
        return answer, cost


def follows_the_cost_model(store: str, shared_replay, engine: str, episodes: int) -> None:
    """Random masked episodes (single and batch actions) against the shadow model: masks,
    charges, sequential tokens, revealed answers, and returns with both penalties."""
    entry = CATALOG[store]
    raw = json.loads((shared_replay / entry.relative_path).read_text())
    env = TTSControlEnv(
        stores=[store], token_penalty=0.7, latency_penalty=1.3, engine=engine,
        illegal_actions="raise",
    )  # fmt: skip
    rng = np.random.default_rng(AUTOTTS.index(store))
    n_actions = env.action_space.n
    for episode in range(episodes):
        q = int(rng.integers(len(raw)))
        order = rng.permutation(128).tolist()
        _, info = env.reset(options={"question": q, "order": order})
        shadow = ShadowModel(raw[q], order, env.max_branches)
        total_reward, terminated = 0.0, False
        while not terminated:
            np.testing.assert_array_equal(info["action_mask"], shadow.expected_mask(n_actions))
            masked = np.flatnonzero(info["action_mask"] == 0)
            if episode % 10 == 0 and len(masked):  # a masked action is refused, state untouched
                with pytest.raises(ValueError):
                    env.step(int(rng.choice(masked)))
            action = random_masked_action(info, rng, stop_weight=0.05)
            kind, slot = decode_action(action)
            if kind is ActionKind.SUBMIT:
                expected_answer = shadow.slots[slot]["answer"]
            if kind in BATCH_KINDS:
                revealed, cost = None, shadow.apply_batch(kind, slot)
            else:
                revealed, cost = shadow.apply(kind, slot)
            _, reward, terminated, truncated, info = env.step(action)
            total_reward += reward
            assert not truncated
            assert info["step_cost"] == cost and info["tokens"] == shadow.tokens
            assert info["seq_tokens"] == shadow.seq_tokens
            if kind in (ActionKind.BRANCH, ActionKind.READ, ActionKind.CONTINUE, *BATCH_KINDS):
                assert info["revealed"] == revealed
        if kind is ActionKind.SUBMIT:
            assert info["answer"] == expected_answer
        assert info["correct"] == (info["answer"] == raw[q]["gold_answer"])
        expected_return = (
            float(info["correct"]) - 0.7 * shadow.tokens / 1e6 - 1.3 * shadow.seq_tokens / 1e6
        )
        assert total_reward == pytest.approx(expected_return, abs=1e-9)


@pytest.mark.parametrize("store", AUTOTTS)
def test_random_masked_episodes_follow_the_cost_model(store, shared_replay):
    # the python engine equals the compiled one (test_equivalence.py); both run in `slow`
    follows_the_cost_model(store, shared_replay, "compiled", episodes=100)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("store", AUTOTTS)
def test_many_random_masked_episodes_follow_the_cost_model(store, engine, shared_replay):
    follows_the_cost_model(store, shared_replay, engine, episodes=1000)


@pytest.mark.parametrize("engine", ENGINES)
def test_hand_checked_episode(shared_replay, engine):
    """Qwen3-8B aime24, question 0, branches in stored order: every answer and charge by hand."""
    raw = json.loads((shared_replay / "autotts/Qwen3-8B/aime24.json").read_text())[0]
    probes0, tokens0, final0 = raw["each_branch"][0]
    probes1, tokens1, final1 = raw["each_branch"][1]
    assert (len(probes0), tokens0, final0) == (8, 3856, "204")  # the data this test spells out
    env = TTSControlEnv(stores=["autotts/qwen3-8b/aime24"], engine=engine)
    env.reset(options={"question": 0, "order": list(range(128))})

    _, reward, _, _, info = env.step(encode_action(ActionKind.BRANCH))
    assert (info["slot"], info["revealed"], info["step_cost"]) == (0, "150", 500)
    assert reward == pytest.approx(-0.5 * 500 / 1e6)
    for k in range(1, 8):
        _, _, _, _, info = env.step(encode_action(ActionKind.CONTINUE, 0))
        assert (info["revealed"], info["step_cost"], info["finished"]) == (probes0[k], 500, False)
    assert info["tokens"] == 8 * 500
    # one more advance ends the branch: its final answer, charged max(0, 3856 - 4000) = 0
    _, _, _, _, info = env.step(encode_action(ActionKind.CONTINUE, 0))
    assert (info["revealed"], info["step_cost"], info["finished"]) == ("204", 0, True)
    assert not env.action_masks()[encode_action(ActionKind.CONTINUE, 0)]

    _, _, _, _, info = env.step(encode_action(ActionKind.READ))
    assert (info["slot"], info["revealed"], info["step_cost"]) == (1, final1, tokens1)
    _, reward, terminated, _, info = env.step(encode_action(ActionKind.SUBMIT, 0))
    assert (
        terminated and info["answer"] == "204" and info["correct"] == (raw["gold_answer"] == "204")
    )
    assert info["tokens"] == 4000 + tokens1
    assert info["stop_reason"] == "submit"


@pytest.mark.parametrize("engine", ENGINES)
# ---- masks, errors and options -------------------------------------------------------------
@pytest.mark.real_stores
def test_masked_action_raises_value_error_saying_why(engine):
    env = TTSControlEnv(stores=["autotts/qwen3-8b/aime24"], engine=engine, illegal_actions="raise")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"CONTINUE\(3\) is masked: slot 3 is not open"):
        env.step(encode_action(ActionKind.CONTINUE, 3))
    with pytest.raises(IllegalActionError, match="SUBMIT"):
        env.step(encode_action(ActionKind.SUBMIT, 0))
    env.step(encode_action(ActionKind.READ))
    with pytest.raises(ValueError, match="finished"):
        env.step(encode_action(ActionKind.PRUNE, 0))
    with pytest.raises(ValueError, match="outside"):
        env.step(10_000)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.real_stores
def test_max_branches_limits_slots(engine):
    env = TTSControlEnv(
        stores=["autotts/qwen3-8b/aime24"], max_branches=2, engine=engine, illegal_actions="raise"
    )
    env.reset(seed=0)
    env.step(encode_action(ActionKind.BRANCH, 0, 2))
    env.step(encode_action(ActionKind.BRANCH, 0, 2))
    assert not env.action_masks()[ActionKind.BRANCH]
    with pytest.raises(ValueError, match="all 2 slots are in use"):
        env.step(encode_action(ActionKind.READ, 0, 2))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.real_stores
def test_budget_leaves_only_answers(engine):
    env = TTSControlEnv(
        stores=["autotts/qwen3-8b/aime24"], budget=1000, engine=engine, illegal_actions="raise"
    )
    env.reset(seed=0)
    env.step(encode_action(ActionKind.BRANCH))
    env.step(encode_action(ActionKind.CONTINUE, 0))
    kinds = {decode_action(a)[0] for a in np.flatnonzero(env.action_masks())}
    assert kinds <= {ActionKind.ANSWER, ActionKind.SUBMIT, ActionKind.PRUNE}
    with pytest.raises(ValueError, match="budget"):
        env.step(encode_action(ActionKind.CONTINUE, 0))


@pytest.mark.parametrize("engine", ENGINES)
def test_probe_reveals_when_continue_does_not(shared_replay, engine):
    raw = json.loads((shared_replay / "autotts/Qwen3-8B/aime24.json").read_text())[0]
    env = TTSControlEnv(
        stores=["autotts/qwen3-8b/aime24"], reveal_on_continue=False, probe_cost=7, engine=engine
    )
    env.reset(options={"question": 0, "order": list(range(128))})
    _, _, _, _, info = env.step(encode_action(ActionKind.BRANCH))
    assert info["revealed"] is None and not env.action_masks()[encode_action(ActionKind.SUBMIT, 0)]
    _, _, _, _, info = env.step(encode_action(ActionKind.CONTINUE, 0))
    _, _, _, _, info = env.step(encode_action(ActionKind.PROBE, 0))
    assert (info["revealed"], info["step_cost"]) == (raw["each_branch"][0][0][1], 7)
    assert not env.action_masks()[encode_action(ActionKind.PROBE, 0)]  # nothing new to see


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "options, message",
    [
        ({"question": 30}, "outside 0..29"),
        ({"question": 0, "store": 3}, "outside 0..0"),
        ({"question": 0, "store": "nope"}, "not one of"),
        ({"question": 0, "order": [1, 1]}, "distinct"),
        ({"store": 0}, "needs options"),
    ],
)
@pytest.mark.real_stores
def test_bad_reset_options(options, message, engine):
    env = TTSControlEnv(stores=["autotts/qwen3-8b/aime24"], engine=engine)
    with pytest.raises(ValueError, match=message):
        env.reset(options=options)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.real_stores
def test_observation_hides_answers_and_tracks_votes(engine):
    env = TTSControlEnv(stores=["autotts/qwen3-8b/aime24"], engine=engine)
    env.reset(options={"question": 0, "order": list(range(128))})
    for _ in range(3):
        obs, *_ = env.step(encode_action(ActionKind.READ))
    episode = env.episode
    answers = [episode.answer_text(a) for a in episode.revealed]
    # per-episode ids in order of first appearance, never the strings (three READs: every
    # answer revealed so far is still shown, so the ranks are the order of first reveal)
    first_seen = list(dict.fromkeys(answers))
    assert obs["answer_id"][:3].tolist() == [first_seen.index(a) for a in answers]
    assert obs["slots"][:3, SLOT["finished"]].tolist() == [1, 1, 1]
    top = max(answers.count(a) for a in answers)
    assert obs["globals"][GLOBAL["leader_share"]] == pytest.approx(top / 3)
    assert obs["slots"][3:].sum() == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_confidence_enters_the_observation(edge_stores, engine):
    with open(edge_stores["confidence"]) as handle:
        raw = json.load(handle)
    q = next(i for i, item in enumerate(raw) if len(item["each_branch"][0][0]) >= 2)
    env = TTSControlEnv(stores=[edge_stores["confidence"]], max_branches=8, engine=engine)
    env.reset(options={"question": q, "order": list(range(len(raw[q]["each_branch"])))})
    obs, *_ = env.step(encode_action(ActionKind.BRANCH, 0, 8))
    expected = raw[q]["segment_confidence"][0][0]
    assert obs["slots"][0, SLOT["confidence"]] == pytest.approx(expected)
    obs, *_ = env.step(encode_action(ActionKind.CONTINUE, 0, 8))
    assert obs["slots"][0, SLOT["confidence"]] == pytest.approx(raw[q]["segment_confidence"][0][1])


@pytest.mark.real_stores
@pytest.mark.parametrize("engine", ENGINES)
def test_deepcopy_keeps_mask_in_sync(engine):
    env = TTSControlEnv(stores=["autotts/qwen3-8b/aime24"], engine=engine)
    env.reset(seed=0)
    clone = copy.deepcopy(env)
    clone.step(encode_action(ActionKind.BRANCH))
    continue_0 = encode_action(ActionKind.CONTINUE, 0)
    assert clone.action_masks()[continue_0]
    assert not env.action_masks()[continue_0]


# ---- actions ------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ENGINES)
def test_actions_are_integers(edge_stores, engine):
    env = TTSControlEnv(stores=[edge_stores["mixed"]], max_branches=4, engine=engine)
    env.reset(seed=0)
    for bad in (1.7, "1", 1.0, True, None, np.float32(1), [1]):
        with pytest.raises(TypeError, match="an action is an integer"):
            env.step(bad)
    _, _, _, _, info = env.step(np.int8(ActionKind.BRANCH))
    assert info["slot"] == 0
    with pytest.raises(ValueError, match="outside 0..31"):
        env.step(32)
    with pytest.raises(ValueError, match="outside"):
        env.step(-1)
    _, _, terminated, _, _ = env.step(np.array(int(ActionKind.ANSWER)))  # a 0-d integer array
    assert terminated


@pytest.mark.parametrize("engine", ENGINES)
def test_step_before_reset_and_after_the_end(edge_stores, engine):
    env = TTSControlEnv(stores=[edge_stores["mixed"]], max_branches=4, engine=engine)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    env.step(int(ActionKind.ANSWER))
    with pytest.raises(RuntimeError, match="has ended"):
        env.step(int(ActionKind.ANSWER))


@pytest.mark.parametrize("engine", ENGINES)
def test_seeded_draws_are_np_random_s(edge_stores, engine):
    """reset(seed=s) draws the question with `np_random.integers` and the order from
    `order_key(np_random)`, in both engines."""
    env = TTSControlEnv(stores=[edge_stores["mixed"], edge_stores["confidence"]], engine=engine)
    branch = encode_action(ActionKind.BRANCH)
    for seed in range(20):
        rng = seeding.np_random(seed)[0]
        store, question = env.questions[rng.integers(len(env.questions))]
        order = keyed_order(order_key(rng), question.n_branches).tolist()
        env.reset(seed=seed)
        while env.action_masks()[branch]:
            env.step(branch)
        assert (env.store_index, env.episode.question) == (store, question)
        assert env.episode.branch == order
