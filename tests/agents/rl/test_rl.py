"""RL controllers: macro actions, the held-out guard, training, resume, loading, the example."""

from __future__ import annotations

import importlib.util
import json
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("sb3_contrib")

from tts_gym_agents.rl.config import TrainConfig  # noqa: E402
from tts_gym_agents.rl.policy import load_sb3_policy  # noqa: E402
from tts_gym_agents.rl.split import (  # noqa: E402
    QuestionSubset,
    check_training_stores,
    split_questions,
)
from tts_gym_agents.rl.train import latest_checkpoint, sweep, train  # noqa: E402

from tests.support import REPO_ROOT  # noqa: E402
from tts_gym import ENV_ID  # noqa: E402
from tts_gym.cli import main  # noqa: E402
from tts_gym.control import play as play_store  # noqa: E402
from tts_gym.engine.actions import ActionKind, action_index  # noqa: E402
from tts_gym.env import TTSControlEnv  # noqa: E402
from tts_gym.env.macro import Macro, MacroEnv  # noqa: E402
from tts_gym.errors import TTSGymError  # noqa: E402
from tts_gym.evaluation.protocols import numpy_orders  # noqa: E402
from tts_gym.store import CATALOG, load_store  # noqa: E402
from tts_gym.store.synthetic import generate_store, write_store  # noqa: E402

REPO = REPO_ROOT
# Small and quick: 12 branches of at most 4k tokens, answers that get clearer with votes.
TINY = TrainConfig(
    max_branches=8,
    n_envs=4,
    n_steps=128,
    batch_size=128,
    n_epochs=4,
    folds=4,
    valid_orders=2,
    eval_freq=1024,
    checkpoint_freq=1024,
)


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = generate_store(10, 12, seed=11, solve_rate=(0.3, 0.9), tokens=(1_000, 4_000))
    return write_store(store, tmp_path_factory.mktemp("rl") / "synthetic.json")


# The run that must learn something: tokens priced high enough that reading every branch is
# not the best answer on this small store, and no prior against stopping early.
LEARN = {"timesteps": 4096, "token_penalty": 20.0, "stop_prior": 0.0}


def tiny(store_path: Path, **changes) -> TrainConfig:
    return TINY.replace(stores=(str(store_path),), **changes)


def play(store_path: Path, config: TrainConfig, act=None) -> tuple[float, float]:
    """(accuracy, mean tokens) of `act(obs, info)` (default: random legal single actions, the
    primitives the macros are made of) on the plain env, over every question of the store
    under 4 orders each."""
    env = TTSControlEnv(stores=[str(store_path)], max_branches=config.max_branches)
    env.action_space.seed(0)
    batch_actions = action_index(ActionKind.ADVANCE_ALL, 0, config.max_branches)

    def random_single(obs, info):
        mask = info["action_mask"].copy()
        mask[batch_actions:] = 0
        return env.action_space.sample(mask=mask)

    act = act or random_single
    correct, tokens = [], []
    for q, question in enumerate(env.stores[0].questions):
        for order in numpy_orders(question.n_branches, 4, [7, q]):
            obs, info = env.reset(options={"question": q, "order": order})
            done = False
            while not done:
                obs, _, done, _, info = env.step(act(obs, info))
            correct.append(info["correct"])
            tokens.append(info["tokens"])
    return float(np.mean(correct)), float(np.mean(tokens))


# ---- macros -------------------------------------------------------------------------------
def test_macro_return_is_the_env_reward(store_path: Path) -> None:
    env = MacroEnv(gym.make(ENV_ID, stores=[str(store_path)], max_branches=8, token_penalty=2.0))
    rng = np.random.default_rng(0)
    for episode in range(20):
        env.reset(seed=episode)
        total, done, info = 0.0, False, {}
        while not done:
            legal = np.flatnonzero(env.action_masks())
            going = legal[legal >= Macro.WIDEN]
            macro = rng.choice(going) if going.size and rng.random() < 0.8 else legal[0]
            _, reward, done, _, info = env.step(macro)
            total += reward
        assert total == pytest.approx(info["correct"] - 2.0 * info["tokens"] / 1e6)


