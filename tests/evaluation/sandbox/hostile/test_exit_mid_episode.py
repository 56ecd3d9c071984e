"""Leaving in the middle of an episode, with `os._exit` (no cleanup) or `sys.exit` (an
exception): the parent computes every result itself, so the run is a rejection saying how."""

from tests.evaluation.sandbox.support import assert_rejected, play

ATTACK = """
    import os
    import sys


    class Controller:
        def __init__(self, beta=0.5):
            self.beta = beta

        def solve(self, q):
            q.branch()
            {leave}
"""


def test_os_exit_mid_episode(tmp_path) -> None:
    run, _ = play(tmp_path, ATTACK.replace("{leave}", "os._exit(3)"))
    assert_rejected(run, "its process ended in the middle of the run (exit status 3)")


def test_sys_exit_mid_episode(tmp_path) -> None:
    run, _ = play(tmp_path, ATTACK.replace("{leave}", "sys.exit(0)"))
    assert_rejected(run, "SystemExit")
