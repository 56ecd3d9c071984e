"""How a session ends says what the candidate did, in one sentence: an answer that cannot be
sent as text, the sandbox's own code broken by what the candidate changed, a signal."""

from __future__ import annotations

from tests.sandbox.support import assert_rejected, controller, play


def test_an_answer_that_cannot_be_encoded(tmp_path) -> None:
    run, _ = play(tmp_path, controller("q.read()\nreturn 'x\\udc80'"), replays=0)
    assert_rejected(
        run,
        "Controller answered 'x\\udc80', which cannot be sent as text: character 2 "
        "('\\udc80') has no UTF-8 encoding (a lone surrogate)",
    )


def test_breaking_the_sandboxs_own_code(tmp_path) -> None:
    source = controller(
        "channel.encode_actions = lambda *args: 1 / 0\nreturn q.read()",
        "from tts_gym.sandbox import channel",
    )
    run, _ = play(tmp_path, source, replays=0)
    assert_rejected(
        run,
        "the sandbox's own code failed while playing it (ZeroDivisionError: division by zero",
    )
    assert "something the candidate's code changed" in run.problems[0]


def test_a_segmentation_fault(tmp_path) -> None:
    source = controller("q.read()\nfaulthandler._sigsegv()", "import faulthandler")
    run, _ = play(tmp_path, source, replays=0)
    assert_rejected(
        run,
        "its process was killed by signal 11 (SIGSEGV: a segmentation fault: native code "
        "touched memory it does not own) in the middle of the run",
    )
