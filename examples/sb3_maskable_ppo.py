"""The Stable-Baselines3 user's path: MaskablePPO trained on the search stores, saved, loaded
against an env on a held-out store and evaluated there; with SB3's `make_vec_env`, then with
`tts_gym.env.SB3VecEnv` (the compiled vector env, one call per step of every env).

    python examples/sb3_maskable_ppo.py                   # models in runs/sb3-example
    python examples/sb3_maskable_ppo.py --train train.json --test test.json --timesteps 2048
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.evaluation import evaluate_policy
from stable_baselines3.common.env_util import make_vec_env

import tts_gym  # noqa: F401  (registers TTSControl-v0 and TTSControlMacro-v0)
from tts_gym.env import SB3VecEnv


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", nargs="+", default=["search"], help="training stores")
    parser.add_argument("--test", nargs="+", default=["autotts/qwen3-8b/aime25"])
    parser.add_argument("--timesteps", type=int, default=4096)
    parser.add_argument("--episodes", type=int, default=100, help="evaluation episodes")
    parser.add_argument("--out", type=Path, default=Path("runs/sb3-example"), help="models")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)  # a small network: more threads only add synchronisation
    folder = args.out
    settings = {"max_branches": 32, "token_penalty": 0.5}

    # SB3's own path: make_vec_env with its defaults (Monitor-wrapped envs in a DummyVecEnv)
    train_env = make_vec_env(
        "TTSControl-v0", n_envs=4, seed=0, env_kwargs={"stores": args.train, **settings}
    )
    model = MaskablePPO("MultiInputPolicy", train_env, n_steps=256, seed=0)
    model.learn(total_timesteps=args.timesteps)
    model.save(folder / "ppo")

    test_env = make_vec_env(
        "TTSControl-v0", n_envs=4, seed=1, env_kwargs={"stores": args.test, **settings}
    )
    model = MaskablePPO.load(folder / "ppo", env=test_env)  # one observation space for all stores
    mean, std = evaluate_policy(model, test_env, n_eval_episodes=args.episodes)
    print(f"make_vec_env: return on {args.test} {mean:.3f} +- {std:.3f}")

    # the same on SB3VecEnv: the compiled vector env as an SB3 VecEnv
    train_env = SB3VecEnv("TTSControl-v0", num_envs=4, stores=args.train, **settings)
    train_env.seed(0)
    model = MaskablePPO("MultiInputPolicy", train_env, n_steps=256, seed=0)
    model.learn(total_timesteps=args.timesteps)
    model.save(folder / "ppo-sb3vecenv")

    test_env = SB3VecEnv("TTSControl-v0", num_envs=4, stores=args.test, **settings)
    test_env.seed(1)
    model = MaskablePPO.load(folder / "ppo-sb3vecenv", env=test_env)
    mean, std = evaluate_policy(model, test_env, n_eval_episodes=args.episodes)
    print(f"SB3VecEnv: return on {args.test} {mean:.3f} +- {std:.3f}")


if __name__ == "__main__":
    main()
