import gymnasium as gym
import numpy as np

from tts_gym import ActionKind, encode_action  # importing tts_gym registers TTSControl-v0

env = gym.make("TTSControl-v0", stores=["autotts/qwen3-8b/aime24"], token_penalty=0.5)
READ, ANSWER = encode_action(ActionKind.READ), encode_action(ActionKind.ANSWER)


def three_agree(obs, info):
    """Read whole branches until three give the same answer (at most 16), then answer."""
    ids = obs["answer_id"][obs["answer_id"] >= 0].astype(int)  # the answers read so far
    done = np.bincount(ids).max(initial=0) >= 3 or ids.size >= 16
    return ANSWER if done or not info["action_mask"][READ] else READ  # ANSWER: the majority


results = []
obs, info = env.reset(seed=0)  # seeds the questions and branch orders of every episode
for _ in range(300):
    terminated = False
    while not terminated:
        obs, reward, terminated, truncated, info = env.step(three_agree(obs, info))
    results.append((info["correct"], info["tokens"]))
    obs, info = env.reset()
correct, tokens = np.mean(results, axis=0)
print(f"300 episodes: {correct:.1%} correct, {tokens / 1000:.1f}k tokens each")
