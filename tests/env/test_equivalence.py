"""Both compiled envs equal the Python reference (`Episode` + `ObservationBuilder`) bit for bit.

The vector env plays random masked episodes (single and batch actions) with autoresets and
drawn questions and orders; each finished episode is then replayed in `TTSControl-v0` with
`engine="python"`, pinned to the same question and branch order, and every observation,
mask, reward, termination and info (sequential tokens included) must be equal (floats
exactly). The single compiled env and the reference run side by
side from the same seeds. The reference's masks are checked against the rules' statement.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.support.episodes import CONFIGS, random_masked_action, write_edge_stores
from tts_gym import TTSControlEnv
from tts_gym.engine.actions import decode_action, n_actions
from tts_gym.env.vector import TTSControlVectorEnv
from tts_gym.store import CATALOG

AUTOTTS = sorted(CATALOG)
STOP = 0.005  # weight of ANSWER and SUBMIT in the random policy: episodes of ~100 steps


@pytest.fixture(scope="module")
def edge_stores(tmp_path_factory) -> list[str]:
    return list(write_edge_stores(tmp_path_factory.mktemp("edge")).values())


def same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    return type(a) is type(b) and a == b


def assert_same_step(got: tuple, expected: tuple) -> None:
    """(obs, reward, terminated, info) of two envs: equal, floats exactly, same types."""
    obs, reward, terminated, info = got
    ref_obs, ref_reward, ref_terminated, ref_info = expected
    assert obs.keys() == ref_obs.keys() and info.keys() == ref_info.keys()
    assert reward == ref_reward and terminated == ref_terminated
    for key in obs:
        assert same(obs[key], ref_obs[key]), (key, obs[key], ref_obs[key])
    for key in info:
        assert same(info[key], ref_info[key]), (key, info[key], ref_info[key])


def assert_mask_follows_the_rules(env: TTSControlEnv) -> None:
    episode, m = env.episode, env.max_branches
    legal = [a for a in range(n_actions(m)) if episode.why_illegal(*decode_action(a, m)) is None]
    assert np.flatnonzero(env.action_masks()).tolist() == legal


def sub_env(obs: dict, info: dict, i: int) -> tuple[dict, dict]:
    """Sub-env i's observation and info, as the single env gives them."""

    def scalar(value: Any) -> Any:  # numpy scalars as the Python values the single env gives
        return value.item() if isinstance(value, np.generic) else value

    return (
        {key: value[i] for key, value in obs.items()},
        {
            key: scalar(value[i])
            for key, value in info.items()
            if not key.startswith("_") and info[f"_{key}"][i]
        },
    )


def replay(reference: TTSControlEnv, envs: TTSControlVectorEnv, i: int, record: list) -> None:
    """Play sub-env i's finished episode (`record`) again in the reference, pinned."""
    episode = envs.episode(i)
    opened = episode.branch
    rest = sorted(set(range(episode.question.n_branches)) - set(opened))
    start_obs, start_info = record[0]
    obs, info = reference.reset(
        options={
            "store": episode.store_index,
            "question": episode.question.index,
            "order": opened + rest,
        }
    )
    assert_same_step((start_obs, 0.0, False, start_info), (obs, 0.0, False, info))
    for action, *got in record[1:]:
        assert_mask_follows_the_rules(reference)
        obs, reward, terminated, _, info = reference.step(action)
        assert_same_step(tuple(got), (obs, reward, terminated, info))


def check_vector_env(
    stores: list[str], config: dict[str, Any], n_envs: int, episodes: int, seed: int
) -> None:
    envs = TTSControlVectorEnv(num_envs=n_envs, stores=stores, **config)
    reference = TTSControlEnv(stores=stores, engine="python", **config)
    rng = np.random.default_rng(seed)
    m = envs.max_branches
    obs, info = envs.reset(seed=seed)
    records = [[sub_env(obs, info, i)] for i in range(n_envs)]
    ended = np.zeros(n_envs, dtype=bool)
    replayed = 0
    while replayed < episodes:
        actions = np.array(
            [random_masked_action(info["action_mask"][i], rng, m, STOP) for i in range(n_envs)]
        )
        obs, rewards, terminated, truncated, info = envs.step(actions)
        assert not truncated.any()
        for i in range(n_envs):
            obs_i, info_i = sub_env(obs, info, i)
            if ended[i]:  # autoreset: a new episode starts here
                assert rewards[i] == 0.0 and not terminated[i]
                records[i] = [(obs_i, info_i)]
                continue
            records[i].append((int(actions[i]), obs_i, rewards[i], bool(terminated[i]), info_i))
            if terminated[i]:
                replay(reference, envs, i, records[i])
                replayed += 1
        ended = terminated


def check_single_env(stores: list[str], config: dict[str, Any], episodes: int) -> None:
    env = TTSControlEnv(stores=stores, **config)
    reference = TTSControlEnv(stores=stores, engine="python", **config)
    rng = np.random.default_rng(episodes)
    for seed in range(episodes):
        obs, info = env.reset(seed=seed)
        ref_obs, ref_info = reference.reset(seed=seed)
        assert_same_step((obs, 0.0, False, info), (ref_obs, 0.0, False, ref_info))
        terminated = False
        while not terminated:
            assert_mask_follows_the_rules(reference)
            action = random_masked_action(info["action_mask"], rng, env.max_branches, STOP)
            obs, reward, terminated, _, info = env.step(action)
            ref_obs, ref_reward, ref_terminated, _, ref_info = reference.step(action)
            assert_same_step(
                (obs, reward, terminated, info), (ref_obs, ref_reward, ref_terminated, ref_info)
            )


ENV_CONFIGS = [
    config | dict(latency_penalty=penalty)
    for config, penalty in zip(CONFIGS, (0.0, 0.3, 2.5, 1.0), strict=True)
]
"""The engine settings, with latency penalties (the rewards are compared exactly)."""
ALL_CONFIGS = [dict(max_branches=64), *ENV_CONFIGS]


@pytest.mark.parametrize("config", ENV_CONFIGS, ids=str)
def test_vector_env_equals_the_reference_on_edge_stores(edge_stores, config):
    check_vector_env(edge_stores, config, n_envs=8, episodes=60, seed=1)


@pytest.mark.parametrize("config", ENV_CONFIGS, ids=str)
def test_single_env_equals_the_reference_on_edge_stores(edge_stores, config):
    check_single_env(edge_stores, config, episodes=30)


@pytest.mark.real_stores
@pytest.mark.parametrize("store", AUTOTTS)
def test_vector_env_equals_the_reference_on_autotts_stores(store):
    config = ALL_CONFIGS[AUTOTTS.index(store) % len(ALL_CONFIGS)]
    check_vector_env([store], config, n_envs=16, episodes=25, seed=AUTOTTS.index(store))


@pytest.mark.real_stores
def test_single_env_equals_the_reference_on_autotts_stores():
    check_single_env(["search"], dict(max_branches=64), episodes=25)


@pytest.mark.slow
@pytest.mark.parametrize("store", AUTOTTS)
def test_thousands_of_episodes_equal_the_reference(store, shared_replay):
    """750 vector-env and 100 single-env episodes per store, over five settings (with the
    cost-model checks of test_env.py, thousands of episodes per store)."""
    for k, config in enumerate(ALL_CONFIGS):
        check_vector_env([store], config, n_envs=64, episodes=150, seed=k)
        check_single_env([store], config, episodes=20)
