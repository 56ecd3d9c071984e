"""Env steps per second: a random masked policy on one TTSControl-v0 env.

    python benchmarks/bench_env.py [--seconds 5] [--repeats 5]

Prints the median over repeats and, as the baseline of the same run, the bare engine
replaying the very same episodes (same questions, orders and actions, no observations,
masks or Gymnasium checks), so the ratio is what the Gymnasium layer costs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from tts_gym import ActionKind, TTSControlEnv, decode_action
from tts_gym.engine import Episode

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--store", default="autotts/qwen3-8b/aime24")
parser.add_argument("--seconds", type=float, default=5.0)
parser.add_argument("--repeats", type=int, default=5)
args = parser.parse_args()


def run_env(env: TTSControlEnv, seconds: float, seed: int) -> tuple[float, list]:
    """Steps/s of a uniformly random legal policy, and the episodes it played."""
    rng = np.random.default_rng(seed)
    _, info = env.reset(seed=seed)
    episodes, actions = [], []
    steps = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        legal = np.flatnonzero(info["action_mask"])
        action = legal[rng.integers(len(legal))]
        actions.append(decode_action(action, env.max_branches))
        _, _, terminated, _, info = env.step(action)
        steps += 1
        if terminated:
            episodes.append((env.episode.question, env.episode.order, actions))
            actions = []
            _, info = env.reset()
    return steps / (time.perf_counter() - start), episodes


def run_engine(episodes: list) -> float:
    """Steps/s of the bare engine on the same episodes."""
    steps = 0
    start = time.perf_counter()
    for question, order, actions in episodes:
        episode = Episode(question, order)
        for kind, slot in actions:
            if kind is ActionKind.CONTINUE:
                episode.advance(slot)
            elif kind is ActionKind.BRANCH:
                episode.open()
            elif kind is ActionKind.READ:
                episode.read()
            elif kind is ActionKind.PRUNE:
                episode.prune(slot)
            elif kind is ActionKind.SUBMIT:
                episode.submit(slot)
            else:
                episode.finish(episode.majority())
        steps += len(actions)
    return steps / (time.perf_counter() - start)


env = TTSControlEnv(stores=[args.store])
env_rates, engine_rates, lengths = [], [], []
for repeat in range(args.repeats):
    rate, episodes = run_env(env, args.seconds, seed=repeat)
    env_rates.append(rate)
    engine_rates.append(run_engine(episodes))
    lengths.append(statistics.mean(len(actions) for *_, actions in episodes))
env_rate, engine_rate = statistics.median(env_rates), statistics.median(engine_rates)
ratio = env_rate / engine_rate
print(
    f"TTSControl-v0 on {args.store}, random masked policy, single env, "
    f"median of {args.repeats} x {args.seconds:g} s:"
)
print(
    f"  env     {env_rate:>12,.0f} steps/s  (min {min(env_rates):,.0f}, "
    f"max {max(env_rates):,.0f}; mean episode {statistics.mean(lengths):.1f} steps)"
)
print(f"  engine  {engine_rate:>12,.0f} steps/s  (same episodes; env/engine = {ratio:.2f})")
