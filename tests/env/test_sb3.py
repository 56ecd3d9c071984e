"""`SB3VecEnv`: SB3's `VecEnv` over the compiled vector envs, held to `DummyVecEnv` over
`Monitor`-wrapped single envs (SB3's own path), and trained on by MaskablePPO."""

from __future__ import annotations

import importlib.util
import re
import textwrap

import numpy as np
import pytest
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.evaluation import evaluate_policy
from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.monitor import Monitor

import tts_gym
from tests.support import REPO_ROOT
from tests.support.episodes import write_edge_stores
from tts_gym.env import EnvArgumentError, SB3VecEnv

ENV_IDS = sorted(tts_gym.ENV_IDS)


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> list[str]:
    edge = write_edge_stores(tmp_path_factory.mktemp("sb3"))
    return [edge["mixed"], edge["confidence"]]


def masked_actions(rng: np.random.Generator, masks: np.ndarray) -> np.ndarray:
    return np.array([rng.choice(np.flatnonzero(m)) for m in masks])


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_plays_what_dummy_vec_env_plays(stores, env_id):
    """Same seed, same actions: the same observations, rewards, dones and final infos
    (episode statistics included) as SB3's `make_vec_env` (`DummyVecEnv` of `Monitor`s)."""
    kwargs = {"stores": stores, "max_branches": 8, "token_penalty": 3.0}
    ours = SB3VecEnv(env_id, num_envs=4, **kwargs)
    dummy = make_vec_env(env_id, n_envs=4, env_kwargs=kwargs)
    ours.seed(5)
    dummy.seed(5)
    obs1, obs2 = ours.reset(), dummy.reset()
    rng = np.random.default_rng(0)
    ends = 0
    for step in range(400):
        assert obs1.keys() == obs2.keys() and all(np.array_equal(obs1[k], obs2[k]) for k in obs1)
        masks = get_action_masks(ours)
        assert np.array_equal(masks, get_action_masks(dummy)), step
        actions = masked_actions(rng, masks)
        obs1, r1, d1, infos1 = ours.step(actions)
        obs2, r2, d2, infos2 = dummy.step(actions)
        assert r1.dtype == r2.dtype == np.float32
        assert np.array_equal(r1, r2) and np.array_equal(d1, d2), step
        for i in np.flatnonzero(d1):
            first, second = infos1[i], infos2[i]
            assert first["episode"]["r"] == second["episode"]["r"]
            assert first["episode"]["l"] == second["episode"]["l"]
            for key in ("answer", "correct", "is_success", "tokens", "seq_tokens"):
                assert first[key] == second[key], key
            terminal = first["terminal_observation"]
            assert all(
                np.array_equal(terminal[k], second["terminal_observation"][k]) for k in terminal
            )
            ends += 1
        assert all(info == {} for i, info in enumerate(infos1) if not d1[i])
    assert ends > 30


def test_masks_and_sb3_attributes(stores):
    env = SB3VecEnv("TTSControl-v0", num_envs=3, stores=stores, max_branches=8)
    assert is_masking_supported(env)
    env.reset()
    masks = get_action_masks(env)
    assert masks.shape == (3, env.action_space.n) and masks.dtype == bool
    assert np.array_equal(masks, env.action_masks())
    assert env.env_is_wrapped(Monitor) == [True, True, True]
    assert env.get_attr("max_branches") == [8, 8, 8] and env.render_mode is None
    with pytest.raises(EnvArgumentError, match="share their settings"):
        env.set_attr("token_penalty", 1.0)
    with pytest.raises(AttributeError, match="no method 'render'"):
        env.env_method("render")
    with pytest.raises(EnvArgumentError, match="TTSControl-v0 or TTSControlMacro-v0"):
        SB3VecEnv("CartPole-v1", num_envs=2)


def test_draws_from_a_question_split(stores):
    env = SB3VecEnv("TTSControl-v0", num_envs=4, stores=stores, max_branches=8)
    env.draw_from([(1, 2), (0, 4)])
    env.seed(0)
    env.reset()
    seen = set()
    rng = np.random.default_rng(0)
    for _ in range(300):
        vector = env.vector
        seen.update((v.store_index, v.question.index) for v in map(vector.episode, range(4)))
        env.step(masked_actions(rng, env.action_masks()))
    assert seen == {(1, 2), (0, 4)}


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_maskable_ppo_trains_saves_loads_and_evaluates(stores, env_id, tmp_path):
    train = SB3VecEnv(env_id, num_envs=4, stores=stores[:1], max_branches=8, token_penalty=3.0)
    model = MaskablePPO("MultiInputPolicy", train, n_steps=64, batch_size=64, n_epochs=1, seed=0)
    model.learn(512)
    assert model.num_timesteps >= 512
    model.save(tmp_path / "model.zip")
    other = SB3VecEnv(env_id, num_envs=2, stores=stores[1:], max_branches=8, token_penalty=3.0)
    loaded = MaskablePPO.load(tmp_path / "model.zip", env=other)  # the spaces match
    rewards, lengths = evaluate_policy(
        loaded, other, n_eval_episodes=10, return_episode_rewards=True
    )
    assert len(rewards) == 10 and all(length >= 1 for length in lengths)


# ---- the README's SB3 path ------------------------------------------------------------------
EXAMPLE = REPO_ROOT / "examples" / "sb3_maskable_ppo.py"


def readme_sb3_block() -> str:
    """The README's SB3 code block (under 'The SB3 path')."""
    section = (REPO_ROOT / "README.md").read_text().split("### The SB3 path")[1]
    return re.findall(r"^```python\n(.*?)^```$", section, flags=re.DOTALL | re.MULTILINE)[0]


def test_the_readme_sb3_block_is_the_example():
    block = readme_sb3_block()
    assert block.count("\n") > 10 and textwrap.indent(block, "    ") in EXAMPLE.read_text()


def run_example(*args: str) -> None:
    spec = importlib.util.spec_from_file_location("sb3_maskable_ppo", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    example.main(list(args))


def returns(output: str) -> list[float]:
    return [float(line.split()[-3]) for line in output.splitlines() if "return on" in line]


def test_the_example_runs_on_synthetic_stores(stores, tmp_path, capsys):
    """Train on one store, save, load against an env on another, evaluate there: both ways
    (the same seeds give the same episodes, hence the same model and the same returns)."""
    run_example(
        "--train", stores[0], "--test", stores[1], "--timesteps", "256", "--episodes", "8",
        "--out", str(tmp_path),
    )  # fmt: skip
    found = returns(capsys.readouterr().out)
    assert len(found) == 2 and all(np.isfinite(found)) and found[0] == found[1]
    assert {p.name for p in tmp_path.iterdir()} == {"ppo.zip", "ppo-sb3vecenv.zip"}


@pytest.mark.slow
@pytest.mark.real_stores
def test_the_example_runs_as_written_on_the_real_stores(tmp_path, capsys):
    """The README's command: the search stores for training, a held-out store to evaluate."""
    run_example("--out", str(tmp_path))
    found = returns(capsys.readouterr().out)
    assert len(found) == 2 and all(-1.0 <= r <= 1.0 for r in found)
