"""Never returns: waits for a consensus that its loop never re-checks."""


class Controller:
    def __init__(self, beta: float = 0.5) -> None:
        self.beta = beta

    def solve(self, q):
        answer, _, _ = q.branch()
        while True:
            pass
