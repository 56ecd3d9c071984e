"""A confidence-aware step policy: drop branches whose latest segment looks unsure.

python examples/confidence_controller.py [--store STORE.json] [--orders 20]

Stores built by `tts-gym collect` carry per-segment token confidence (`segment_confidence`),
which TTSControl-v0 shows as the `confidence` column of `obs["slots"]`. `ConfidenceGate` keeps
`width` branches running, prunes one whose last segment's confidence falls below `threshold`
(DeepConf's idea, online), and answers once the finished branches' Beta-majority confidence
passes `stop_at`. With `threshold=0` it ignores confidence, which is the comparison printed.
Without `--store` it runs on a synthetic store with confidence (`generate_store`).
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np

from tts_gym import ActionKind, encode_action
from tts_gym.env import GLOBAL_FEATURES, SLOT_FEATURES
from tts_gym.evaluation import evaluate
from tts_gym.store.synthetic import generate_store, write_store

S = {name: i for i, name in enumerate(SLOT_FEATURES)}
G = {name: i for i, name in enumerate(GLOBAL_FEATURES)}


class ConfidenceGate:
    env_kwargs = {"max_branches": 32}

    def __init__(self, width: int = 6, threshold: float = 0.3, stop_at: float = 0.9):
        self.width, self.threshold, self.stop_at = width, threshold, stop_at
        self.name = f"ConfidenceGate(threshold={threshold})"

    def act(self, obs: dict, info: dict) -> int:
        slots, mask, m = obs["slots"], info["action_mask"], self.env_kwargs["max_branches"]
        finished = slots[:, S["finished"]].sum()
        if finished >= 3 and obs["globals"][G["finished_confidence"]] >= self.stop_at:
            return int(ActionKind.ANSWER)
        alive = np.flatnonzero(slots[:, S["alive"]])
        unsure = alive[
            (slots[alive, S["confidence"]] < self.threshold) & (slots[alive, S["depth"]] > 0)
        ]
        if len(unsure) and len(alive) > 1:
            return encode_action(ActionKind.PRUNE, int(unsure[0]), m)
        if len(alive) < self.width and mask[ActionKind.BRANCH]:
            return int(ActionKind.BRANCH)
        if len(alive):  # advance the shallowest live branch
            slot = int(alive[np.argmin(slots[alive, S["depth"]])])
            return encode_action(ActionKind.CONTINUE, slot, m)
        return int(ActionKind.ANSWER)


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--store", help="a store with segment_confidence (default: synthetic)")
parser.add_argument("--orders", type=int, default=20)
args = parser.parse_args()

with tempfile.TemporaryDirectory() as folder:
    store = args.store or str(
        write_store(generate_store(20, 32, seed=0, confidence=True), Path(folder) / "conf.json")
    )
    policies = [ConfidenceGate(threshold=0.3), ConfidenceGate(threshold=0.0)]
    for cell in evaluate(policies, store, n_orders=args.orders, seed=0):
        low, high = cell.acc_ci
        print(
            f"{cell.method:28s} accuracy {cell.acc:5.1f}% [{low:.1f}, {high:.1f}]"
            f"  tokens {cell.tokens_k:6.1f}k"
        )
