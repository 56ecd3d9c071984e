"""Branch orders: which permutation of a question's branches each evaluated episode replays.

`autotts` is the paper's protocol (docs/design.md): order `s` is the stored branch
list shuffled by `random.Random(s)`, the same for every question, s = 0..n-1. `default` draws
per-question permutations from numpy's seeded generator, so questions are independent draws
and the bootstrap over questions is meaningful; two controllers evaluated with the same
protocol see the same orders, which is what makes paired comparisons tight.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tts_gym.errors import TTSGymError

PROTOCOLS = ("autotts", "default")


def autotts_orders(n_branches: int, n: int = 100) -> list[list[int]]:
    """The paper's orders: `list(range(n_branches))` shuffled by `random.Random(s)`."""
    return [list(o) for o in _autotts_orders(n_branches, n)]


@lru_cache(maxsize=16)
def _autotts_orders(n_branches: int, n: int) -> tuple[tuple[int, ...], ...]:
    orders = []
    for s in range(n):
        order = list(range(n_branches))
        random.Random(s).shuffle(order)
        orders.append(tuple(order))
    return tuple(orders)


def numpy_orders(n_branches: int, n: int, seed: int | Sequence[int]) -> list[list[int]]:
    """`n` permutations from `numpy.random.default_rng(seed)`."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(n_branches).tolist() for _ in range(n)]


@dataclass(frozen=True)
class Protocol:
    """How episodes are drawn; called as `protocol(question_index, n_branches) -> orders`."""

    name: str = "default"
    n_orders: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        if self.name not in PROTOCOLS:
            raise TTSGymError(f"unknown protocol '{self.name}'; use one of {', '.join(PROTOCOLS)}.")
        if not _is_int(self.n_orders) or self.n_orders < 1:
            raise TTSGymError(
                f"the number of orders must be an integer of at least 1, got {self.n_orders!r}."
            )
        if not _is_int(self.seed) or self.seed < 0:
            raise TTSGymError(f"a seed is an integer of at least 0, got {self.seed!r}.")

    def __call__(self, question_index: int, n_branches: int) -> Sequence[Sequence[int]]:
        if self.name == "autotts":
            return _autotts_orders(n_branches, self.n_orders)
        return numpy_orders(n_branches, self.n_orders, (self.seed, question_index))

    @property
    def reports_intervals(self) -> bool:
        """Confidence intervals are part of the default protocol's report, not the paper's."""
        return self.name == "default"

    def describe(self) -> str:
        if self.name == "autotts":
            return f"autotts ({self.n_orders} random.Random(s) orders, s = 0..{self.n_orders - 1})"
        return f"default ({self.n_orders} numpy orders per question, seed {self.seed})"


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def get_protocol(protocol: str | Protocol, n_orders: int | None = None, seed: int = 0) -> Protocol:
    if isinstance(protocol, Protocol):
        return protocol
    return Protocol(protocol, 100 if n_orders is None else n_orders, seed)
