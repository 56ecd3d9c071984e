"""One observation space per configuration: on any store, however many distinct answers its
branches reveal, every observation lies in the space the env's arguments fix, and equal
`answer_id`s mean equal answers (a property test over synthetic stores)."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.episodes import random_masked_action
from tts_gym import TTSControlEnv, TTSControlVectorEnv
from tts_gym.env.spaces import observation_space
from tts_gym.store.synthetic import generate_store


def many_answers_store(seed: int, vocabulary: int, n_branches: int | tuple[int, int]) -> list[dict]:
    """A synthetic store whose every probe and final answer is redrawn from `vocabulary`
    strings: an episode meets far more distinct answers than it has slots."""
    rng = np.random.default_rng(seed)
    store = generate_store(2, n_branches, seed=seed, tokens=(500, 30_000))
    for question in store:
        for branch in question["each_branch"]:
            branch[0] = [f"a{rng.integers(vocabulary)}" for _ in branch[0]]
            branch[2] = f"a{rng.integers(vocabulary)}"
        question["final_answers_trace"] = [branch[2] for branch in question["each_branch"]]
        question["gold_answer"] = question["each_branch"][0][2]
    return store


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 10_000),
    vocabulary=st.integers(2, 5_000),
    n_branches=st.integers(1, 40),
    max_branches=st.integers(1, 12),
    engine=st.sampled_from(["compiled", "python"]),
)
def test_every_observation_lies_in_the_space_the_arguments_fix(
    tmp_path_factory, seed, vocabulary, n_branches, max_branches, engine
):
    path = tmp_path_factory.mktemp("answers") / "store.json"
    path.write_text(json.dumps(many_answers_store(seed, vocabulary, (1, n_branches))))
    env = TTSControlEnv(stores=[str(path)], max_branches=max_branches, engine=engine)
    space = observation_space(max_branches)
    assert env.observation_space == space
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    seen: set[str] = set()
    for _ in range(400):
        assert obs in space
        episode = env.episode
        shown = [episode.answer_text(a) for a in episode.revealed]
        seen.update(a for a in shown if a is not None)
        ids = obs["answer_id"][: episode.n_opened]
        for i, a in enumerate(shown):
            assert (ids[i] < 0) == (a is None)
            for j, b in enumerate(shown):
                if a is not None and b is not None:
                    assert (ids[i] == ids[j]) == (a == b)
        if (ids >= 0).any():  # ranks: 0..k-1 over the k distinct answers shown
            assert set(ids[ids >= 0].tolist()) == set(range(len(set(shown) - {None})))
        action = random_masked_action(info["action_mask"], rng, max_branches, stop_weight=0.01)
        obs, _, terminated, _, info = env.step(action)
        if terminated:
            assert obs in space
            obs, info = env.reset()
    vector = TTSControlVectorEnv(3, stores=[str(path)], max_branches=max_branches)
    assert vector.single_observation_space == space


def test_an_episode_may_see_more_answers_than_slots(tmp_path):
    """The case the bound is about: 4 slots, a dozen distinct answers revealed in one episode."""
    path = tmp_path / "store.json"
    path.write_text(json.dumps(many_answers_store(3, 10_000, 4)))  # 4 branches, many probes
    env = TTSControlEnv(stores=[str(path)], max_branches=4)
    obs, info = env.reset(options={"question": 0})
    seen = set()
    while info["action_mask"][0] and len(seen) < 12:
        legal = np.flatnonzero(info["action_mask"][1:19]) + 1  # BRANCH, READ, CONTINUE(i)...
        if not legal.size:
            break
        obs, _, terminated, _, info = env.step(int(legal[0]))
        seen.update(a for a in map(env.episode.answer_text, env.episode.revealed) if a)
        assert obs in env.observation_space and obs["answer_id"].max() <= 3
        if terminated:
            break
    assert len(seen) > 4
