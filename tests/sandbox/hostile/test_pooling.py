"""Pooling what earlier episodes revealed (a module global, a class attribute) to answer
later ones cheaply: a secret sample of episodes is replayed alone in fresh processes, where
the pool is empty, so the controller acts differently there and is rejected, saying so.

The sweep has 12 orders per question, so that every sandboxed process plays each question
several times (with few orders, a question's episodes all land in different processes and a
pool never fills: the attack then plays honestly)."""

import pytest

from tests.sandbox.support import assert_rejected, play

ORDERS = 12

MODULE_GLOBAL = """
    from collections import Counter

    POOL = Counter()  # final answers of every episode so far, all questions together


    class Controller:
        def __init__(self, beta=0.5):
            self.beta = beta

        def solve(self, q):
            votes = Counter()
            while q.can_branch and len(votes) < 6:
                answer = q.read()
                votes[answer] += 1
                POOL[answer] += 1
                if POOL[answer] >= 3:  # seen often before: answer now, cheaply
                    return answer
            return votes.most_common(1)[0][0] if votes else None
"""

CLASS_ATTRIBUTE = (
    MODULE_GLOBAL.replace("POOL = Counter()", "")
    .replace(
        "        def __init__(self, beta=0.5):",
        "        pool = Counter()\n\n        def __init__(self, beta=0.5):",
    )
    .replace("POOL[", "Controller.pool[")
)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_module_global_pool_is_caught_whatever_the_secret_seed(tmp_path, seed: int) -> None:
    run, _ = play(tmp_path, MODULE_GLOBAL, seed=seed, orders=ORDERS)
    assert_rejected(run, "replayed alone in a fresh process, it acted differently")


def test_a_class_attribute_pool_is_caught(tmp_path) -> None:
    run, _ = play(tmp_path, CLASS_ATTRIBUTE, seed=None, orders=ORDERS)  # a seed drawn afresh
    assert_rejected(run, "replayed alone in a fresh process, it acted differently")
