"""`MacroVecEnv`: the SB3 VecEnv `tts-gym train` runs on (spaces, masks, rewards, episode
statistics, seeding, question subsets, the validation cycle, refusals)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("sb3_contrib")

from sb3_contrib.common.maskable.evaluation import evaluate_policy  # noqa: E402
from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported  # noqa: E402
from stable_baselines3.common.monitor import Monitor  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: E402
from tts_gym_agents.rl.split import QuestionSubset  # noqa: E402
from tts_gym_agents.rl.vec_env import MacroVecEnv, macro_vec_env  # noqa: E402

from tts_gym import ENV_ID  # noqa: E402
from tts_gym.env.macro import Macro, MacroEnv  # noqa: E402
from tts_gym.env.macro_core import GLOBAL_QUESTION  # noqa: E402
from tts_gym.errors import IllegalActionError, TTSGymError  # noqa: E402
from tts_gym.store import load_store  # noqa: E402
from tts_gym.store.synthetic import generate_store, write_store  # noqa: E402

PENALTY = 5.0


@pytest.fixture(scope="module")
def store_paths(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Two stores (global question offsets matter)."""
    folder = tmp_path_factory.mktemp("vec")
    return [
        str(write_store(generate_store(10, n, seed=n, solve_rate=(0.3, 0.9)), folder / f"{n}.json"))
        for n in (12, 9)
    ]


@pytest.fixture(scope="module")
def stores(store_paths: list[str]) -> list:
    return [load_store(path) for path in store_paths]


QUESTIONS = [(0, 1), (0, 4), (1, 2), (1, 7)]


def vec(stores, n: int = 4, **kwargs) -> MacroVecEnv:
    settings = {"max_branches": 8, "token_penalty": PENALTY, **kwargs}
    return MacroVecEnv(stores, QUESTIONS, n, **settings)


