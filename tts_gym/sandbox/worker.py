"""`python -P -s -m tts_gym.sandbox.worker FD`: the sandboxed side of the boundary.

The process started by the parent is a *zygote*: it reads the candidate's source from its
stdin (as bytes: it never imports it), confines itself (limits, network, filesystem),
imports what controllers need, and never loads untrusted code. For every session the parent
asks for (`fork` on the control socket FD) it forks a fresh child with its own empty folder,
its own channel to the parent and its own output pipe, both handed to the parent as file
descriptors; on `reap PID` it waits for that child, removes its folder and reports its exit
status. So every session, a share of the sweep or one replayed episode, starts in a process
that knows nothing but the candidate's source.

A child narrows its confinement to its folder (Landlock, seccomp, the audit hook), and only
then stores the candidate under a fixed name (`CANDIDATE_FILE`, whatever the file was
called) and loads its class, reports what it loaded, and plays (`hub.Hub`). An exception in
the sandbox's own code (which a candidate can provoke by changing what it shares with it)
ends the child with `WORKER_ERROR_EXIT` and one line on its stderr saying where.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import shutil
import socket
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from tts_gym.control.loading import exec_file
from tts_gym.sandbox import channel as ch
from tts_gym.sandbox import confine
from tts_gym.sandbox.audit import install_audit_hook
from tts_gym.sandbox.hub import Hub, describe, error_report
from tts_gym.sandbox.landlock import landlock
from tts_gym.sandbox.seccomp import seccomp_no_processes

CANDIDATE_FILE = "candidate.py"
"""The name a session stores the candidate's source under, whatever its own name was."""


# ---- the zygote -----------------------------------------------------------------------------
def main(argv: list[str]) -> int:
    control = socket.socket(fileno=int(argv[0]))
    source = _take_stdin()
    request = json.loads(control.recv(1 << 16))
    confine.die_with_parent()
    confine.set_limits(request["memory_mb"], request["cpu_seconds"])
    scratch = Path.cwd()
    # no working folder on sys.path (-P; on 3.10 `-m` puts it first, and it is empty)
    sys.path[:] = [p for p in sys.path if p not in ("", ".", str(scratch))]
    kernel = request["kernel"]
    if request["namespaces"]:
        network = "network namespace (no interface but a loopback that is down)"
    else:
        network = confine.isolate_network() if kernel else None
    for name in request["preload"]:  # so that each child's imports cost nothing
        importlib.import_module(name)
    roots = [Path(root) for root in request["roots"]]
    filesystem, tcp_denied = landlock(roots, scratch) if kernel else (None, False)
    if network is None and tcp_denied:
        network = "Landlock TCP rules"
    gc.freeze()  # children share these pages; a collection in a child would copy them all
    control.send(
        json.dumps(
            {
                "network": network or "audit hook only",
                "filesystem": f"{filesystem} + audit hook" if filesystem else "audit hook only",
                "limits": "setrlimit (address space, CPU time, file size)",
            }
        ).encode()
    )
    folders: dict[int, Path] = {}
    forked = 0
    while True:
        message = control.recv(1 << 16)
        if message == b"fork":
            forked += 1
            folder = scratch / f"session-{forked}"
            folder.mkdir()
            ours, theirs = socket.socketpair()
            output_read, output_write = os.pipe()
            pid = os.fork()
            if pid == 0:
                _session(theirs, output_write, folder, request, source, roots)
            theirs.close()
            os.close(output_write)
            socket.send_fds(control, [str(pid).encode()], [ours.fileno(), output_read])
            ours.close()
            os.close(output_read)
            folders[pid] = folder
        elif message.startswith(b"reap ") and int(message[5:]) in folders:
            pid = int(message[5:])
            _, status = os.waitpid(pid, 0)
            shutil.rmtree(folders.pop(pid), ignore_errors=True)
            control.send(str(os.waitstatus_to_exitcode(status)).encode())
        else:
            return 0


def _take_stdin() -> bytes:
    """The candidate's source (our stdin), read whole; stdin then reads /dev/null."""
    with os.fdopen(os.dup(0), "rb") as stdin:
        source = stdin.read()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return source


# ---- a child: one session -------------------------------------------------------------------
def _session(
    sock: socket.socket,
    output: int,
    folder: Path,
    request: dict[str, Any],
    source: bytes,
    roots: list[Path],
) -> None:
    """The forked child's life: its output into its own pipe, then `_child`; never returns."""
    status = 1
    try:
        os.dup2(output, 1)
        os.dup2(output, 2)
        keep = sock.fileno()
        os.closerange(3, keep)
        os.closerange(keep + 1, 1 << 16)
        status = _child(sock, folder, request, source, roots)
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):  # a stream the candidate broke
                stream.flush()
        os._exit(status)


def _child(
    sock: socket.socket,
    folder: Path,
    request: dict[str, Any],
    source: bytes,
    roots: list[Path],
) -> int:
    confine.die_with_parent()
    os.chdir(folder)
    os.environ.update(HOME=str(folder), TMPDIR=str(folder))
    tempfile.tempdir = str(folder)  # the zygote may have cached its own
    channel = ch.Channel(sock)
    layers: dict[str, str] = {}
    if request["kernel"]:
        held, _ = landlock(roots, folder)
        seccomp = seccomp_no_processes()
        layers = {"session": held or "", "processes": seccomp or "audit hook only"}
    else:
        layers = {"processes": "audit hook only"}
    path = folder / CANDIDATE_FILE
    path.write_bytes(source)
    install_audit_hook(
        roots, folder, lambda reason: channel.send_json(ch.VIOLATION, {"reason": reason})
    )
    channel.send_json(ch.CONFINED, layers)
    # ---- untrusted from here: the candidate's own code runs in this process ----
    try:
        module = exec_file(path, "candidate")
        cls = getattr(module, request["class_name"], None)
    except BaseException as error:  # noqa: BLE001 - untrusted code: any failure is a result
        channel.send_json(ch.FAILED, error_report(error, path))
        return 0
    if cls is None:
        channel.send_json(ch.FAILED, {"missing": True})
        return 0
    try:
        channel.send_json(ch.LOADED, describe(cls))
        kind, body = channel.receive()
        if kind == ch.PLAY:
            Hub(channel, cls, json.loads(body)["settings"], path).run()
    except ch.ChannelError:  # the parent ended the session (a rejection): nothing to say
        return 0
    except BaseException as error:  # noqa: BLE001 - our own code failed: say where
        with contextlib.suppress(BaseException):  # (the candidate may have broken even this)
            os.write(2, _where(error).encode(errors="replace"))  # not sys.stderr: it may own it
        return confine.WORKER_ERROR_EXIT
    return 0


def _where(error: BaseException) -> str:
    """One line: the exception and the line of the sandbox's code it came from."""
    text = str(error).strip().splitlines()
    line = f"{type(error).__name__}" + (f": {text[0][:300]}" if text else "")
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        last = frames[-1]
        line += f" ({Path(last.filename).name}, line {last.lineno}, in {last.name})"
    return line + "\n"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
