"""Starting processes: `os.fork` (a fork bomb), and `_posixsubprocess.fork_exec`, which Python
does not audit, both end the run at the first try; with the kernel layers, seccomp refuses
fork and exec as well. No process of the run outlives it."""

import pytest

from tests.sandbox.support import assert_rejected, controller, play

FORK_BOMB = controller("while True:\n    os.fork()", "import os")

FORK_EXEC = controller(
    """
    forker = sys.modules["_posix" + "subprocess"]
    forker.fork_exec(["/bin/true"], [b"/bin/true"], True, (), None, None, -1, -1, -1, -1, -1,
                     -1, -1, -1, False, False, 0, None, None, None, -1, None, False)
    return q.read()
    """,
    "import sys",
)


@pytest.mark.parametrize("kernel", [False, True])
def test_a_fork_bomb_is_refused_at_the_first_fork(tmp_path, kernel: bool) -> None:
    run, _ = play(tmp_path, FORK_BOMB, kernel=kernel)
    assert_rejected(run, "the sandbox stopped it: it started a process (os.fork)")


def test_fork_exec_which_python_does_not_audit_is_refused(tmp_path) -> None:
    run, _ = play(tmp_path, FORK_EXEC)
    assert_rejected(run, "the sandbox stopped it: it started a process (_posixsubprocess")
