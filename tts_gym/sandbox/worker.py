"""`python -m tts_gym.sandbox.worker FD`: the sandboxed side of the boundary.

The process started by the parent is a *zygote*: it confines itself (limits, network,
filesystem), imports what controllers need, and never loads untrusted code. For every session
the parent asks for (`fork` on the control socket FD) it forks a fresh child with its own
empty folder and its own channel to the parent, handed over as a file descriptor; on
`reap PID` it waits for that child, removes its folder and reports its exit status. So every
session, a share of the sweep or one replayed episode, starts in a process that knows nothing
but the candidate's source.

A child narrows its confinement to its folder (Landlock, seccomp, the audit hook), loads the
candidate class, reports what it loaded, and plays (`hub.Hub`).
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from tts_gym.control.loading import exec_file
from tts_gym.sandbox import channel as ch
from tts_gym.sandbox import confine
from tts_gym.sandbox.audit import install_audit_hook
from tts_gym.sandbox.hub import Hub, describe, error_report
from tts_gym.sandbox.landlock import landlock
from tts_gym.sandbox.seccomp import seccomp_no_processes


# ---- the zygote -----------------------------------------------------------------------------
def main(argv: list[str]) -> int:
    control = socket.socket(fileno=int(argv[0]))
    request = json.loads(control.recv(1 << 16))
    confine.die_with_parent()
    confine.set_limits(request["memory_mb"], request["cpu_seconds"])
    scratch = Path.cwd()
    # `-m` put the working folder first on sys.path: imports would list it from the children
    sys.path[:] = [p for p in sys.path if p not in ("", str(scratch))]
    kernel = request["kernel"]
    network = confine.isolate_network() if kernel else None
    for name in request["preload"]:  # so that each child's imports cost nothing
        importlib.import_module(name)
    roots = confine.readable_roots()
    filesystem, tcp_denied = landlock(roots, scratch) if kernel else (None, False)
    if network is None and tcp_denied:
        network = "Landlock TCP rules"
    source = (scratch / request["filename"]).read_bytes()
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
    while True:
        message = control.recv(1 << 16)
        if message == b"fork":
            folder = scratch / f"session-{len(folders) + 1}"
            folder.mkdir()
            ours, theirs = socket.socketpair()
            pid = os.fork()
            if pid == 0:
                status = 1
                try:
                    status = _child(theirs, folder, request, source, roots, kernel)
                finally:
                    os._exit(status)
            theirs.close()
            socket.send_fds(control, [str(pid).encode()], [ours.fileno()])
            ours.close()
            folders[pid] = folder
        elif message.startswith(b"reap ") and int(message[5:]) in folders:
            pid = int(message[5:])
            _, status = os.waitpid(pid, 0)
            shutil.rmtree(folders[pid], ignore_errors=True)
            control.send(str(os.waitstatus_to_exitcode(status)).encode())
        else:
            return 0


# ---- a child: one session -------------------------------------------------------------------
def _child(
    sock: socket.socket,
    folder: Path,
    request: dict[str, Any],
    source: bytes,
    roots: list[Path],
    kernel: bool,
) -> int:
    keep = sock.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, 1 << 16)
    confine.die_with_parent()
    os.chdir(folder)
    os.environ.update(HOME=str(folder), TMPDIR=str(folder))
    tempfile.tempdir = str(folder)  # the zygote may have cached its own
    channel = ch.Channel(sock)
    layers: dict[str, str] = {}
    if kernel:
        held, _ = landlock(roots, folder)
        seccomp = seccomp_no_processes()
        layers = {"session": held or "", "processes": seccomp or "audit hook only"}
    else:
        layers = {"processes": "audit hook only"}
    path = folder / request["filename"]
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
    channel.send_json(ch.LOADED, describe(cls))
    kind, body = channel.receive()
    if kind != ch.PLAY:
        return 0
    Hub(channel, cls, json.loads(body)["settings"], path).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
