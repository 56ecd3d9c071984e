"""Walking the interpreter's objects with `gc`: the audit hook ends the process at once (and
the process holds no episode to find; see test_sys_modules_walk)."""

from tests.sandbox.support import assert_rejected, play

ATTACK = """
    import gc


    class Controller:
        def __init__(self, beta=0.5):
            self.beta = beta

        def solve(self, q):
            for obj in gc.get_objects():
                if type(obj).__name__ == "Question":
                    return obj.gold
            return q.read()
"""


def test_a_gc_walk_is_refused(tmp_path) -> None:
    run, _ = play(tmp_path, ATTACK)
    assert_rejected(run, "the sandbox stopped it: it walked the interpreter's objects")
