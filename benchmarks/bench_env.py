"""Env steps per second: TTSControl-v0 (single) and its vector env, against the Python path.

    python benchmarks/bench_env.py [--seconds 2] [--repeats 3] [--sizes 256 1024 4096]

Three random masked policies: `uniform` (uniform over the legal single actions), `long`
(ANSWER with probability 1% a step, else uniform over the legal single actions that do not
end the episode) and `waves` (uniform over all legal actions, the batch actions ADVANCE_ALL,
OPEN_MANY(k), READ_MANY(k) included). `uniform` and `long` draw from the actions that
existed before the batch actions, so their figures compare with earlier runs.
Figures are env time only (the time spent inside `reset` and `step`; drawing the policy's
actions is not counted), medians over repeats. Each compiled figure has its Python-path
baseline measured in the same run: the single env with `engine="python"` (`Episode` and
`ObservationBuilder`), and for N envs Gymnasium's `SyncVectorEnv` over N such envs (what
`gym.make_vec` gave before the vector env). The vector env is measured as made by default
(`copy=True`: fresh arrays every step) and with `copy=False` (its own buffers, no copy).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np

import tts_gym
from tts_gym.engine.actions import ActionKind, action_index

Policy = Callable[[np.ndarray, np.random.Generator, int], np.ndarray]
"""(masks [N, A], rng, max_branches) -> actions [N]."""


def waves(masks: np.ndarray, rng: np.random.Generator, m: int) -> np.ndarray:
    """Per row, an action drawn uniformly among the legal ones (batch actions included)."""
    keys = rng.random(masks.shape)
    keys[masks == 0] = -1.0
    return keys.argmax(axis=1)


def uniform(masks: np.ndarray, rng: np.random.Generator, m: int) -> np.ndarray:
    """Per row, an action drawn uniformly among the legal single actions."""
    return waves(masks[:, : action_index(ActionKind.ADVANCE_ALL, 0, m)], rng, m)


def long_episodes(masks: np.ndarray, rng: np.random.Generator, m: int) -> np.ndarray:
    """ANSWER with probability 1%, else uniform over the legal non-terminal single actions."""
    going = masks[:, : action_index(ActionKind.SUBMIT, 0, m)].copy()
    going[:, ActionKind.ANSWER] = 0
    actions = waves(going, rng, m)
    stop = (rng.random(len(masks)) < 0.01) | (going.max(axis=1) == 0)
    actions[stop] = ActionKind.ANSWER
    return actions


POLICIES: dict[str, Policy] = {"uniform": uniform, "long": long_episodes, "waves": waves}


def run(env, policy: Policy, seconds: float, seed: int, min_steps: int = 0) -> tuple[float, float]:
    """(env steps/s, summed over sub-envs, and steps per episode) of a single or vector env;
    a single env is reset by hand when its episode ends (that time counts as env time)."""
    vector = isinstance(env, gym.vector.VectorEnv)
    m = (env.single_observation_space if vector else env.observation_space)["slots"].shape[0]
    rng = np.random.default_rng(seed)
    clock = time.perf_counter
    started = clock()
    _, info = env.reset(seed=seed)
    env_time = clock() - started
    steps = episodes = 0
    while steps < min_steps or clock() - started < seconds:
        actions = policy(info["action_mask"] if vector else info["action_mask"][None, :], rng, m)
        t0 = clock()
        if vector:
            _, _, terminated, _, info = env.step(actions)
            ended = int(terminated.sum())
        else:
            _, _, ended, _, info = env.step(int(actions[0]))
            if ended:
                _, info = env.reset()
        env_time += clock() - t0
        steps += env.num_envs if vector else 1
        episodes += ended
    return steps / env_time, steps / max(episodes, 1)


def measure(make: Callable[[], object], policy: Policy, args) -> tuple[float, float]:
    env = make()
    run(env, policy, 0.0, seed=99, min_steps=1_000)  # warm up (compiles on a cold cache)
    results = [run(env, policy, args.seconds, seed=r) for r in range(args.repeats)]
    env.close()
    return statistics.median(r[0] for r in results), statistics.median(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="autotts/qwen3-8b/aime24")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="*", default=[256, 1024, 4096])
    parser.add_argument("--policies", nargs="*", default=list(POLICIES), choices=list(POLICIES))
    args = parser.parse_args()
    kwargs = dict(stores=[args.store])

    rows = []
    for name in args.policies:
        policy = POLICIES[name]
        compiled = measure(lambda: gym.make(tts_gym.ENV_ID, **kwargs), policy, args)
        python = measure(lambda: gym.make(tts_gym.ENV_ID, engine="python", **kwargs), policy, args)
        rows.append(("single env", name, compiled, python))
        for n in args.sizes:
            sync = measure(
                lambda n=n: gym.make_vec(
                    tts_gym.ENV_ID, n, vectorization_mode="sync", engine="python", **kwargs
                ),
                policy,
                args,
            )
            for copy in (True, False):
                vector = measure(
                    lambda n=n, copy=copy: gym.make_vec(
                        tts_gym.ENV_ID, n, vectorization_mode="vector_entry_point", copy=copy,
                        **kwargs,
                    ),
                    policy,
                    args,
                )  # fmt: skip
                rows.append((f"vector N={n}" + ("" if copy else " copy=False"), name, vector, sync))

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"TTSControl-v0 on {args.store}: env steps/s (env time only), median of "
        f"{args.repeats} x {args.seconds:g} s; {os.cpu_count()} CPUs, load average {load:.1f}"
    )
    print(
        f"  {'':25s} {'policy':8s} {'compiled':>12s} {'python path':>12s} {'ratio':>7s} "
        f"{'steps/episode':>14s}"
    )
    for what, name, (fast, length), (slow, _) in rows:
        print(
            f"  {what:25s} {name:8s} {fast:>12,.0f} {slow:>12,.0f} {fast / slow:>6.1f}x "
            f"{length:>14.1f}"
        )


if __name__ == "__main__":
    main()
