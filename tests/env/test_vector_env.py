"""TTSControlVectorEnv: a Gymnasium-style vector check (spaces, batch shapes, autoreset,
seeding), `gym.make_vec` both ways, pinned episodes, refusals, copies and pickling."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.vector.utils import batch_space

from tests.support.episodes import random_masked_action, write_edge_stores
from tts_gym import ENV_ID, ActionKind, TTSControlVectorEnv, encode_action
from tts_gym.env import EnvArgumentError
from tts_gym.errors import IllegalActionError

KEYS = {"action_mask", "tokens", "seq_tokens", "step_cost", "slot", "revealed", "finished"}
END_KEYS = {"answer", "correct", "is_success", "stop_reason"}


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> list[str]:
    return list(write_edge_stores(tmp_path_factory.mktemp("edge")).values())


def make(stores: list[str], n: int = 6, **kwargs) -> TTSControlVectorEnv:
    return gym.make_vec(
        ENV_ID, num_envs=n, vectorization_mode="vector_entry_point", stores=stores, **kwargs
    )


def legal_actions(envs, info: dict, rng: np.random.Generator) -> np.ndarray:
    m = envs.single_observation_space["slots"].shape[0]  # max_branches
    return np.array([random_masked_action(mask, rng, m) for mask in info["action_mask"]])


def test_make_vec_both_ways(stores):
    kwargs = dict(stores=stores, max_branches=8, token_penalty=0.3, budget=50_000)
    vector = gym.make_vec(ENV_ID, num_envs=3, vectorization_mode="vector_entry_point", **kwargs)
    default = gym.make_vec(ENV_ID, num_envs=3, **kwargs)
    sync = gym.make_vec(ENV_ID, num_envs=3, vectorization_mode="sync", **kwargs)
    assert isinstance(vector, TTSControlVectorEnv) and isinstance(default, TTSControlVectorEnv)
    assert isinstance(sync, SyncVectorEnv)
    assert (vector.token_penalty, vector.budget, vector.max_branches) == (0.3, 50_000, 8)
    assert vector.single_observation_space == sync.single_observation_space
    assert vector.single_action_space.n == sync.single_action_space.n
    assert vector.observation_space == sync.observation_space
    assert vector.metadata["autoreset_mode"] == sync.metadata["autoreset_mode"]
    rng = np.random.default_rng(0)
    for envs in (vector, sync):
        obs, info = envs.reset(seed=1)
        assert obs in envs.observation_space
        assert set(info) == KEYS | {f"_{k}" for k in KEYS}
        ended = False
        for _ in range(60):
            obs, rewards, terminated, truncated, info = envs.step(legal_actions(envs, info, rng))
            assert obs in envs.observation_space and rewards.dtype == np.float64
            assert terminated.dtype == truncated.dtype == np.bool_
            ended |= terminated.any()
            if terminated.any():
                assert set(info) >= END_KEYS
        assert ended
        envs.close()


def test_vector_check(stores):
    """Spaces, batch shapes and dtypes, masked sampling, and next-step autoreset."""
    n = 6
    envs = make(stores, n, max_branches=5)
    a = envs.single_action_space.n
    assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert envs.observation_space == batch_space(envs.single_observation_space, n)
    assert envs.action_space.shape == (n,) and (envs.action_space.nvec == a).all()
    obs, info = envs.reset(seed=0)
    assert obs in envs.observation_space
    assert obs["slots"].shape == (n, 5, 13) and obs["slots"].dtype == np.float32
    assert info["action_mask"].shape == (n, a) and info["action_mask"].dtype == np.int8
    np.testing.assert_array_equal(envs.action_masks(), info["action_mask"].astype(bool))
    envs.action_space.seed(0)
    ended = np.zeros(n, dtype=bool)
    autoresets = episodes = 0
    illegal = encode_action(ActionKind.CONTINUE, 4, 5)
    for _ in range(400):
        actions = envs.action_space.sample(mask=tuple(info["action_mask"]))
        running = ~ended
        assert info["action_mask"][running, actions[running]].all()  # the masked draw is legal
        actions[ended] = illegal  # ignored: these sub-envs start a new episode
        obs, rewards, terminated, truncated, info = envs.step(actions)
        assert obs in envs.observation_space and not truncated.any()
        assert rewards.shape == terminated.shape == (n,)
        # the sub-envs that ended last step start anew: reward 0, fresh state
        assert (rewards[ended] == 0).all() and not terminated[ended].any()
        assert (info["tokens"][ended] == 0).all() and (info["slot"][ended] == -1).all()
        assert (obs["slots"][ended] == 0).all() and (obs["answer_id"][ended] == -1).all()
        autoresets += ended.sum()
        if terminated.any():
            episodes += terminated.sum()
            assert (info["_answer"] == terminated).all() and (info["_correct"] == terminated).all()
            for i in np.flatnonzero(terminated):
                assert info["stop_reason"][i] in ("answer", "submit")
                assert info["answer"][i] is None or isinstance(info["answer"][i], str)
                assert info["correct"][i] == (
                    info["answer"][i] is not None
                    and info["answer"][i] == envs.unwrapped.episode(i).question.gold
                )
        ended = terminated
    assert episodes > 100 and autoresets > 100


def trajectory(envs, seed, steps: int = 150) -> list:
    rng = np.random.default_rng(0)
    obs, info = envs.reset(seed=seed)
    record = [obs["slots"].copy(), info["tokens"].copy()]
    for _ in range(steps):
        obs, rewards, terminated, _, info = envs.step(legal_actions(envs, info, rng))
        record += [obs["slots"].copy(), obs["globals"].copy(), rewards, terminated]
    return record


def test_seeding_is_reproducible(stores):
    envs = make(stores, 5, max_branches=6)
    first = trajectory(envs, seed=3)
    again = trajectory(make(stores, 5, max_branches=6), seed=3)
    other = trajectory(envs, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(first, other, strict=True))
    by_list = trajectory(envs, seed=[1, 2, 3, 4, 5])
    assert all(
        np.array_equal(x, y)
        for x, y in zip(by_list, trajectory(envs, seed=[1, 2, 3, 4, 5]), strict=True)
    )
    with pytest.raises(EnvArgumentError, match="one seed per sub-env"):
        envs.reset(seed=[1, 2])


def test_sub_envs_draw_their_own_streams(stores):
    """A sub-env's episodes depend on its seed stream only, not on the other sub-envs."""
    envs = make(stores, 3, max_branches=4)
    envs.reset(seed=[7, 8, 9])
    first = [envs.unwrapped.episode(i).question.index for i in range(3)]
    envs.reset(seed=[7, 5, 6])
    assert envs.unwrapped.episode(0).question.index == first[0]


