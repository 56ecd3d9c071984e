"""Answering with a string the episode never revealed (a guess, or an answer pooled from
another episode): the parent accepts only answers that episode's own actions revealed."""

from tests.sandbox.support import assert_rejected, controller, play


def test_an_answer_never_revealed_is_a_rejection(tmp_path) -> None:
    run, _ = play(tmp_path, controller('q.branch()\nreturn "42"'))
    assert_rejected(run, "it answered '42', which that episode never revealed")