def random_macros(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A legal macro per env, WIDEN or ADVANCE four times in five."""
    out = []
    for legal in masks:
        choices = np.flatnonzero(legal)
        going = choices[choices >= Macro.WIDEN]
        out.append(rng.choice(going if going.size and rng.random() < 0.8 else choices))
    return np.array(out)


def rollout(env, steps: int, seed: int = 0) -> list:
    """(obs, rewards, dones, infos) of `steps` random legal steps after a reset."""
    rng = np.random.default_rng(seed)
    obs = env.reset()
    trace = [obs]
    for _ in range(steps):
        obs, rewards, dones, infos = env.step(random_macros(get_action_masks(env), rng))
        trace.append((obs, rewards, dones, infos))
    return trace


def test_spaces_masks_rewards_and_episode_statistics(stores) -> None:
    env = macro_vec_env(stores, QUESTIONS, 4, max_branches=8, token_penalty=PENALTY)
    assert env.action_space == gym.spaces.Discrete(len(Macro))
    assert is_masking_supported(env)
    rng = np.random.default_rng(0)
    obs = env.reset()
    returns, ended = np.zeros(4), 0
    for _ in range(400):
        assert all(env.observation_space[key].contains(obs[key][0]) for key in obs)
        masks = get_action_masks(env)
        assert masks.shape == (4, len(Macro)) and masks.dtype == bool and masks.any(axis=1).all()
        previous = obs
        obs, rewards, dones, infos = env.step(random_macros(masks, rng))
        returns += rewards
        for i in np.flatnonzero(dones):
            info = infos[i]
            expected = info["correct"] - PENALTY * info["tokens"] / 1e6
            assert returns[i] == pytest.approx(expected, abs=1e-5)
            assert info["episode"]["r"] == pytest.approx(expected, abs=1e-5)
            assert info["episode"]["l"] >= 1 and info["is_success"] == info["correct"]
            assert (info["answer"] is None) == (info["tokens"] == 0)  # every branch reveals
            for key, value in info["terminal_observation"].items():  # ANSWER and SUBMIT_FINISHED
                assert np.array_equal(value, previous[key][i])  # end episodes, changing nothing
            assert obs["globals"][i][0] == 0.0  # the next episode has opened nothing yet
            returns[i] = 0.0
            ended += 1
        for i in np.flatnonzero(~dones):
            assert infos[i] == {}
    assert ended > 20


def test_episodes_are_drawn_from_the_questions_and_cover_them(stores) -> None:
    env = vec(stores)
    tables = env.core.batch.tables
    wanted = {tables.global_question(s, q) for s, q in QUESTIONS}
    seen = set()
    rng = np.random.default_rng(0)
    env.reset()
    for _ in range(300):
        _, _, dones, _ = env.step(random_macros(env.action_masks(), rng))
        seen.update(env.core.outcome[np.flatnonzero(dones), GLOBAL_QUESTION].tolist())
    assert seen == wanted


def test_seeding_is_per_env(stores) -> None:
    def run(env: MacroVecEnv, n_steps: int = 60) -> list:
        return [step[0]["summary"].tobytes() for step in rollout(env, n_steps)[1:]]

    assert run(vec(stores, seed=3)) == run(vec(stores, seed=3))
    assert run(vec(stores, seed=3)) != run(vec(stores, seed=4))
    env = vec(stores, seed=3)
    env.seed(3)  # SB3's seed(s): env i gets s + i at the next reset, as the constructor did
    assert run(env) == run(vec(stores, seed=3))
    # env i's episodes depend on its seed alone, not on how many envs run beside it
    two, four = vec(stores, 2, seed=7), vec(stores, 4, seed=7)
    for _ in range(3):
        two.reset(), four.reset()
        assert np.array_equal(two.core.batch.episodes[:, 0], four.core.batch.episodes[:2, 0])


class Scripted:
    """A deterministic policy with `predict` as SB3's evaluation calls it: open four branches
    at a time up to half the slots, advance, submit once a finished answer has two votes."""

    def predict(self, obs, state=None, episode_start=None, deterministic=True, action_masks=None):
        macros = []
        for opened, top1, legal in zip(
            obs["globals"][:, 0], obs["summary"][:, 4], action_masks, strict=True
        ):
            wanted = (
                Macro.SUBMIT_FINISHED if top1 >= 2 / 16
                else Macro.WIDEN if opened < 0.5
                else Macro.ADVANCE
            )  # fmt: skip
            macros.append(wanted if legal[wanted] else Macro.ANSWER)
        return np.array(macros), None


def test_validation_cycle_plays_the_fixed_episodes_of_question_subset(stores, store_paths) -> None:
    """SB3's evaluate_policy over 6 envs scores exactly the episodes the single env of
    `QuestionSubset`'s cycle mode plays, and the same ones at every evaluation."""
    orders = 3
    n_episodes = len(QUESTIONS) * orders
    core = macro_vec_env(
        stores, QUESTIONS, 6, max_branches=8, token_penalty=PENALTY, cycle_orders=orders, seed=2
    )

    def reference() -> gym.Env:
        env = gym.make(ENV_ID, stores=store_paths, max_branches=8, token_penalty=PENALTY)
        return Monitor(MacroEnv(QuestionSubset(env, QUESTIONS, cycle_orders=orders, seed=2)))

    python = DummyVecEnv([reference])
    scored = [
        sorted(evaluate_policy(Scripted(), env, n_episodes, return_episode_rewards=True)[0])
        for env in (core, python, core)
    ]
    assert scored[0] == scored[2]
    assert scored[0] == pytest.approx(scored[1], abs=1e-5)
    assert len(set(np.round(scored[0], 6))) > 3  # the episodes differ


def test_refusals_are_one_sentence(stores) -> None:
    env = vec(stores, 2)
    env.reset()
    before = env.core.globals.copy()
    with pytest.raises(IllegalActionError, match=r"^sub-env 0: macro SUBMIT_FINISHED is masked"):
        env.step(np.array([Macro.SUBMIT_FINISHED, Macro.WIDEN]))
    assert np.array_equal(env.core.globals, before)  # nothing moved
    with pytest.raises(TTSGymError, match="cannot share 12 fixed episodes"):
        vec(stores, 13, cycle_orders=3)
    with pytest.raises(TTSGymError, match="question subset is empty"):
        MacroVecEnv(stores, [], 2)
    env.set_options({"question": 1})
    with pytest.raises(TTSGymError, match="takes no reset options"):
        env.reset()
    with pytest.raises(AttributeError, match="no method 'render'"):
        env.env_method("render")
    with pytest.raises(TTSGymError, match="share their settings"):
        env.set_attr("token_penalty", 1.0)
    assert env.get_attr("token_penalty") == [PENALTY, PENALTY]
