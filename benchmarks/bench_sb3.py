"""MaskablePPO's env steps per second on `SB3VecEnv` against SB3's `DummyVecEnv`, configured as
the shipped model was trained.

    python benchmarks/bench_sb3.py [--model agents/rl/models/ppo-search] [--rollouts 3]
                                   [--repeats 3] [--n-envs N ...]

The settings are the model's `config.json` (the env: `TTSControlMacro-v0`, or `TTSControl-v0`
for a model of primitive actions, on the training stores with its slots, penalties and macro
settings; the PPO: `n_steps`, `batch_size`, `n_epochs`, network, learning rate; one torch
thread), so the figure is the speed of the configuration that training runs, not one chosen
for the ratio. Each repeat trains MaskablePPO for `--rollouts` rollouts two ways on the same
env and number of envs: `SB3VecEnv` (the compiled vector env, one call per step of every env;
what `tts-gym train` uses) and `make_vec_env` with SB3's defaults (a `DummyVecEnv` over
`Monitor`-wrapped single envs, the path every SB3 user takes). It prints env steps per second
of the whole `learn` and of its rollout phase alone (policy forwards, env steps, masks, the
buffer; the PPO updates do not depend on the env), medians over `--repeats` (alternating the
two, so that both see the same machine), the ratios, and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from tts_gym_agents.rl.config import TrainConfig
from tts_gym_agents.rl.train import new_model

import tts_gym
from tts_gym.env import SB3VecEnv
from tts_gym.store import select_stores

SHIPPED = Path(__file__).resolve().parent.parent / "agents/rl/models/ppo-search"


class RolloutClock(BaseCallback):
    """The seconds spent collecting rollouts (SB3 calls these around each collection)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds = 0.0
        self._started = 0.0

    def _on_rollout_start(self) -> None:
        self._started = time.perf_counter()

    def _on_rollout_end(self) -> None:
        self.seconds += time.perf_counter() - self._started

    def _on_step(self) -> bool:
        return True


def steps_per_second(venv, config: TrainConfig, rollouts: int) -> tuple[float, float]:
    """(env steps/s of `learn`, env steps/s of its rollouts) of one MaskablePPO run."""
    model = new_model(config, venv)  # as `tts-gym train` starts a run
    clock = RolloutClock()
    started = time.perf_counter()
    model.learn(rollouts * config.n_steps * venv.num_envs, callback=clock)
    total = time.perf_counter() - started
    return model.num_timesteps / total, model.num_timesteps / clock.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=SHIPPED, help="a run folder")
    parser.add_argument("--n-envs", type=int, nargs="+", help="default: the model's")
    parser.add_argument("--rollouts", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.distributions.Distribution.set_default_validate_args(False)  # as training runs
    config = TrainConfig.load(args.model)
    env_id = tts_gym.MACRO_ENV_ID if config.actions == "macro" else tts_gym.ENV_ID
    stores = select_stores(list(config.stores), refuse_held_out="benchmark")
    kwargs = {
        "stores": stores,
        "max_branches": config.max_branches,
        "token_penalty": config.token_penalty,
        "latency_penalty": config.latency_penalty,
    }
    if config.actions == "macro":
        kwargs |= {"widen": config.widen, "patience": config.patience}
    load_before = os.getloadavg()[0]
    print(
        f"MaskablePPO on {env_id} ({', '.join(s.name for s in stores)}), the settings of "
        f"{args.model}: n_steps {config.n_steps}, batch {config.batch_size}, "
        f"{config.n_epochs} epochs; {args.rollouts} rollouts, median of {args.repeats}; "
        "env steps/s (learn | rollouts only)"
    )
    print(f"  {'n_envs':>6s} {'SB3VecEnv':>21s} {'DummyVecEnv':>21s} {'ratio':>15s}")
    for n in args.n_envs or [config.n_envs]:
        ours, dummy = [], []
        for _ in range(args.repeats):  # alternating, so both see the same machine
            fast_env = SB3VecEnv(env_id, n, **kwargs)
            ours.append(steps_per_second(fast_env, config, args.rollouts))
            single = make_vec_env(env_id, n_envs=n, seed=0, env_kwargs=kwargs)
            dummy.append(steps_per_second(single, config, args.rollouts))
        fast = [statistics.median(x) for x in zip(*ours, strict=True)]
        slow = [statistics.median(x) for x in zip(*dummy, strict=True)]
        print(
            f"  {n:>6d} {fast[0]:>10,.0f} | {fast[1]:>8,.0f} {slow[0]:>10,.0f} | {slow[1]:>8,.0f} "
            f"{fast[0] / slow[0]:>6.1f}x | {fast[1] / slow[1]:>5.1f}x"
        )
    print(f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