def test_pinned_episodes(stores):
    envs = make(stores, 3, max_branches=4).unwrapped
    store = envs.stores[1]
    _, info = envs.reset(
        options={
            "store": [1, store.name, None],
            "question": [0, 1, None],
            "order": [[2, 0], None, None],
        }
    )
    views = [envs.episode(i) for i in range(3)]
    assert (views[0].store_index, views[0].question.index, views[0].n_unopened) == (1, 0, 2)
    assert (views[1].store_index, views[1].question.index) == (1, 1)
    assert views[1].n_unopened == store.questions[1].n_branches
    envs.step(np.full(3, int(ActionKind.BRANCH)))
    assert views[0].branch == [2]
    bad = [
        ({"question": [0, 0]}, "one entry per sub-env"),
        ({"question": [0, 0, 99]}, r"options\['question'\]\[2\] = 99 is outside"),
        ({"store": [0, None, None]}, r"options\['store'\]\[0\] needs options\['question'\]"),
        ({"question": [0, 0, 0], "order": [[0, 0], None, None]}, "distinct branch indices"),
        ({"question": [0, 0, 0], "store": [0, "nope", 0]}, "not one of this env's stores"),
        ({"episode": [0, 0, 0]}, "unknown reset options"),
    ]
    for options, message in bad:
        with pytest.raises(EnvArgumentError, match=message):
            envs.reset(options=options)


