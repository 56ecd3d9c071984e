"""Spends less as beta grows (beta is read backwards)."""

from collections import Counter


class Controller:
    def __init__(self, beta: float = 0.5) -> None:
        self.width = 2 + round(14 * (1 - min(1.0, max(0.0, beta))))

    def solve(self, q):
        votes = Counter(q.read() for _ in range(self.width) if q.can_branch)
        return votes.most_common(1)[0][0] if votes else None
