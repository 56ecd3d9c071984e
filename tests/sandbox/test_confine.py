"""The confinement layers one by one, each exercised on its own in a child process.

The kernel layers (network namespace, Landlock, seccomp) skip themselves, saying so, where
the kernel refuses them; the audit hook holds everywhere.
"""

from __future__ import annotations

import os
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


# what native code could ask of the kernel (ctypes, the way a C extension would): each call
# on another process, and each channel between sandboxed processes, refused; on itself allowed
NATIVE = {
    "shmget": ("libc.shmget(0, 4096, 0o1600)", "EPERM"),  # IPC_PRIVATE | IPC_CREAT
    "semget": ("libc.semget(0, 1, 0o1600)", "EPERM"),
    "msgget": ("libc.msgget(0, 0o1600)", "EPERM"),
    "socket": ("libc.socket(1, 1, 0)", "EPERM"),  # AF_UNIX, SOCK_STREAM
    "flock": ("libc.flock(0, 2)", "EPERM"),
    "kill_group": ("libc.kill(0, 0)", "EPERM"),
    "kill_all": ("libc.kill(-1, 0)", "EPERM"),
    "kill_other": ("libc.kill(OTHER, 0)", "EPERM"),
    "renice_other": ("libc.setpriority(0, OTHER, 19)", "EPERM"),
    "renice_user": ("libc.setpriority(2, 0, 19)", "EPERM"),
    "pin_other": ("libc.sched_setaffinity(OTHER, 8, ctypes.byref(ctypes.c_uint64(1)))", "EPERM"),
    "limits_other": ("libc.prlimit(OTHER, 4, None, ctypes.byref(LIMIT))", "EPERM"),
    "pidfd": ("libc.syscall(434, OTHER, 0)", "EPERM"),
    "unshare": ("libc.unshare(0x20000)", "EPERM"),  # CLONE_NEWNS
    "setsid": ("libc.setsid()", "EPERM"),
    "renice_self": ("libc.setpriority(0, 0, 1)", "ok"),
    "limits_self": ("libc.prlimit(0, 4, None, ctypes.byref(LIMIT))", "ok"),
    "kill_self": ("libc.kill(os.getpid(), 0)", "ok"),
}


def test_seccomp_refuses_what_native_code_could_do_to_others(tmp_path) -> None:
    other = subprocess.Popen(["sleep", "60"])
    try:
        calls = "\n".join(f"report({name!r}, {call})" for name, (call, _) in NATIVE.items())
        child = run_child(
            textwrap.dedent(f"""
            import ctypes, errno, os
            from tts_gym.sandbox.seccomp import seccomp_no_processes
            libc = ctypes.CDLL(None, use_errno=True)
            OTHER, LIMIT = {other.pid}, (ctypes.c_uint64 * 2)()
            def report(name, result):
                print(name, "ok" if result >= 0 else errno.errorcode[ctypes.get_errno()])
            print(seccomp_no_processes())
            """)
            + calls,
            tmp_path,
        )
        nice = os.getpriority(os.PRIO_PROCESS, other.pid)
    finally:
        other.kill()
        other.wait()
    lines = child.stdout.splitlines()
    if lines and lines[0] == "None":
        pytest.skip("no seccomp filter on this OS or machine")
    found = dict(line.split() for line in lines[1:])
    assert found == {name: outcome for name, (_, outcome) in NATIVE.items()}, child.stderr
    assert nice == 0


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
