"""PPO with action masking on TTSControl-v0, in one readable file (CleanRL style).

What `tts-gym train` does with Stable-Baselines3's MaskablePPO, written out: the same env
(`TTSControlMacro-v0`: TTSControl-v0 seen through the macro actions of `tts_gym.env.macro`),
the same reward, and the PPO loop in plain torch, with illegal actions masked out of the
policy's distribution (`info["action_mask"]`).

    python examples/train_ppo.py --stores search --total-timesteps 200000
    python examples/train_ppo.py --stores path/to/store.json --total-timesteps 4096
"""

from __future__ import annotations

import argparse
import time
from collections import deque

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical

from tts_gym import MACRO_ENV_ID
from tts_gym.env import Macro
from tts_gym.store import identify_stores


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", nargs="+", default=["search"], help="training stores")
    parser.add_argument("--token-penalty", type=float, default=0.03)
    parser.add_argument("--max-branches", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--total-timesteps", type=int, default=200_000)
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--num-steps", type=int, default=256, help="rollout length per env")
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--gamma", type=float, default=1.0, help="1: returns are the reward")
    parser.add_argument("--gae-lambda", type=float, default=0.95)
    parser.add_argument("--num-minibatches", type=int, default=8)
    parser.add_argument("--update-epochs", type=int, default=10)
    parser.add_argument("--clip-coef", type=float, default=0.2)
    parser.add_argument("--ent-coef", type=float, default=0.005)
    parser.add_argument("--stop-prior", type=float, default=3.0, help="bias against stopping")
    parser.add_argument("--vf-coef", type=float, default=0.5)
    parser.add_argument("--max-grad-norm", type=float, default=0.5)
    return parser.parse_args(argv)


def make_env(stores: list[str], token_penalty: float, max_branches: int):
    def thunk() -> gym.Env:
        env = gym.make(  # Discrete(4) macros, their mask in info["action_mask"]
            MACRO_ENV_ID, stores=stores, token_penalty=token_penalty, max_branches=max_branches
        )
        env = gym.wrappers.FlattenObservation(env)  # the Dict observation as one vector
        return gym.wrappers.RecordEpisodeStatistics(env)

    return thunk


def layer(in_features: int, out_features: int, std: float = np.sqrt(2)) -> nn.Linear:
    linear = nn.Linear(in_features, out_features)
    nn.init.orthogonal_(linear.weight, std)
    nn.init.constant_(linear.bias, 0.0)
    return linear


class Agent(nn.Module):
    def __init__(self, n_obs: int, n_actions: int) -> None:
        super().__init__()
        self.critic = nn.Sequential(
            layer(n_obs, 128), nn.Tanh(), layer(128, 128), nn.Tanh(), layer(128, 1, std=1.0)
        )
        self.actor = nn.Sequential(
            layer(n_obs, 128), nn.Tanh(), layer(128, 128), nn.Tanh(), layer(128, n_actions, 0.01)
        )

    def get_value(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(x)

    def get_action_and_value(self, x: torch.Tensor, mask: torch.Tensor, action=None):
        logits = self.actor(x).masked_fill(~mask, -1e8)  # illegal actions get no probability
        probs = Categorical(logits=logits)
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action), probs.entropy(), self.critic(x)


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    # held-out stores are refused (by name and by content) before any is read
    stores = [ref.spec for ref in identify_stores(args.stores, refuse_held_out="training")]
    batch_size = args.num_envs * args.num_steps
    minibatch_size = batch_size // args.num_minibatches
    num_iterations = max(1, args.total_timesteps // batch_size)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # a small network: extra threads cost more than they give

    envs = gym.vector.SyncVectorEnv(
        [make_env(stores, args.token_penalty, args.max_branches) for _ in range(args.num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    n_obs = int(np.prod(envs.single_observation_space.shape))
    n_actions = int(envs.single_action_space.n)
    agent = Agent(n_obs, n_actions)
    with torch.no_grad():  # explore long episodes first: stopping is learned, not the default
        agent.actor[-1].bias[[Macro.ANSWER, Macro.SUBMIT_FINISHED]] -= args.stop_prior
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)

    # rollout storage
    obs = torch.zeros((args.num_steps, args.num_envs, n_obs))
    masks = torch.zeros((args.num_steps, args.num_envs, n_actions), dtype=torch.bool)
    actions = torch.zeros((args.num_steps, args.num_envs), dtype=torch.long)
    logprobs = torch.zeros((args.num_steps, args.num_envs))
    rewards = torch.zeros((args.num_steps, args.num_envs))
    dones = torch.zeros((args.num_steps, args.num_envs))
    values = torch.zeros((args.num_steps, args.num_envs))
    episode_returns: deque[float] = deque(maxlen=200)
    first_returns: list[float] = []

    start_time = time.time()
    raw_obs, infos = envs.reset(seed=args.seed)
    next_obs = torch.tensor(raw_obs)
    next_mask = torch.tensor(infos["action_mask"].astype(bool))
    next_done = torch.zeros(args.num_envs)
    for iteration in range(1, num_iterations + 1):
        frac = 1.0 - (iteration - 1.0) / num_iterations  # linear learning-rate annealing
        optimizer.param_groups[0]["lr"] = frac * args.learning_rate

        for step in range(args.num_steps):
            obs[step], masks[step], dones[step] = next_obs, next_mask, next_done
            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(next_obs, next_mask)
            values[step] = value.flatten()
            actions[step], logprobs[step] = action, logprob
            raw_obs, reward, terminated, truncated, infos = envs.step(action.numpy())
            rewards[step] = torch.tensor(reward, dtype=torch.float32)
            next_obs = torch.tensor(raw_obs)
            next_done = torch.tensor(np.logical_or(terminated, truncated), dtype=torch.float32)
            next_mask = torch.tensor(infos["action_mask"].astype(bool))
            if "final_info" in infos:  # envs whose episode ended (and were reset) this step
                final = infos["final_info"]
                for episode_return in final["episode"]["r"][final["_episode"]]:
                    episode_returns.append(float(episode_return))
                    if len(first_returns) < 200:
                        first_returns.append(float(episode_return))

        # generalized advantage estimation (bootstrapped from the value of the next state)
        with torch.no_grad():
            next_value = agent.get_value(next_obs).reshape(1, -1)
            advantages = torch.zeros_like(rewards)
            lastgaelam = 0
            for t in reversed(range(args.num_steps)):
                if t == args.num_steps - 1:
                    nextnonterminal, nextvalues = 1.0 - next_done, next_value
                else:
                    nextnonterminal, nextvalues = 1.0 - dones[t + 1], values[t + 1]
                delta = rewards[t] + args.gamma * nextvalues * nextnonterminal - values[t]
                lastgaelam = delta + args.gamma * args.gae_lambda * nextnonterminal * lastgaelam
                advantages[t] = lastgaelam
            returns = advantages + values

        # flatten the batch
        b_obs, b_masks = obs.reshape(-1, n_obs), masks.reshape(-1, n_actions)
        b_actions, b_logprobs = actions.reshape(-1), logprobs.reshape(-1)
        b_advantages, b_returns = advantages.reshape(-1), returns.reshape(-1)

        # optimize the policy and value networks
        b_inds = np.arange(batch_size)
        for _ in range(args.update_epochs):
            np.random.shuffle(b_inds)
            for start in range(0, batch_size, minibatch_size):
                mb = b_inds[start : start + minibatch_size]
                _, newlogprob, entropy, newvalue = agent.get_action_and_value(
                    b_obs[mb], b_masks[mb], b_actions[mb]
                )
                ratio = (newlogprob - b_logprobs[mb]).exp()
                mb_adv = b_advantages[mb]
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                pg_loss = torch.max(
                    -mb_adv * ratio,
                    -mb_adv * torch.clamp(ratio, 1 - args.clip_coef, 1 + args.clip_coef),
                ).mean()
                v_loss = 0.5 * ((newvalue.view(-1) - b_returns[mb]) ** 2).mean()
                loss = pg_loss - args.ent_coef * entropy.mean() + args.vf_coef * v_loss
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()

        steps = iteration * batch_size
        mean_return = np.mean(episode_returns) if episode_returns else float("nan")
        print(
            f"step {steps:>8}  mean return (last {len(episode_returns)} episodes) "
            f"{mean_return:.3f}  {steps / (time.time() - start_time):.0f} steps/s"
        )
    envs.close()
    return {
        "first_return": float(np.mean(first_returns)),
        "last_return": float(np.mean(episode_returns)),
    }


if __name__ == "__main__":
    main()
