"""Make TTSControl-v0, play a random masked policy, and print its accuracy and token use.

python examples/quickstart.py [--episodes 200] [--store autotts/qwen3-8b/aime24]
"""

import argparse

import gymnasium as gym
import numpy as np

import tts_gym  # noqa: F401  (registers TTSControl-v0)
from tts_gym import ActionKind, decode_action

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--episodes", type=int, default=200)
parser.add_argument("--store", default="autotts/qwen3-8b/aime24")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

env = gym.make("TTSControl-v0", stores=[args.store], token_penalty=0.5)
rng = np.random.default_rng(args.seed)

correct, tokens, returns = [], [], []
obs, info = env.reset(seed=args.seed)
while len(correct) < args.episodes:
    # A random legal action, with answering made rare so that branches get explored.
    legal = np.flatnonzero(info["action_mask"])
    stops = np.array([decode_action(a)[0] in (ActionKind.ANSWER, ActionKind.SUBMIT) for a in legal])
    weights = np.where(stops, 0.05, 1.0)
    action = rng.choice(legal, p=weights / weights.sum())

    obs, reward, terminated, truncated, info = env.step(action)
    returns.append(reward)
    if terminated or truncated:
        correct.append(info["correct"])
        tokens.append(info["tokens"])
        obs, info = env.reset()

print(f"random masked policy on {args.store}, {args.episodes} episodes:")
print(f"  accuracy      {100 * np.mean(correct):.1f}%")
print(f"  tokens        {np.mean(tokens) / 1000:.1f}k per question")
print(f"  mean return   {sum(returns) / args.episodes:+.3f}")
