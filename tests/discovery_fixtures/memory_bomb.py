"""Allocates without bound: a cache that never evicts."""


class Controller:
    def __init__(self, beta: float = 0.5) -> None:
        self.beta = beta

    def solve(self, q):
        cache = []
        while True:
            cache.append(bytearray(50_000_000))
