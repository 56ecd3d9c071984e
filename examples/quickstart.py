import gymnasium as gym
import numpy as np

from tts_gym import ActionKind, encode_action  # importing tts_gym registers TTSControl-v0

env = gym.make("TTSControl-v0", stores=["autotts/qwen3-8b/aime24"], token_penalty=0.5)
READ, ANSWER = encode_action(ActionKind.READ), encode_action(ActionKind.ANSWER)


def three_agree(obs, info):
    """Read whole branches until three give the same answer (at most 16), then answer."""
    ids = obs["answer_id"][obs["answer_id"] >= 0].astype(int)  # the answers read so far
    votes = np.bincount(ids).max() if ids.size else 0
    if votes >= 3 or ids.size >= 16 or not info["action_mask"][READ]:
        return ANSWER  # the majority of the answers read
    return READ  # open the next branch and read it to its end


correct, tokens = [], []
obs, info = env.reset(seed=0)  # seeds the questions and branch orders of every episode
for episode in range(300):
    terminated = False
    while not terminated:
        obs, reward, terminated, truncated, info = env.step(three_agree(obs, info))
    if episode < 3:
        print(
            f"episode {episode}: answer {info['answer']}, correct {info['correct']}, "
            f"{info['tokens']} tokens"
        )
    correct.append(info["correct"])
    tokens.append(info["tokens"])
    obs, info = env.reset()
print(f"300 episodes: {np.mean(correct):.1%} correct, {np.mean(tokens) / 1000:.1f}k tokens each")
