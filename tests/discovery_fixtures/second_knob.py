"""Exposes a second knob besides beta."""


class Controller:
    def __init__(self, beta: float = 0.5, width: int = 8) -> None:
        self.beta = beta
        self.width = width

    def solve(self, q):
        answers = [q.read() for _ in range(self.width) if q.can_branch]
        return max(set(answers), key=answers.count) if answers else None
