"""Train a MaskablePPO controller on `TTSControl-v0` (through macro actions) into a run folder.

The envs are a `MacroVecEnv` (`vec_env="core"`, the default): all of them in this process,
each decision one compiled call that runs every env's macro. `vec_env="subproc"` runs the
Python reference instead (`MacroEnv` over `TTSControl-v0`, one worker process per env), the
path the shipped model was trained on (it reproduces that model exactly; about 4x slower).
`actions="primitive"` trains on `TTSControl-v0`'s own actions instead, through
`tts_gym.env.SB3VecEnv` (one compiled call per step of every env).

Run folder layout:
- `config.json`: the `TrainConfig` (also what `load_sb3_policy` rebuilds the env from);
- `model.zip`: the final model; `best_model.zip`: the best one on the validation split;
- `checkpoints/step_<N>.zip`: periodic checkpoints (`resume` continues from the last one);
- `tb/`: TensorBoard logs (`tensorboard --logdir DIR/tb`);
- `evaluation.json`: the final model on the validation split; `record.json`: timesteps,
  wall time and library versions.
Every file is written atomically. Held-out stores are refused before anything is read.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import sb3_contrib
import stable_baselines3
import torch
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.callbacks import MaskableEvalCallback
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import SubprocVecEnv, VecEnv
from tts_gym_agents.rl.config import TrainConfig
from tts_gym_agents.rl.policy import sb3_policy
from tts_gym_agents.rl.run_folder import (
    CHECKPOINTS,
    check_start,
    latest_checkpoint,
    load_checkpoint,
)
from tts_gym_agents.rl.split import (
    TRAINING,
    Episode,
    QuestionSubset,
    assert_not_held_out,
    check_training_stores,
    split_questions,
)
from tts_gym_agents.rl.validation import cross_validation, validation_report
from tts_gym_agents.rl.vec_env import macro_vec_env

from tts_gym import ENV_ID
from tts_gym.engine.actions import ActionKind, action_index, n_actions
from tts_gym.env import SB3VecEnv
from tts_gym.env.macro import N_MACROS, Macro, MacroEnv, MacroPlanner
from tts_gym.env.spaces import observation_space
from tts_gym.errors import TTSGymError
from tts_gym.memory import require_memory
from tts_gym.store import ReplayStore, select_stores
from tts_gym.store.files import atomic_write, lock_folder, read_json_object, write_json

VALIDATION_ENVS = 32  # the core's validation envs at most (one forward serves them all)


def make_env(
    config: TrainConfig,
    stores: Sequence[str],
    questions: Sequence[Episode],
    *,
    cycle_orders: int = 0,
    seed: int = 0,
    data_dir: str | None = None,
) -> Callable[[], gym.Env]:
    """A thunk building one monitored macro env restricted to `questions`."""

    def build() -> gym.Env:
        env = gym.make(
            ENV_ID,
            stores=list(stores),
            max_branches=config.max_branches,
            token_penalty=config.token_penalty,
            latency_penalty=config.latency_penalty,
            data_dir=data_dir,
            disable_env_checker=True,
        )
        assert_not_held_out(env.unwrapped.stores)
        env = QuestionSubset(env, questions, cycle_orders=cycle_orders, seed=seed)
        return Monitor(MacroEnv(env, widen=config.widen, patience=config.patience))

    return build


def train(
    config: TrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    progress: bool = False,
    data_dir: str | None = None,
) -> dict[str, Any]:
    """Train (or continue) the run in `out`; returns the record written to `record.json`.

    Torch runs on one thread: for networks this small, more threads only add synchronisation
    (tens of times slower when the cores are busy with the envs or anything else). Torch's
    argument checks of the distributions (several built per forward, 8% of the CPU time of a
    training) are off while it trains: the masks and logits are SB3's own.
    """
    out = Path(out)
    check_start(out, resume)
    names = check_training_stores(config.stores, data_dir)
    stores = select_stores(names, data_dir, refuse_held_out=TRAINING)
    train_q, valid_q = split_questions(stores, config.folds, config.fold)
    if not valid_q:
        raise TTSGymError("the validation split is empty; raise the validation fraction.")
    _check_sizes(config)
    with lock_folder(out):
        return _train(config, out, stores, names, train_q, valid_q, resume, progress, data_dir)


def _train(
    config: TrainConfig,
    out: Path,
    stores: Sequence[ReplayStore],
    names: Sequence[str],
    train_q: Sequence[Episode],
    valid_q: Sequence[Episode],
    resume: bool,
    progress: bool,
    data_dir: str | None,
) -> dict[str, Any]:
    """`train` in its locked folder, the stores and the split checked."""
    torch.set_num_threads(1)
    started, cpu_started = time.perf_counter(), time.process_time()
    before = _read_record(out) if resume else {}

    def write_record(
        validation: dict[str, Any] | None = None, until: float | None = None
    ) -> dict[str, Any]:
        """`record.json`, rewritten at every checkpoint so that a resumed run adds up time.
        CPU seconds are this process's (the envs run in it, but for `vec_env="subproc"`); the
        load average says how busy the machine was while it trained."""
        until = time.perf_counter() if until is None else until
        record = {
            "command": config.command(out),
            "timesteps": int(model.num_timesteps),
            "wall_seconds": round(until - started + before.get("wall_seconds", 0.0), 1),
            "cpu_seconds": round(
                time.process_time() - cpu_started + before.get("cpu_seconds", 0.0), 1
            ),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "seed": config.seed,
            "fold": config.fold,
            "finished": validation is not None,
            "validation": validation,
            "versions": _versions(),
        }
        write_json(out / "record.json", record)
        return record

    venv, valid_env = _vec_envs(config, stores, names, train_q, valid_q, data_dir)
    try:
        model = None
        if resume:
            model = load_checkpoint(
                out,
                lambda path: MaskablePPO.load(
                    path, env=venv, device="cpu", tensorboard_log=str(out / "tb")
                ),
            )
        resumed = model is not None
        if resumed:
            remaining = config.timesteps - model.num_timesteps
            if remaining <= 0:
                raise TTSGymError(
                    f"the run already has {model.num_timesteps} timesteps; "
                    "give a larger --timesteps."
                )
        else:
            model, remaining = new_model(config, venv, out / "tb"), config.timesteps
        config.save(out)  # only now: a resume that fails leaves the folder as it was
        venv.seed(config.seed + model.num_timesteps)
        callbacks = CallbackList(
            [
                EpisodeStats(),
                AtomicCheckpoint(
                    out / CHECKPOINTS, config.checkpoint_freq // config.n_envs, write_record
                ),
                MaskableEvalCallback(
                    valid_env,
                    n_eval_episodes=len(valid_q) * config.valid_orders,
                    eval_freq=max(1, config.eval_freq // config.n_envs),
                    callback_on_new_best=SaveModel(out / "best_model.zip"),
                    deterministic=True,
                    verbose=0,
                ),
            ]
        )
        checks = torch.distributions.Distribution._validate_args
        torch.distributions.Distribution.set_default_validate_args(False)
        try:
            model.learn(
                total_timesteps=remaining,
                callback=callbacks,
                reset_num_timesteps=not resumed,
                tb_log_name="maskable_ppo",
                progress_bar=progress,
            )
        finally:
            torch.distributions.Distribution.set_default_validate_args(checks)
    finally:
        venv.close()
        valid_env.close()
    save_model(model, out / CHECKPOINTS / f"step_{model.num_timesteps}.zip")
    save_model(model, out / "model.zip")
    if not (out / "best_model.zip").exists():
        save_model(model, out / "best_model.zip")
    trained = time.perf_counter()  # the recorded wall time leaves out the final evaluation
    evaluation = validation_report(
        sb3_policy(model, config),
        stores,
        valid_q,
        config.valid_orders,
        (config.token_penalty, config.latency_penalty),
    )
    write_json(out / "evaluation.json", evaluation)
    validation = {**evaluation["overall"], "margin": evaluation["margin"]}
    return write_record(validation, until=trained)


def _check_sizes(config: TrainConfig) -> None:
    """Refuse, before any env exists, envs that cannot train: SB3 collects `n_steps` steps of
    every env before its first update, so one rollout must fit in `timesteps` (else the
    first update comes after many times the training asked for), and in memory (it keeps
    each step's observation, mask and six numbers, float32, and copies them to train)."""
    rollout = config.n_envs * config.n_steps
    if rollout > config.timesteps:
        raise TTSGymError(
            f"one rollout of --n-envs {config.n_envs:,} x {config.n_steps} steps is "
            f"{rollout:,} timesteps, more than --timesteps {config.timesteps:,}; use at most "
            f"{max(1, config.timesteps // config.n_steps):,} envs or more timesteps."
        )
    space = observation_space(config.max_branches)
    actions = n_actions(config.max_branches)
    if config.actions == "macro":
        space, actions = MacroPlanner.observation_space(space), N_MACROS
    per_step = sum(int(np.prod(box.shape)) for box in space.values()) + actions + 7
    per_env = 2 * 4 * per_step * config.n_steps
    require_memory(
        per_env * config.n_envs,
        f"--n-envs {config.n_envs:,} ({config.n_steps} steps each per rollout)",
        each=per_env,
        unit="envs",
    )


def _vec_envs(
    config: TrainConfig,
    stores: Sequence[ReplayStore],
    names: Sequence[str],
    train_q: Sequence[Episode],
    valid_q: Sequence[Episode],
    data_dir: str | None,
) -> tuple[VecEnv, VecEnv]:
    """The training envs (drawing from `train_q`) and the validation envs (cycling through
    `valid_q` x `valid_orders` fixed episodes; for primitive actions, that many episodes
    drawn from `valid_q`, the same ones at every evaluation)."""
    if config.actions == "primitive":
        return _primitive_vec_envs(config, stores, train_q, valid_q)
    if config.vec_env == "subproc":
        thunks = [
            make_env(config, names, train_q, seed=config.seed + i, data_dir=data_dir)
            for i in range(config.n_envs)
        ]
        valid = make_env(
            config, names, valid_q, cycle_orders=config.valid_orders, data_dir=data_dir
        )
        return _subproc_vec_env(thunks), _subproc_vec_env([valid])
    assert_not_held_out(stores)
    settings = {
        "max_branches": config.max_branches,
        "token_penalty": config.token_penalty,
        "latency_penalty": config.latency_penalty,
        "widen": config.widen,
        "patience": config.patience,
        "seed": config.seed,
    }
    n_valid = min(VALIDATION_ENVS, len(valid_q) * config.valid_orders)
    return (
        macro_vec_env(stores, train_q, config.n_envs, **settings),
        macro_vec_env(stores, valid_q, n_valid, cycle_orders=config.valid_orders, **settings),
    )


def _primitive_vec_envs(
    config: TrainConfig,
    stores: Sequence[ReplayStore],
    train_q: Sequence[Episode],
    valid_q: Sequence[Episode],
) -> tuple[VecEnv, VecEnv]:
    assert_not_held_out(stores)
    settings = {
        "stores": list(stores),
        "max_branches": config.max_branches,
        "token_penalty": config.token_penalty,
        "latency_penalty": config.latency_penalty,
    }
    venv = ReseededVecEnv("TTSControl-v0", num_envs=config.n_envs, **settings)
    venv.draw_from(train_q)
    n_valid = min(VALIDATION_ENVS, len(valid_q) * config.valid_orders)
    valid = ReseededVecEnv("TTSControl-v0", num_envs=n_valid, **settings)
    valid.draw_from(valid_q)
    valid.reset_seed = config.seed
    return venv, valid


class ReseededVecEnv(SB3VecEnv):
    """An `SB3VecEnv` that, given a `reset_seed`, is reseeded with it at every `reset()`: each
    evaluation of the callback then plays the same episodes (sub-env i's k-th episode depends
    on its seed alone). The training envs are one too (without a seed), as SB3's eval
    callback wants the training and evaluation envs of one type."""

    reset_seed: int | None = None

    def reset(self) -> dict[str, np.ndarray]:
        if self.reset_seed is not None:
            self.seed(self.reset_seed)
        return super().reset()


def _stop_actions(config: TrainConfig) -> list[int]:
    """The actions that end an episode: the two stopping macros, or ANSWER and every SUBMIT."""
    if config.actions == "macro":
        return [Macro.ANSWER, Macro.SUBMIT_FINISHED]
    m = config.max_branches
    first = action_index(ActionKind.SUBMIT, 0, m)
    return [int(ActionKind.ANSWER), *range(first, first + m)]


def new_model(config: TrainConfig, venv: Any, tensorboard: Path | None = None) -> MaskablePPO:
    """The MaskablePPO a run starts from: the config's settings and the prior against stopping
    (also what `benchmarks/bench_sb3.py` times)."""
    model = MaskablePPO(
        "MultiInputPolicy",
        venv,
        learning_rate=LinearSchedule(config.learning_rate, 0.0, 1.0),  # annealed to 0
        n_steps=config.n_steps,
        batch_size=config.batch_size,
        n_epochs=config.n_epochs,
        gamma=config.gamma,
        gae_lambda=config.gae_lambda,
        ent_coef=config.ent_coef,
        clip_range=config.clip_range,
        policy_kwargs={"net_arch": list(config.net_arch)},
        tensorboard_log=None if tensorboard is None else str(tensorboard),
        seed=config.seed,
        device="cpu",
    )
    with torch.no_grad():  # a prior against stopping early: explore long episodes first
        model.policy.action_net.bias[_stop_actions(config)] -= config.stop_prior
    return model


def sweep(
    config: TrainConfig,
    penalties: Sequence[float],
    out: str | Path,
    *,
    folds: bool = False,
    resume: bool = False,
    progress: bool = False,
    data_dir: str | None = None,
) -> list[dict[str, Any]]:
    """One run per token penalty in `out/g<G>`: the RL accuracy-token curve. With `folds`,
    each penalty is cross-validated (`cross_validate`) instead.

    With `resume`, finished runs are kept and unfinished ones continue from their checkpoint.
    `out/sweep.json` lists the runs' records (or cross-validations).
    """
    out = Path(out)
    records = []
    for penalty in penalties:
        folder = out / f"g{penalty:g}"
        run_config = config.replace(token_penalty=penalty)
        if folds:
            record = cross_validate(
                run_config, folder, resume=resume, progress=progress, data_dir=data_dir
            )
        else:
            record = _finished_or_trained(run_config, folder, resume, progress, data_dir)
        records.append({**record, "token_penalty": penalty, "folder": str(folder)})
    write_json(out / "sweep.json", records)
    return records


def cross_validate(
    config: TrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    progress: bool = False,
    data_dir: str | None = None,
) -> dict[str, Any]:
    """The configuration on every fold: fold f's run (seed `config.seed + f`) in
    `out/fold<f>`; their validations pooled (`validation.cross_validation`, every training
    question validated once) into `out/cv.json`, which is returned."""
    out = Path(out)
    runs, reports = [], []
    for fold in range(config.folds):
        folder = out / f"fold{fold}"
        run_config = config.replace(fold=fold, seed=config.seed + fold)
        record = _finished_or_trained(run_config, folder, resume, progress, data_dir)
        runs.append({**record, "folder": str(folder)})
        reports.append(read_json_object(folder / "evaluation.json", "validation report"))
    result = {**cross_validation(reports), "runs": runs}
    write_json(out / "cv.json", result)
    return result


def _finished_or_trained(
    config: TrainConfig, folder: Path, resume: bool, progress: bool, data_dir: str | None
) -> dict[str, Any]:
    """The run in `folder`: kept if `resume` and it has finished, else trained (continued
    from its checkpoint if `resume` and it has one)."""
    record = _read_record(folder) if resume else {}
    if record.get("finished") and record["timesteps"] >= config.timesteps:
        return record
    started = resume and latest_checkpoint(folder) is not None
    return train(config, folder, resume=started, progress=progress, data_dir=data_dir)


def save_model(model: Any, path: Path) -> None:
    """`model.save`, atomically (a crash mid-save leaves the previous file, not half a zip),
    without the TensorBoard folder: an absolute path of the training machine."""
    with atomic_write(path) as handle:
        model.save(handle, exclude=["tensorboard_log"])


def _subproc_vec_env(thunks: list[Callable[[], gym.Env]]) -> SubprocVecEnv:
    """Envs in worker processes; forked (fast to start) where the platform can fork."""
    fork = "fork" in multiprocessing.get_all_start_methods()
    return SubprocVecEnv(thunks, start_method="fork" if fork else None)


def _read_record(out: Path) -> dict[str, Any]:
    """The run's `record.json` ({} before the first checkpoint), checked where resume reads it."""
    path = out / "record.json"
    if not path.is_file():
        return {}
    record = read_json_object(path, "run record")
    for key, kind in (("wall_seconds", (int, float)), ("timesteps", int), ("finished", bool)):
        if key in record and not isinstance(record[key], kind):
            raise TTSGymError(f"the run record {path}: '{key}' has the wrong type.")
    return record


def _versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "sb3_contrib": sb3_contrib.__version__,
    }


