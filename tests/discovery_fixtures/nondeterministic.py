"""Opens a random number of branches from an unseeded generator."""

import random
from collections import Counter


class Controller:
    def __init__(self, beta: float = 0.5) -> None:
        self.beta = beta

    def solve(self, q):
        width = 1 + round(random.random() * 6 * (1 + self.beta))
        votes = Counter(q.read() for _ in range(width) if q.can_branch)
        return votes.most_common(1)[0][0] if votes else None
