"""Writing outside the folder relative to a folder descriptor (`dir_fd`): os.open's audit
event does not carry `dir_fd`, so the hook never hands out a folder descriptor (opening a
folder ends the run), and the events that carry one are resolved against it."""

import pytest

from tests.sandbox.support import assert_rejected, controller, play


@pytest.mark.parametrize(
    ("write", "reason"),
    [
        (
            "fd = os.open('..', os.O_RDONLY | os.O_DIRECTORY)",
            "the sandbox stopped it: it read .. outside its folder",
        ),
        (
            "fd = os.open('.', os.O_RDONLY)",
            "the sandbox stopped it: it opened the folder . (folder descriptors",
        ),
        ("os.mkdir('escape', dir_fd=0)", "the sandbox stopped it: it changed escape outside"),
        ("os.rename('candidate.py', '/tmp/moved.py')", "changed /tmp/moved.py outside"),
    ],
)
def test_writes_relative_to_a_folder_descriptor_are_refused(tmp_path, write, reason) -> None:
    run, _ = play(tmp_path, controller(f"{write}\nreturn q.read()", "import os"))
    assert_rejected(run, reason)
