"""A new controller in a few lines, scored against the paper's baselines on the same orders.

python examples/custom_controller.py [--stores autotts/qwen3-8b/aime24] [--orders 20]
tts-gym eval --policy examples/custom_controller.py:FirstToThree --stores autotts/qwen3-8b/aime24

`FirstToThree` is an imperative controller: it opens branches in small waves, advances the
live ones in lockstep, and answers as soon as three finished branches agree.
"""

import argparse
from collections import Counter

from tts_gym.control.builtin import AdaptiveConsistency, ConfidenceMomentum
from tts_gym.evaluation import compare, evaluate


class FirstToThree:
    name = "FirstToThree"

    def __init__(self, wave: int = 4, max_branches: int = 32, agree: int = 3):
        self.wave, self.max_branches, self.agree = wave, max_branches, agree

    def solve(self, q):
        live, finals = [], Counter()
        while True:
            if len(live) < self.wave and q.n_open < self.max_branches and q.can_branch:
                answer, slot, finished = q.branch()
                if finished:
                    finals[answer] += 1
                else:
                    live.append(slot)
            elif not live:  # nothing left to advance or open
                break
            for slot in list(live):
                answer, finished = q.advance(slot)
                if finished:
                    live.remove(slot)
                    finals[answer] += 1
            if finals and finals.most_common(1)[0][1] >= self.agree:
                break
        return finals.most_common(1)[0][0] if finals else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", nargs="+", default=["autotts/qwen3-8b/aime24"])
    parser.add_argument("--orders", type=int, default=20)
    args = parser.parse_args(argv)

    controllers = [FirstToThree(), AdaptiveConsistency(), ConfidenceMomentum(0.5)]
    cells = evaluate(controllers, args.stores, protocol="default", n_orders=args.orders)
    for cell in cells:
        low, high = cell.acc_ci
        print(
            f"{cell.store.name:26s} {cell.method:16s} accuracy {cell.acc:5.1f}% "
            f"[{low:.1f}, {high:.1f}]  tokens {cell.tokens_k:7.1f}k"
        )
    for ours, asc in zip(cells[::3], cells[1::3], strict=True):
        diff = compare(asc, ours)
        print(
            f"{ours.store.name}: {ours.method} - ASC = {diff.d_acc:+.1f} points "
            f"[{diff.d_acc_ci[0]:+.1f}, {diff.d_acc_ci[1]:+.1f}], "
            f"{diff.d_tokens_k:+.1f}k tokens per question"
        )


# run as a script only: the file is also a policy file (`--policy FILE.py:FirstToThree`)
if __name__ == "__main__":
    main()