def test_advance_stops_when_a_branch_finishes(store_path: Path) -> None:
    env = MacroEnv(gym.make(ENV_ID, stores=[str(store_path)], max_branches=8))
    env.reset(seed=3)
    env.step(Macro.WIDEN)
    env.step(Macro.ADVANCE)
    episode = env.unwrapped.episode
    assert episode.n_opened == 4 and any(episode.finished)
    alive = [d for d, f in zip(episode.depth, episode.finished, strict=True) if not f]
    assert len(set(alive)) <= 1  # lockstep: the alive branches are equally deep


def test_step_policy_and_batched_play_agree(store_path: Path) -> None:
    policy = load_sb3_policy(_trained(store_path, tiny(store_path, **LEARN)))
    store = load_store(store_path)
    orders = lambda q, n: numpy_orders(n, 3, [1, q])  # noqa: E731
    batched = policy.play(store, orders)
    stepped = play_store(policy, store, orders, trace=True)  # traced: `act` step by step
    assert stepped.answers == batched.answers
    assert (stepped.tokens == batched.tokens).all()


# ---- held-out stores are never read -------------------------------------------------------
def test_held_out_stores_are_refused(shared_replay: Path) -> None:
    with pytest.raises(TTSGymError, match="held out"):
        check_training_stores(["search", "autotts/qwen3-8b/aime25"])
    with pytest.raises(TTSGymError, match="held out"):
        check_training_stores(["held-out"])
    path = shared_replay / CATALOG["autotts/qwen3-4b/hmmt25"].relative_path
    with pytest.raises(TTSGymError, match="held-out store 'autotts/qwen3-4b/hmmt25'"):
        check_training_stores([str(path)])


def test_training_and_selection_on_search_read_no_held_out_file(
    shared_replay: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tts_gym.store.replay as replay

    opened: list[Path] = []
    resolve = replay.resolve_store

    def spy(spec, folder=None):
        path, entry = resolve(spec, folder)
        opened.append(path.resolve())
        return path, entry

    monkeypatch.setattr(replay, "resolve_store", spy)
    config = TINY.replace(
        timesteps=128, n_envs=2, n_steps=64, batch_size=64, n_epochs=1, folds=2, valid_orders=1
    )
    # training, validation with CMC's reference, and selection: a cross-validated sweep
    records = sweep(config, [0.05], tmp_path / "sweep", folds=True)
    assert [run["fold"] for run in records[0]["runs"]] == [0, 1]
    held_out = {
        (shared_replay / e.relative_path).resolve()
        for e in CATALOG.values()
        if e.role == "held-out"
    }
    assert opened and not held_out & set(opened)


def test_validation_folds_are_fixed_disjoint_and_cover_every_question(store_path: Path) -> None:
    stores = [load_store(store_path)] * 2
    folds = [split_questions(stores, 4, fold) for fold in range(4)]
    assert folds[1] == split_questions(stores, 4, 1)
    for train_q, valid_q in folds:
        assert not set(train_q) & set(valid_q)
        assert sorted(train_q + valid_q) == [(s, q) for s in range(2) for q in range(10)]
        assert {len([e for e in valid_q if e[0] == s]) for s in range(2)} <= {2, 3}  # per store
    validated = [episode for _, valid_q in folds for episode in valid_q]
    assert sorted(validated) == [(s, q) for s in range(2) for q in range(10)]  # each once
    for fold in (-1, 4):
        with pytest.raises(TTSGymError, match="validation fold"):
            split_questions(stores, 4, fold)
    train_q, valid_q = folds[0]
    first_store = [episode for episode in valid_q if episode[0] == 0]
    env = QuestionSubset(gym.make(ENV_ID, stores=[str(store_path)]), first_store)
    seen = set()
    for seed in range(30):
        env.reset(seed=seed)
        seen.add(env.unwrapped.episode.question.index)
    assert seen == {q for _, q in first_store}


# ---- training -----------------------------------------------------------------------------
_RUNS: dict[tuple, Path] = {}


def _trained(store_path: Path, config: TrainConfig) -> Path:
    """A run of `config` (trained once per test session)."""
    key = (str(store_path), config)
    if key not in _RUNS:
        out = store_path.parent / f"run{len(_RUNS)}"
        train(config, out)
        _RUNS[key] = out
    return _RUNS[key]


def test_short_training_beats_a_random_masked_policy(store_path: Path) -> None:
    config = tiny(store_path, **LEARN)
    out = _trained(store_path, config)
    assert {"config.json", "model.zip", "best_model.zip", "evaluation.json", "record.json"} <= {
        p.name for p in out.iterdir()
    }
    assert list((out / "tb").iterdir())
    record = json.loads((out / "record.json").read_text())
    assert record["timesteps"] == 4096 and "--token-penalty 20" in record["command"]

    policy = load_sb3_policy(out / "model.zip")
    trained_acc, trained_tokens = play(store_path, config, policy.act)
    random_acc, random_tokens = play(store_path, config)
    assert trained_acc / trained_tokens > 1.5 * random_acc / random_tokens  # accuracy per token
    penalty = config.token_penalty / 1e6  # and the trade-off it was trained for
    assert trained_acc - penalty * trained_tokens > random_acc - penalty * random_tokens + 0.2


def test_same_seed_same_model(store_path: Path, tmp_path: Path) -> None:
    """On the core's envs a seed fixes the run: the same weights, validation and evaluation."""
    import torch

    config = tiny(store_path, timesteps=1024)
    records = [train(config, tmp_path / name) for name in ("a", "b")]
    records.append(train(config.replace(seed=1), tmp_path / "c"))
    weights = [load_sb3_policy(tmp_path / name).model.policy.state_dict() for name in "abc"]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])
    assert not all(torch.equal(weights[0][key], weights[2][key]) for key in weights[0])
    assert records[0]["validation"] == records[1]["validation"]
    valid = records[0]["validation"]
    assert 0 < valid["seq_tokens_k"] <= valid["tokens_k"]  # both cost axes are reported
    evaluations = [(tmp_path / name / "evaluation.json").read_text() for name in "ab"]
    assert evaluations[0] == evaluations[1]


