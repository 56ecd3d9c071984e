"""Writing to the channel to the parent: the channel carries action requests and final
answers only, and the parent computes every result itself, so a forged message is either
malformed (a rejection naming it) or a request like any other, checked like any other."""

from tests.sandbox.support import assert_rejected, controller, play

FIND_CHANNEL = """
    import json
    import os
    import stat
    import struct


    def channel():
        for fd in range(3, 64):
            try:
                if stat.S_ISSOCK(os.fstat(fd).st_mode):
                    return fd
            except OSError:
                continue
        raise RuntimeError("no channel")
"""

OLD_RESULT_LINE = controller(
    """
    forged = {"kind": "result", "problems": [], "sweep": [], "replay": []}
    os.write(channel(), (json.dumps(forged) + "\\n").encode())
    os._exit(0)
    """,
    FIND_CHANNEL,
)

WELL_FORMED_ANSWERS = controller(
    """
    # an ACTIONS frame ending episode 1 with an answer it never revealed
    end = struct.pack("<IBI", 1, 1, 2) + b"42"
    body = b"A" + struct.pack("<III", 0, 0, 1) + end
    os.write(channel(), struct.pack("<I", len(body)) + body)
    os._exit(0)
    """,
    FIND_CHANNEL,
)


def test_a_forged_result_line_is_a_malformed_message(tmp_path) -> None:
    run, _ = play(tmp_path, OLD_RESULT_LINE)
    assert_rejected(run, "it sent a message of")


def test_a_well_formed_forgery_is_checked_like_any_request(tmp_path) -> None:
    run, _ = play(tmp_path, WELL_FORMED_ANSWERS)
    assert_rejected(
        run, "it sent an action for episode 1, which it was never given", "never revealed"
    )
