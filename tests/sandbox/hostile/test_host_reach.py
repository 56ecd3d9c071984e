"""The host out of reach: each layer the isolation report claims, tried by what it stops.

From inside a session: renicing, pinning or probing a process outside the sandbox, pidfds,
POSIX shared memory and named semaphores, and `stat`/`statvfs` of host paths (a store, the
temp folder, a host pid's /proc entry). From outside: the worker's and its sessions'
namespaces, seccomp mode and capabilities, read from /proc while a run is on.

The namespace probes need bubblewrap (they skip, saying so, where it is missing); the seccomp
probes need a kernel with seccomp; where a layer is missing the report must say so.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.sandbox.support import LIMITS, play, probe, small_store
from tests.support import sandboxed_processes
from tts_gym.sandbox import missing_core_layers
from tts_gym.sandbox.namespaces import missing_reason
from tts_gym.sandbox.seccomp import available as seccomp_available

NO_NAMESPACES = missing_reason()
needs_namespaces = pytest.mark.skipif(
    NO_NAMESPACES is not None, reason=f"no namespaces here: {NO_NAMESPACES}"
)
needs_seccomp = pytest.mark.skipif(not seccomp_available(), reason="no seccomp on this machine")


@pytest.fixture
def bystander():
    """A process outside the sandbox: its pid, and its nice value and CPUs before."""
    process = subprocess.Popen(["sleep", "60"])
    before = os.getpriority(os.PRIO_PROCESS, process.pid), os.sched_getaffinity(process.pid)
    yield process.pid, before
    process.kill()
    process.wait()


@needs_seccomp
def test_other_processes_cannot_be_reniced_pinned_or_probed(tmp_path, bystander) -> None:
    pid, before = bystander
    found = probe(
        tmp_path,
        {
            "renice": f"os.setpriority(os.PRIO_PROCESS, {pid}, 19)",
            "renice_user": "os.setpriority(os.PRIO_USER, 0, 19)",
            "renice_group": "os.setpriority(os.PRIO_PGRP, 0, 19)",
            "pin": f"os.sched_setaffinity({pid}, {{0}})",
            "nice_of": f"os.getpriority(os.PRIO_PROCESS, {pid})",
            "cpus_of": f"os.sched_getaffinity({pid})",
            "policy_of": f"os.sched_getscheduler({pid})",
            "pidfd": f"os.pidfd_open({pid})",
            "renice_self": "os.setpriority(os.PRIO_PROCESS, 0, 1)",
        },
    )
    assert found.pop("renice_self") == "ok"  # on itself it may
    assert set(found.values()) <= {"EPERM", "ESRCH"}, found
    assert (os.getpriority(os.PRIO_PROCESS, pid), os.sched_getaffinity(pid)) == before


@needs_namespaces
def test_host_paths_and_pids_cannot_even_be_statted(tmp_path, bystander) -> None:
    pid, _ = bystander
    store = small_store(tmp_path)
    found = probe(
        tmp_path,
        {
            "store": f"os.stat({str(store.path)!r})",
            "its_folder": f"os.stat({str(tmp_path)!r})",
            "temp": f"os.statvfs({str(Path(tmp_path).parent)!r})",
            "host_pid": f"os.stat('/proc/{pid}')",
            "parent_pid": f"os.stat('/proc/{os.getpid()}')",
            "passwd": "os.stat('/etc/passwd')",
            "etc": "os.readlink('/etc/localtime')",
        },
        store=store,
    )
    assert set(found.values()) == {"ENOENT"}, found


@needs_namespaces
def test_no_shared_memory_or_named_semaphores(tmp_path) -> None:
    found = probe(
        tmp_path,
        {
            "shm": "shared_memory.SharedMemory(create=True, size=64, name='tts-gym-probe')",
            "sem": "_multiprocessing.SemLock(1, 1, 1, '/tts-gym-probe', False)",
        },
        header="import _multiprocessing\nfrom multiprocessing import shared_memory\n",
    )
    assert "ok" not in found.values(), found
    assert not list(Path("/dev/shm").glob("*tts-gym-probe*"))


@needs_namespaces
@needs_seccomp
def test_the_layers_hold_as_seen_from_outside(tmp_path) -> None:
    """While a run is on: the worker and its sessions are in namespaces of their own, hold no
    capability, and the sessions run under seccomp."""
    never = "class Controller:\n    def __init__(self, beta=0.5):\n        pass\n" + (
        "    def solve(self, q):\n        q.read()\n        while True:\n            pass\n"
    )
    seen: dict[int, dict[str, str]] = {}

    def watch() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(seen) < 3:
            for pid in sandboxed_processes(os.getpid(), launcher=False):
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                    fields = dict(line.split(":\t", 1) for line in status.splitlines())
                    for name in ("pid", "ipc", "mnt", "net", "uts"):
                        fields[name] = os.readlink(f"/proc/{pid}/ns/{name}")
                except OSError:
                    continue
                seen[pid] = fields
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    limits = type(LIMITS)(4, 10, 1024)
    run, _ = play(tmp_path, never, kernel=True, limits=limits, orders=1, replays=0)
    watcher.join()
    assert "wall-time limit" in run.problems[0]
    assert len(seen) >= 2, "no sandboxed process seen"
    for fields in seen.values():
        for name in ("pid", "ipc", "mnt", "net", "uts"):
            assert fields[name] != os.readlink(f"/proc/self/ns/{name}"), name
        assert int(fields["CapEff"], 16) == 0 and fields["NoNewPrivs"].strip() == "1"
    assert any(fields["Seccomp"].strip() == "2" for fields in seen.values())  # the sessions
    for layer in ("namespaces", "processes", "session", "filesystem"):
        assert not run.isolation[layer].startswith("missing"), run.isolation


def test_the_report_says_which_core_layers_are_missing(tmp_path) -> None:
    run, _ = play(tmp_path, "class Controller:\n    pass\n", kernel=True, replays=0, orders=1)
    missing = missing_core_layers()
    namespaces = run.isolation["namespaces"]
    assert namespaces.startswith("missing") == (NO_NAMESPACES is not None)
    assert ("missing layers" in run.isolation) == bool(missing)