def test_the_reference_path_trains_in_worker_processes(store_path: Path, tmp_path: Path) -> None:
    """`--vec-env subproc`: the Python macro envs (MacroEnv over TTSControl-v0) in workers."""
    config = tiny(store_path, vec_env="subproc", timesteps=256, n_envs=2, n_steps=64)
    record = train(config.replace(batch_size=64, eval_freq=128), tmp_path / "run")
    assert record["finished"] and record["timesteps"] == 256
    assert "--vec-env subproc" in record["command"]
    assert load_sb3_policy(tmp_path / "run").model.num_timesteps == 256
    with pytest.raises(TTSGymError, match="unknown vec env 'threads'; use one of core, subproc"):
        config.replace(vec_env="threads")


def test_resume_continues_from_the_last_checkpoint(store_path: Path, tmp_path: Path) -> None:
    config = tiny(store_path, timesteps=1024, checkpoint_freq=512)
    out = tmp_path / "run"
    train(config, out)
    assert latest_checkpoint(out).name == "step_1024.zip"
    with pytest.raises(TTSGymError, match="already has 1024 timesteps"):
        train(config, out, resume=True)
    record = train(config.replace(timesteps=2048), out, resume=True)
    assert record["timesteps"] == 2048
    assert latest_checkpoint(out).name == "step_2048.zip"
    assert load_sb3_policy(out).model.num_timesteps == 2048
    for saved in (out / "model.zip", latest_checkpoint(out)):  # no path of the machine in them
        with zipfile.ZipFile(saved) as archive:
            assert str(tmp_path) not in archive.read("data").decode()
    assert len(list((out / "tb").rglob("events.*"))) == 2  # the resumed run logs there too


def test_sweep_traces_one_run_per_penalty(store_path: Path, tmp_path: Path) -> None:
    config = tiny(store_path, timesteps=512, eval_freq=512, checkpoint_freq=512)
    records = sweep(config, [0.5, 4.0], tmp_path / "sweep")
    assert [r["token_penalty"] for r in records] == [0.5, 4.0]
    assert json.loads((tmp_path / "sweep" / "sweep.json").read_text())[1]["folder"].endswith("g4")
    again = sweep(config, [0.5, 4.0], tmp_path / "sweep", resume=True)  # finished: kept
    assert [r["wall_seconds"] for r in again] == [r["wall_seconds"] for r in records]