class EpisodeStats(BaseCallback):
    """Logs the training episodes' accuracy and tokens (the two axes of the trade-off)."""

    def __init__(self) -> None:
        super().__init__()
        self._correct: list[float] = []
        self._tokens: list[float] = []

    def _on_step(self) -> bool:
        for info, done in zip(self.locals["infos"], self.locals["dones"], strict=True):
            if done and "correct" in info:
                self._correct.append(float(info["correct"]))
                self._tokens.append(float(info["tokens"]))
        return True

    def _on_rollout_end(self) -> None:
        if self._correct:
            self.logger.record("rollout/accuracy", float(np.mean(self._correct)))
            self.logger.record("rollout/tokens_k", float(np.mean(self._tokens)) / 1000)
            self._correct.clear()
            self._tokens.clear()


class AtomicCheckpoint(BaseCallback):
    """Saves `folder/step_<N>.zip` every `every` calls (one call = one step of every env),
    then calls `saved()` (which records the progress)."""

    def __init__(self, folder: Path, every: int, saved: Callable[[], Any]) -> None:
        super().__init__()
        self.folder = folder
        self.every = max(1, every)
        self.saved = saved

    def _on_step(self) -> bool:
        if self.n_calls % self.every == 0:
            save_model(self.model, self.folder / f"step_{self.num_timesteps}.zip")
            self.saved()
        return True


class SaveModel(BaseCallback):
    """Saves the model to `path` when called (as the eval callback's `callback_on_new_best`)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def _on_step(self) -> bool:
        save_model(self.model, self.path)
        return True
