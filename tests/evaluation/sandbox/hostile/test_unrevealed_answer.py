"""Answering with a string the episode never revealed (a guess, or an answer pooled from
another episode): the parent accepts only answers that episode's own actions revealed."""

from tests.evaluation.sandbox.support import assert_rejected, play

ATTACK = """
    class Controller:
        def __init__(self, beta=0.5):
            self.beta = beta

        def solve(self, q):
            q.branch()
            return "42"
"""


def test_an_answer_never_revealed_is_a_rejection(tmp_path) -> None:
    run, _ = play(tmp_path, ATTACK)
    assert_rejected(run, "it answered '42', which that episode never revealed")
