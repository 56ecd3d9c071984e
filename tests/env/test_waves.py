"""Batch actions in TTSControl-v0: one wave each, its results seen together, latency paid."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.support.episodes import write_edge_stores
from tts_gym import ActionKind, TTSControlEnv, encode_action
from tts_gym.env.reward import step_reward

A = ActionKind
ENGINES = ["compiled", "python"]


@pytest.fixture(scope="module")
def mixed_store(tmp_path_factory) -> str:
    return write_edge_stores(tmp_path_factory.mktemp("edge"))["mixed"]


def single_actions(env: TTSControlEnv, kind: ActionKind, k: int) -> list[int]:
    """The single actions a batch action stands for, in slot order, in the env's state."""
    m, episode = env.max_branches, env.episode
    if kind is A.ADVANCE_ALL:
        states = zip(episode.finished, episode.pruned, strict=True)
        return [encode_action(A.CONTINUE, s, m) for s, (f, p) in enumerate(states) if not f | p]
    return [encode_action(A.BRANCH if kind is A.OPEN_MANY else A.READ, 0, m)] * k


def duration(costs: list[int], max_parallel: int | None) -> int:
    """LATENCY.md: branches that generated tokens, in slot order, `max_parallel` at a time."""
    busy = [c for c in costs if c > 0]
    width = max_parallel or max(1, len(busy))
    return sum(max(busy[i : i + width]) for i in range(0, len(busy), width))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("max_parallel", [None, 3])
def test_a_wave_is_one_step_that_shows_all_its_results(mixed_store, engine, max_parallel):
    """A batch action ends where its single actions, played one step each, end: same
    observation, mask and tokens. But it is one step, whose observation already holds every
    result (no step shows part of them), and its sequential tokens and reward are the wave's
    duration, not the sum."""
    kwargs = dict(
        stores=[mixed_store], max_branches=16, engine=engine, latency_penalty=0.8,
        max_parallel=max_parallel,
    )  # fmt: skip
    batched, stepped = TTSControlEnv(**kwargs), TTSControlEnv(**kwargs)
    plan = [(A.OPEN_MANY, 8), (A.ADVANCE_ALL, 0), (A.ADVANCE_ALL, 0), (A.READ_MANY, 4)]
    waves = 0
    for seed in range(20):
        _, info = batched.reset(seed=seed)
        stepped.reset(seed=seed)
        for kind, k in plan:
            action = encode_action(kind, k, 16)
            if not info["action_mask"][action]:
                break
            seq_before = info["seq_tokens"]
            obs, reward, _, _, info = batched.step(action)
            partial, costs = [], []
            for single in single_actions(stepped, kind, k):
                single_obs, _, _, _, single_info = stepped.step(single)
                partial.append(single_obs)
                costs.append(single_info["step_cost"])
            for key in obs:
                np.testing.assert_array_equal(obs[key], single_obs[key])
            np.testing.assert_array_equal(info["action_mask"], single_info["action_mask"])
            if len(partial) > 1:  # one step earlier, part of the wave was visible
                assert not np.array_equal(partial[-2]["slots"], obs["slots"])
            assert info["tokens"] == single_info["tokens"] == single_info["seq_tokens"]
            assert info["step_cost"] == sum(costs)
            assert info["seq_tokens"] - seq_before == duration(costs, max_parallel)
            assert reward == step_reward(0.5, 0.8, sum(costs), duration(costs, max_parallel))
            waves += 1
    assert waves > 40


@pytest.mark.parametrize("engine", ENGINES)
def test_hand_checked_waves(shared_replay, engine):
    """Qwen3-8B aime24, question 0, stored order: waves, sequential tokens and rewards."""
    raw = json.loads((shared_replay / "autotts/Qwen3-8B/aime24.json").read_text())[0]
    lengths = [tokens for _, tokens, _ in raw["each_branch"]]
    env = TTSControlEnv(
        stores=["autotts/qwen3-8b/aime24"], latency_penalty=2.0, max_parallel=4, engine=engine
    )
    _, info = env.reset(options={"question": 0, "order": list(range(128))})
    assert info["seq_tokens"] == 0
    _, reward, _, _, info = env.step(encode_action(A.OPEN_MANY, 8))
    # eight branches of one interval: two sub-waves of four, 500 tokens each
    assert (info["tokens"], info["seq_tokens"], info["slot"], info["revealed"]) == (
        4000, 1000, -1, None
    )  # fmt: skip
    assert reward == -0.5 * 4000 / 1e6 - 2.0 * 1000 / 1e6
    _, _, _, _, info = env.step(encode_action(A.READ_MANY, 2))  # branches 8 and 9, whole
    assert info["tokens"] == 4000 + lengths[8] + lengths[9] and info["finished"]
    assert info["seq_tokens"] == 1000 + max(lengths[8], lengths[9])
    _, _, _, _, info = env.step(encode_action(A.CONTINUE, 0))  # a wave of its own
    assert info["seq_tokens"] == 1000 + max(lengths[8], lengths[9]) + info["step_cost"]
