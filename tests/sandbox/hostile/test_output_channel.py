"""stdout and stderr as a channel: each sandboxed process writes into a pipe of its own that
only the parent reads, so nothing written there comes back to any sandboxed process.

The attack this closes: one log file, opened read-write, was fds 1 and 2 of every process; a
sweep wrote its pooled answers there (`os.write` raises no audit event) and the replays read
them back (`os.pread`), so they repeated the sweep's choices and passed the replay check.
"""

from __future__ import annotations

from tests.sandbox.hostile.test_pooling import MODULE_GLOBAL, ORDERS
from tests.sandbox.support import assert_rejected, play, probe

LOGGED_POOL = MODULE_GLOBAL.replace(
    "    POOL = Counter()  # final answers of every episode so far, all questions together",
    """    import json
    import os

    POOL = Counter()  # final answers of every episode so far, all questions together


    def logged():
        try:  # what earlier processes wrote on the shared stdout, if it can be read back
            return Counter(json.loads(os.pread(1, 1 << 20, 0) or b"{}"))
        except (OSError, ValueError):
            return Counter()""",
).replace(
    "                if POOL[answer] >= 3:",
    """                POOL.update(logged())
                os.write(1, json.dumps(POOL).encode())
                if POOL[answer] >= 3:""",
)


def test_a_pool_written_to_stdout_does_not_reach_the_replays(tmp_path) -> None:
    run, _ = play(tmp_path, LOGGED_POOL, seed=0, orders=ORDERS, kernel=True)
    assert_rejected(run, "replayed alone in a fresh process, it acted differently")


def test_its_stdout_and_stderr_are_pipes_it_cannot_read(tmp_path) -> None:
    import stat

    probes = {
        "out_is_pipe": f"os.fstat(1).st_mode & {stat.S_IFIFO} or 1 / 0",
        "err_is_pipe": f"os.fstat(2).st_mode & {stat.S_IFIFO} or 1 / 0",
        "pread_out": "os.pread(1, 10, 0)",
        "read_out": "os.read(1, 10)",
        "read_err": "os.read(2, 10)",
        "write_err": "os.write(2, b'fine')",
    }
    found = probe(tmp_path, probes)
    assert found == {
        "out_is_pipe": "ok",
        "err_is_pipe": "ok",
        "pread_out": "ESPIPE",
        "read_out": "EBADF",
        "read_err": "EBADF",
        "write_err": "ok",
    }
