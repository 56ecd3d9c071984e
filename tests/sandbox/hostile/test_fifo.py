"""Fifos and device nodes: Python does not audit `os.mkfifo` and `os.mknod`, so the sandbox
replaces them with refusals before the candidate loads (seccomp refuses mknod at the kernel
where offered); nothing is created."""

import pytest

from tests.sandbox.support import assert_rejected, controller, play


@pytest.mark.parametrize("call", ["mkfifo", "mknod"])
def test_fifos_are_refused_outside_and_inside_the_folder(tmp_path, call: str) -> None:
    outside = tmp_path / "fifo"
    for path in (outside, "inside"):
        run, _ = play(tmp_path, controller(f'os.{call}("{path}")\nreturn q.read()', "import os"))
        assert_rejected(run, f"the sandbox stopped it: it made a fifo or device node (os.{call})")
    assert not outside.exists()
