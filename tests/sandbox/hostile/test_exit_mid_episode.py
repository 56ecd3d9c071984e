"""Leaving in the middle of an episode, with `os._exit` (no cleanup) or `sys.exit` (an
exception): the parent computes every result itself, so the run is a rejection saying how."""

from tests.sandbox.support import assert_rejected, controller, play


def test_os_exit_mid_episode(tmp_path) -> None:
    run, _ = play(tmp_path, controller("q.branch()\nos._exit(3)", "import os"))
    assert_rejected(run, "its code ended its process (exit status 3) in the middle of the run")


def test_sys_exit_mid_episode(tmp_path) -> None:
    run, _ = play(tmp_path, controller("q.branch()\nsys.exit(0)", "import sys"))
    assert_rejected(run, "SystemExit")
