"""The sandbox's layers one by one: each is exercised on its own in a child process."""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tts_gym_agents.discovery import sandbox
from tts_gym_agents.discovery.isolation import VIOLATION_EXIT

from tests.support import REPO_ROOT
from tts_gym.errors import TTSGymError
from tts_gym.evaluation import Protocol
from tts_gym.store import load_store

REPO = REPO_ROOT


def run_child(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
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
            from tts_gym_agents.discovery.isolation import isolate_network
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
        from pathlib import Path
        from tts_gym_agents.discovery.isolation import landlock, readable_roots
        how, _ = landlock(readable_roots(), Path("{scratch}"))
        print(how)
        for action in (lambda: open("{outside}").read(), lambda: open("{tmp_path}/new", "w")):
            try:
                action()
                print("allowed")
            except PermissionError:
                print("denied")
        Path("{scratch}/ok.txt").write_text("fine")
        print("scratch ok")
        """,
        scratch,
    )
    lines = child.stdout.splitlines()
    if lines and lines[0] == "None":
        pytest.skip("this kernel has no Landlock")
    assert lines[1:] == ["denied", "denied", "scratch ok"], child.stdout + child.stderr


def test_audit_hook_ends_the_process_on_the_first_refused_action(tmp_path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    for action, reason in [
        (f"open('{REPO / 'README.md'}')", "read"),
        ("import os; os.listdir('..')", "listed"),
        ("import socket; socket.socket()", "opened a network socket"),
        ("import subprocess; subprocess.run(['true'])", "started a process"),
        ("open('/tmp/elsewhere', 'w')", "wrote"),
    ]:
        child = run_child(
            f"""
            import sys
            from pathlib import Path
            from tts_gym_agents.discovery.isolation import install_audit_hook, readable_roots
            install_audit_hook(readable_roots(), Path.cwd(), lambda r: print("refused:", r))
            open("inside.txt", "w").write("scratch is writable")
            try:
                {action}
            except BaseException:
                print("caught")  # never reached: the hook ends the process
            """,
            scratch,
        )
        assert child.returncode == VIOLATION_EXIT, (action, child.stdout, child.stderr)
        assert child.stdout.startswith(f"refused: {reason}"), (action, child.stdout)


def test_the_sandbox_gets_no_gold(shared_replay) -> None:
    store = load_store("autotts/qwen3-8b/aime24")
    text = json.dumps(sandbox.gold_free(store))
    assert all(q["gold_answer"] == "" and q["question"] == "" for q in json.loads(text))
    reloaded = json.loads(text)[0]["each_branch"][0]
    assert reloaded[1] == store.questions[0].tokens[0]


def test_stores_inside_readable_roots_are_refused(shared_replay, monkeypatch) -> None:
    store = load_store("autotts/qwen3-8b/aime24")
    monkeypatch.setattr(sandbox, "readable_roots", lambda: [shared_replay])
    with pytest.raises(TTSGymError, match="sandboxed candidates can read"):
        sandbox.check_out_of_reach([store])


def test_an_allocation_at_import_is_reported_as_out_of_memory(shared_replay, tmp_path) -> None:
    path = tmp_path / "controller.py"
    path.write_text("hoard = bytearray(8 * 1024 ** 3)\n\nclass Controller:\n    pass\n")
    store = load_store("autotts/qwen3-8b/aime24")
    store = dataclasses.replace(store, questions=store.questions[:2])

    report = sandbox.run_candidate(
        path,
        "Controller",
        [store],
        betas=(0.0, 1.0),
        protocol=Protocol("default", 1, 0),
        free_knobs=False,
        limits=sandbox.Limits(20, 10, 512),
    )
    assert report.problems == [
        "importing controller.py failed: it ran out of memory (the limit is 512 MiB): MemoryError."
        "\n    line 1 in <module>: hoard = bytearray(8 * 1024 ** 3)"
    ]
