"""The confinement layers one by one, each exercised on its own in a child process.

The kernel layers (network namespace, Landlock, seccomp) skip themselves, saying so, where
the kernel refuses them; the audit hook holds everywhere.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import REPO_ROOT
from tts_gym.errors import TTSGymError
from tts_gym.sandbox import check_out_of_reach
from tts_gym.sandbox import run as sandbox_run
from tts_gym.sandbox.confine import VIOLATION_EXIT
from tts_gym.store import load_store
from tts_gym.store.synthetic import generate_store, write_store

HOOK = """
    import sys
    from pathlib import Path
    from tts_gym.sandbox.audit import install_audit_hook
    from tts_gym.sandbox.confine import readable_roots
    install_audit_hook(readable_roots(), Path.cwd(), lambda r: print("refused:", r))
    open("inside.txt", "w").write("its own folder is writable")
"""


ATTEMPT = """
def attempt(*actions):
    for action in actions:
        try:
            action()
            print("allowed")
        except PermissionError:
            print("denied")
"""
"""Child code: `attempt(...)` prints whether each action was allowed or denied."""


def run_child(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", ATTEMPT + textwrap.dedent(code)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_network_namespace_cuts_off_loopback(tmp_path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        child = run_child(
            f"""
            import socket
            from tts_gym.sandbox.confine import isolate_network
            print(isolate_network())
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=2)
                print("connected")
            except OSError as error:
                print("refused", type(error).__name__)
            """,
            tmp_path,
        )
    how, outcome = child.stdout.splitlines()
    if how == "None":
        pytest.skip("this OS does not let an unprivileged process make a network namespace")
    assert outcome.startswith("refused"), child.stdout


def test_landlock_confines_reads_and_writes(tmp_path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("gold")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    child = run_child(
        f"""
        import os
        from pathlib import Path
        from tts_gym.sandbox.confine import readable_roots
        from tts_gym.sandbox.landlock import landlock
        how, _ = landlock(readable_roots(), Path("{scratch}"))
        print(how)
        attempt(
            lambda: open("{outside}").read(),
            lambda: open("{tmp_path}/new", "w"),
            lambda: os.mkfifo("{tmp_path}/fifo"),
        )
        Path("{scratch}/ok.txt").write_text("fine")
        print("scratch ok")
        """,
        scratch,
    )
    lines = child.stdout.splitlines()
    if lines and lines[0] == "None":
        pytest.skip("this kernel has no Landlock")
    assert lines[1:] == ["denied", "denied", "denied", "scratch ok"], child.stdout + child.stderr


def test_seccomp_refuses_processes_but_not_threads(tmp_path) -> None:
    child = run_child(
        """
        import os, threading
        from tts_gym.sandbox.seccomp import seccomp_no_processes
        print(seccomp_no_processes())
        worker = threading.Thread(target=lambda: print("thread ok"))
        worker.start()
        worker.join()
        attempt(os.fork, lambda: os.execv("/bin/true", ["true"]), lambda: os.mkfifo("f"))
        """,
        tmp_path,
    )
    lines = child.stdout.splitlines()
    if lines and lines[0] == "None":
        pytest.skip("no seccomp filter on this OS or machine")
    assert lines[1:] == ["thread ok", "denied", "denied", "denied"], child.stdout + child.stderr


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (f"open('{REPO_ROOT / 'README.md'}')", "read"),
        ("import os; os.listdir('..')", "listed"),
        ("import socket; socket.socket()", "opened a network socket"),
        ("import subprocess; subprocess.run(['true'])", "started a process"),
        ("open('/tmp/elsewhere', 'w')", "wrote"),
        ("import os; os.open('.', os.O_RDONLY)", "opened the folder"),
        ("import os; os.mkdir('escape', dir_fd=0)", "changed escape outside its folder"),
        ("import os; os.mkfifo('fifo')", "made a fifo or device node (os.mkfifo)"),
        ("import os; os.mknod('node')", "made a fifo or device node (os.mknod)"),
        ("import os; os.symlink('/etc', 'link')", "created a link"),
    ],
)
def test_audit_hook_ends_the_process_on_the_first_refused_action(tmp_path, action, reason):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    child = run_child(
        HOOK
        + f"""
    try:
        {action}
    except BaseException:
        print("caught")  # never reached: the hook ends the process
    """,
        scratch,
    )
    assert child.returncode == VIOLATION_EXIT, (action, child.stdout, child.stderr)
    assert child.stdout.startswith(f"refused: {reason}"), (action, child.stdout)
    assert (scratch / "inside.txt").is_file()


def test_the_audit_hook_resolves_dir_fd_inside_the_folder(tmp_path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    child = run_child(
        HOOK
        + """
    import os
    fd = os.open("inside.txt", os.O_RDONLY)
    os.mkdir("sub")
    os.rename("inside.txt", "sub/moved.txt")
    print("ok")
    """,
        scratch,
    )
    assert child.stdout.strip() == "ok", child.stdout + child.stderr
    assert (scratch / "sub" / "moved.txt").is_file()


def test_stores_inside_readable_roots_are_refused(tmp_path, monkeypatch) -> None:
    store = load_store(write_store(generate_store(2, 4, seed=0), tmp_path / "s.json"))
    monkeypatch.setattr(sandbox_run, "readable_roots", lambda: [tmp_path])
    with pytest.raises(TTSGymError, match="sandboxed controllers can read"):
        check_out_of_reach([store])
