"""Frames reached through a caught exception's traceback lead to the sandbox's own code,
which holds proxies and revealed answers, never the parent's episode."""

from tests.sandbox.support import assert_only_what_it_revealed, play

ATTACK = """
    class Controller:
        def __init__(self, beta=0.5):
            self.beta = beta

        def solve(self, q):
            try:
                raise RuntimeError("look around")
            except RuntimeError as error:
                frame = error.__traceback__.tb_frame
            while frame is not None:
                for value in list(frame.f_locals.values()):
                    for name in ("episode", "_episode", "question"):
                        target = getattr(value, name, None)
                        question = getattr(target, "question", target)
                        if hasattr(question, "gold"):
                            return question.gold  # the answer, for no tokens
                frame = frame.f_back
            return q.read()
"""


def test_traceback_frames_hold_nothing_of_the_episode(tmp_path) -> None:
    run, store = play(tmp_path, ATTACK)
    assert_only_what_it_revealed(run, store)
    assert all((outcomes.tokens > 0).all() for outcomes in run.outcomes.values())