def test_refusals_name_the_sub_env_and_change_nothing(stores):
    envs = make(stores, 3, max_branches=4, illegal_actions="raise")
    obs, info = envs.reset(seed=0)
    before = [envs.unwrapped.batch.episodes.copy(), obs["slots"].copy()]
    actions = np.zeros(3, dtype=np.int64)
    actions[1] = encode_action(ActionKind.PRUNE, 2, 4)
    with pytest.raises(IllegalActionError, match=r"sub-env 1: PRUNE\(2\) is masked: slot 2"):
        envs.step(actions)
    with pytest.raises(IllegalActionError, match="sub-env 2: action 99 is outside"):
        envs.step(np.array([0, 0, 99]))
    np.testing.assert_array_equal(envs.unwrapped.batch.episodes, before[0])
    np.testing.assert_array_equal(envs.unwrapped.envs.slots, before[1])
    with pytest.raises(IllegalActionError, match="sub-env 0: action -1 is outside"):
        envs.step(np.array([-1, 0, 0]))
    with pytest.raises(TypeError, match="actions are integers"):
        envs.step(np.array([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match="actions are integers"):
        envs.step(["0", "1", "2"])
    with pytest.raises(EnvArgumentError, match=r"shape \(3,\)"):
        envs.step(np.zeros(4, dtype=np.int64))


def test_bad_vector_arguments(stores):
    with pytest.raises(EnvArgumentError, match="compiled core"):
        make(stores, 2, engine="python")
    with pytest.raises(EnvArgumentError, match="num_envs"):
        TTSControlVectorEnv(num_envs=0, stores=stores)
    with pytest.raises(EnvArgumentError, match="max_branches must be an integer"):
        make(stores, 2, max_branches=2.5)
    with pytest.raises(RuntimeError, match="reset"):
        make(stores, 2).step(np.zeros(2, dtype=np.int64))


def test_copy_false_returns_the_buffers(stores):
    copied, shared = make(stores, 2, max_branches=4), make(stores, 2, max_branches=4, copy=False)
    (obs1, _), (obs2, info2) = copied.reset(seed=0), shared.reset(seed=0)
    step = np.full(2, int(ActionKind.BRANCH))
    next1, *_ = copied.step(step)
    next2, *_, next_info2 = shared.step(step)
    assert next2["slots"] is obs2["slots"] and next_info2["action_mask"] is info2["action_mask"]
    assert next1["slots"] is not obs1["slots"] and not np.array_equal(next1["slots"], obs1["slots"])
    np.testing.assert_array_equal(next1["slots"], next2["slots"])


def test_pickled_vector_env_continues_identically(stores):
    envs = make(stores, 4, max_branches=6).unwrapped
    rng = np.random.default_rng(0)
    _, info = envs.reset(seed=5)
    for _ in range(10):
        _, _, _, _, info = envs.step(legal_actions(envs, info, rng))
    clone = pickle.loads(pickle.dumps(envs))
    for _ in range(40):
        actions = legal_actions(envs, info, rng)
        first = envs.step(actions)
        second = clone.step(actions)
        info = first[-1]
        for key in first[0]:
            np.testing.assert_array_equal(first[0][key], second[0][key])
        np.testing.assert_array_equal(first[1], second[1])
        np.testing.assert_array_equal(first[4]["action_mask"], second[4]["action_mask"])


def test_ignored_actions_leave_their_sub_env_alone(stores):
    """illegal_actions="ignore" (the default): a masked action does nothing in its sub-env,
    `info["illegal"]` names it, and the other sub-envs step."""
    envs = make(stores, 3, max_branches=4)
    obs, info = envs.reset(seed=0)
    actions = np.full(3, int(ActionKind.BRANCH))
    actions[1] = encode_action(ActionKind.PRUNE, 2, 4)
    after, rewards, terminated, _, info = envs.step(actions)
    assert info["illegal"].tolist() == [False, True, False] and info["_illegal"][1]
    assert rewards[1] == 0.0 and info["step_cost"][1] == 0 and info["slot"][1] == -1
    np.testing.assert_array_equal(after["slots"][1], obs["slots"][1])
    assert (info["slot"][[0, 2]] == 0).all()
    _, _, _, _, info = envs.step(np.full(3, int(ActionKind.ANSWER)))
    assert "illegal" not in info


@pytest.mark.parametrize("mode", ["sync", "vector_entry_point"])
def test_get_action_masks_reads_every_vector_form(stores, mode):
    """sb3-contrib's `get_action_masks` on what `gym.make_vec` returns: the compiled vector
    env answers it; Gymnasium's `SyncVectorEnv` has no `get_wrapper_attr`, so its masks are
    `info["action_mask"]` (or `envs.call("action_masks")`)."""
    from sb3_contrib.common.maskable.utils import get_action_masks

    envs = gym.make_vec(ENV_ID, num_envs=3, vectorization_mode=mode, stores=stores, max_branches=4)
    _, info = envs.reset(seed=0)
    expected = info["action_mask"].astype(bool)
    if mode == "sync":
        np.testing.assert_array_equal(np.stack(envs.call("action_masks")), expected)
    else:
        np.testing.assert_array_equal(get_action_masks(envs), expected)
        np.testing.assert_array_equal(envs.action_masks(), expected)
