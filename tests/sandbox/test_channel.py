"""The wire format: what one side encodes the other decodes; anything else is refused."""

from __future__ import annotations

import dataclasses
import socket
import struct

import numpy as np
import pytest

from tts_gym.sandbox import channel as ch


def actions_body() -> bytes:
    return ch.encode_actions(
        [7, ch.CONTINUE, 2, 9, ch.BRANCH, 0, 4, ch.ADVANCE_MANY, 3],
        [0, 2, 1],
        [(12, ch.END_NONE, b""), (11, ch.END_ANSWER, b"12")],
    )


def test_actions_and_results_round_trip() -> None:
    actions = ch.decode_actions(actions_body())
    assert actions.records.tolist() == [7, ch.CONTINUE, 2, 9, ch.BRANCH, 0, 4, ch.ADVANCE_MANY, 3]
    assert actions.slots.tolist() == [0, 2, 1]
    assert actions.episodes == [7, 9, 4]
    assert actions.ends == [(12, ch.END_NONE, b""), (11, ch.END_ANSWER, b"12")]
    results = ch.Results(
        [0, 2, 1, 500, 500, ch.ILLEGAL, 0, 0, 500, 500, ch.NO_ANSWER, 2, 0, 900, 700],
        [(0, b"12"), (1, b"BRANCH: all 4 branches are already opened."), (2, b"7"), (2, b"8")],
        [(5, 1, 500, 128)],
        [1, 0, 0, 2, 3, 1],
    )
    decoded = ch.decode_results(ch.encode_results(results))
    assert decoded == results
    as_arrays = dataclasses.replace(  # what the parent sends: int64 arrays, the same bytes
        results, records=np.array(results.records), waves=np.array(results.waves)
    )
    assert ch.encode_results(as_arrays) == ch.encode_results(results)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (actions_body()[:-1], "shorter than its texts"),
        (struct.pack("<II", 0, 2) + struct.pack("<q", 1), "shorter than its slot list"),
        (actions_body() + b"\0", "trailing bytes"),
        (struct.pack("<I", 1000) + b"\0" * 24, "shorter than its count"),
        (b"\1\0", "truncated"),
        (
            struct.pack("<III", 0, 0, 1) + struct.pack("<IBI", 1, 9, 0),
            "end of unknown kind",
        ),
        (
            struct.pack("<III", 0, 0, 1) + struct.pack("<IBI", 1, 1, ch.MAX_TEXT + 1),
            "too long",
        ),
    ],
)
def test_malformed_actions_are_refused(body: bytes, problem: str) -> None:
    with pytest.raises(ch.ChannelError, match=problem):
        ch.decode_actions(body)


def test_frames_whole_oversized_and_after_the_peer_has_gone() -> None:
    ours, theirs = socket.socketpair()
    channel = ch.Channel(ours)
    ch.Channel(theirs).send(ch.DONE, b"x")
    ch.Channel(theirs).send(ch.END, b"{}")
    assert channel.receive() == (ch.DONE, b"x")
    assert channel.has_frame()  # both arrived in one read: select() would not say so
    assert channel.receive() == (ch.END, b"{}")
    theirs.sendall(struct.pack("<I", ch.MAX_FRAME + 1))
    with pytest.raises(ch.ChannelError, match="at most") as error:
        channel.receive()
    assert not error.value.closed
    theirs.close()
    with pytest.raises(ch.ChannelError) as error:
        channel.receive()
    assert error.value.closed
    ours.close()


def test_printable_keeps_what_a_sandbox_says_harmless() -> None:
    assert ch.printable("a\x1b[2Jb\x00c") == "a?[2Jb?c"
    assert len(ch.printable("x" * 5000, 100)) == 100
