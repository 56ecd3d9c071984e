"""Returns the number of votes instead of the answer."""


class Controller:
    def __init__(self, beta: float = 0.5) -> None:
        self.beta = beta

    def solve(self, q):
        q.read()
        return 42
