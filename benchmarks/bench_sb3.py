"""MaskablePPO's env steps per second on `SB3VecEnv` against SB3's `DummyVecEnv`, same n_envs.

    python benchmarks/bench_sb3.py [--env TTSControl-v0] [--n-envs 8 64] [--rollouts 2]
                                   [--repeats 3] [--store autotts/qwen3-8b/aime24]

Each run trains sb3-contrib's MaskablePPO (`MultiInputPolicy`, `tts-gym train`'s settings:
n_steps 256, batch 256, 10 epochs, one torch thread) for `--rollouts` rollouts on the same
env two ways: `SB3VecEnv` (the compiled vector env, one call per step of every env) and
`make_vec_env` with SB3's defaults (a `DummyVecEnv` over `Monitor`-wrapped single envs, the
path every SB3 user takes). It prints env steps per second of the whole `learn` and of its
rollout phase alone (policy forwards, env steps, masks, buffer; the PPO updates do not
depend on the env), medians over `--repeats`, and the ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from sb3_contrib import MaskablePPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env

import tts_gym
from tts_gym.env import SB3VecEnv


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


def steps_per_second(venv, n_envs: int, rollouts: int) -> tuple[float, float]:
    """(env steps/s of `learn`, env steps/s of its rollouts) of one MaskablePPO run."""
    model = MaskablePPO(
        "MultiInputPolicy", venv, n_steps=256, batch_size=256, n_epochs=10, seed=0, device="cpu"
    )
    clock = RolloutClock()
    steps = rollouts * 256 * n_envs
    started = time.perf_counter()
    model.learn(steps, callback=clock)
    total = time.perf_counter() - started
    return model.num_timesteps / total, model.num_timesteps / clock.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=tts_gym.ENV_ID, choices=sorted(tts_gym.ENV_IDS))
    parser.add_argument("--store", default="autotts/qwen3-8b/aime24")
    parser.add_argument("--n-envs", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--rollouts", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    kwargs = {"stores": [args.store], "max_branches": 64, "token_penalty": 0.5}
    load_before = os.getloadavg()[0]
    print(
        f"MaskablePPO on {args.env} ({args.store}), {args.rollouts} rollouts of 256 steps per "
        f"env, median of {args.repeats}; env steps/s (learn | rollouts only)"
    )
    print(f"  {'n_envs':>6s} {'SB3VecEnv':>21s} {'DummyVecEnv':>21s} {'ratio':>15s}")
    for n in args.n_envs:
        ours, dummy = [], []
        for _ in range(args.repeats):  # alternating, so both see the same machine
            ours.append(steps_per_second(SB3VecEnv(args.env, n, **kwargs), n, args.rollouts))
            single = make_vec_env(args.env, n_envs=n, seed=0, env_kwargs=kwargs)
            dummy.append(steps_per_second(single, n, args.rollouts))
        fast = [statistics.median(x) for x in zip(*ours, strict=True)]
        slow = [statistics.median(x) for x in zip(*dummy, strict=True)]
        print(
            f"  {n:>6d} {fast[0]:>10,.0f} | {fast[1]:>8,.0f} {slow[0]:>10,.0f} | {slow[1]:>8,.0f} "
            f"{fast[0] / slow[0]:>6.1f}x | {fast[1] / slow[1]:>5.1f}x"
        )
    print(f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
