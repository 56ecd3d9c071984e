"""Asks a server for help: imports socket outright."""

import socket


class Controller:
    def __init__(self, beta: float = 0.5) -> None:
        self.beta = beta

    def solve(self, q):
        with socket.create_connection(("127.0.0.1", 80), timeout=1) as connection:
            connection.sendall(b"answer?")
        return q.read()