# ---- command line -------------------------------------------------------------------------
def test_cli_user_errors_are_one_line(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["train", "--stores", "held-out", "--out", str(tmp_path / "a")]) == 1
    assert "held out" in capsys.readouterr().err
    empty = tmp_path / "b"
    empty.mkdir()
    assert main(["train", "--out", str(empty), "--resume"]) == 1
    err = capsys.readouterr().err
    assert "no config.json" in err and len(err.strip().splitlines()) == 1
    assert main(["train", "--out", str(tmp_path / "c"), "--stores", "nope/x/y"]) == 1
    capsys.readouterr()
    for broken in ('{"seed": 0,', '{"token_penalty": "high"}', "[1]"):
        (empty / "config.json").write_text(broken)
        assert main(["train", "--out", str(empty), "--resume"]) == 1
        err = capsys.readouterr().err
        assert "config.json" in err and len(err.strip().splitlines()) == 1


def test_cli_trains_into_the_default_folder_and_the_harness_evaluates_the_model(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tts_gym.evaluation import evaluate

    monkeypatch.chdir(tmp_path)
    argv = ["train", "--stores", str(store_path), "--timesteps", "512", "--token-penalty", "0.5"]
    assert main([*argv, "--max-branches", "8", "--n-envs", "2", "-q"]) == 0
    out = tmp_path / "runs/train/maskable-ppo-g0.5-m8-s0"
    assert f"model: {out.relative_to(tmp_path)}/model.zip" in capsys.readouterr().out
    assert main([*argv, "--max-branches", "8", "--n-envs", "2", "-q"]) == 1  # never overwrites
    assert "already holds a training run" in capsys.readouterr().err
    policy = load_sb3_policy(out / "model.zip")
    cells = evaluate(policy, str(store_path), "default", n_orders=2, jobs=1)
    assert cells[0].method == "MaskablePPO(g=0.5)" and cells[0].n_episodes == 20


# ---- the CleanRL-style example ------------------------------------------------------------
def test_example_runs_on_a_synthetic_store(store_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("train_ppo", REPO / "examples" / "train_ppo.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    argv = ["--stores", str(store_path), "--max-branches", "8", "--total-timesteps", "1024"]
    result = example.main([*argv, "--num-envs", "4", "--num-steps", "128", "--update-epochs", "2"])
    assert np.isfinite(result["first_return"]) and np.isfinite(result["last_return"])


# ---- primitive actions --------------------------------------------------------------------
def test_primitive_actions_train_on_sb3_vec_env(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--actions primitive`: MaskablePPO on TTSControl-v0's own actions, its envs an
    `SB3VecEnv`; the model is a controller whose batched play equals its step-by-step play."""
    from tts_gym.env import SB3VecEnv

    built = []
    init = SB3VecEnv.__init__

    def spy(self, *args, **kwargs) -> None:
        init(self, *args, **kwargs)
        built.append(self)

    monkeypatch.setattr(SB3VecEnv, "__init__", spy)
    config = tiny(store_path, actions="primitive", timesteps=1024, n_steps=64, batch_size=64)
    record = train(config.replace(eval_freq=512, checkpoint_freq=512), tmp_path / "run")
    assert record["finished"] and "--actions primitive" in record["command"]
    assert len(built) == 2 and built[0].num_envs == config.n_envs  # training, validation
    policy = load_sb3_policy(tmp_path / "run")
    assert policy.name.startswith("MaskablePPO-primitive")
    store = load_store(store_path)
    orders = lambda q, n: numpy_orders(n, 2, [1, q])  # noqa: E731
    batched = policy.play(store, orders)
    stepped = play_store(policy, store, orders, trace=True)
    assert stepped.answers == batched.answers and (stepped.tokens == batched.tokens).all()
    with pytest.raises(TTSGymError, match="primitive actions train on the compiled envs"):
        config.replace(vec_env="subproc")
