"""Batch calls through the boundary: one request and one wave each, results computed by the
parent's episode and returned together; the same numbers as in process, replays included."""

from __future__ import annotations

import textwrap

import pytest

from tests.sandbox.support import assert_rejected, play, small_store
from tts_gym.control import play as play_in_process
from tts_gym.control.loading import load_policy
from tts_gym.evaluation import Protocol

WAVES = """
    from collections import Counter


    class Controller:
        def __init__(self, beta=0.5):
            self.width = 2 + round(4 * beta)

        def solve(self, q):
            try:
                q.branch_many(10**6)  # illegal, as in process: nothing spent, an error to catch
            except ValueError:
                pass
            latest = {slot: answer for answer, slot, _ in q.branch_many(self.width)}
            finished = set()
            while q.seq_tokens < 6 * q.probe_interval:  # decisions on the parent's numbers
                alive = [slot for slot in latest if slot not in finished][::-1]  # any order
                if not alive:
                    break
                for slot, (answer, done) in zip(alive, q.advance_many(alive)):
                    latest[slot] = answer
                    if done:
                        finished.add(slot)
            sequential, total = q.get_seq_and_total_tokens()
            if total > 2 * sequential and q.can_branch:
                latest.update(enumerate(q.read_many(1), start=q.n_open))
            votes = Counter(answer for answer in latest.values() if answer is not None)
            return votes.most_common(1)[0][0] if votes else None
"""
"""Opens a wave of branches, advances them in waves while its sequential tokens allow, may
read one more; every decision depends on what the parent returned."""


def test_batch_calls_give_the_in_process_answers_tokens_and_sequential_tokens(tmp_path) -> None:
    run, store = play(tmp_path, WAVES, betas=(0.0, 1.0), orders=3)
    assert run.ok, run.problems
    assert run.replayed == 2 * 8  # batch calls replayed alike
    path = tmp_path / "candidate.py"
    for k, beta in enumerate((0.0, 1.0)):
        policy = load_policy(f"{path}:Controller", {"beta": beta})
        reference = play_in_process(policy, store, Protocol("default", 3, 0))
        outcomes = run.outcomes[(0, k)]
        assert outcomes.answers == reference.answers
        assert (outcomes.tokens == reference.tokens).all()
        assert (outcomes.seq_tokens == reference.seq_tokens).all()
        assert (outcomes.seq_tokens < outcomes.tokens).any()  # the waves did overlap


POOLED_WIDTH = """
    from collections import Counter

    SEEN = Counter()  # answers of earlier episodes, all questions together


    class Controller:
        def __init__(self, beta=0.5):
            self.beta = beta

        def solve(self, q):
            width = 2 if sum(SEEN.values()) >= 4 else 4  # cheaper once the pool has filled
            answers = q.read_many(width)
            SEEN.update(answers)
            return Counter(answers).most_common(1)[0][0]
"""


def test_state_across_episodes_in_batch_calls_is_caught_by_the_replays(tmp_path) -> None:
    run, _ = play(tmp_path, POOLED_WIDTH, orders=12)
    assert_rejected(run, "replayed alone in a fresh process, it acted differently")
    assert any("READ_MANY(2) in the sweep but READ_MANY(4) alone" in p for p in run.problems)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("q.advance_many([0, 0])", "slot 0 is listed twice"),
        ("q.advance_many([])", "no slot is given"),
        ("q.advance_many([1 << 70])", "out of range"),
        ("q.read_many(0)", "READ_MANY(0)"),
        ("q.advance(1 << 70)", "1180591620717411303424 is out of range"),
        ("q.probe(1.5)", "'float' object cannot be interpreted as an integer"),
        ("q.prune('a')", "'str' object cannot be interpreted as an integer"),
    ],
)
def test_an_illegal_call_raises_in_the_controller(tmp_path, call: str, message: str) -> None:
    """Batch calls are refused as in process; a single action sends its slot unchecked, and
    one that does not fit an int64 is refused in the worker with the batch calls' words (it
    used to end the process)."""
    source = textwrap.dedent(
        f"""
        class Controller:
            def __init__(self, beta=0.5):
                self.beta = beta

            def solve(self, q):
                q.branch()
                {call}
        """
    )
    run, _ = play(tmp_path, source, store=small_store(tmp_path), orders=1)
    assert_rejected(run, message)


CAUGHT_REFUSAL = """
    class Controller:
        def __init__(self, beta=0.5):
            self.beta = beta

        def solve(self, q):
            _, first, _ = q.branch()
            try:
                q.advance(1 << 70)
            except Exception:
                pass
            opened = q.branch_many(2)  # a wave right after the refusal
            alive = [slot for _, slot, finished in opened if not finished]
            if alive:
                q.advance_many(alive)  # its slot list follows the others' in the message
            return q.read()
"""


def test_a_controller_that_catches_the_refusal_plays_on(tmp_path) -> None:
    run, _ = play(tmp_path, CAUGHT_REFUSAL, store=small_store(tmp_path), orders=3)
    assert run.ok, run.problems
    answers = [a for outcomes in run.outcomes.values() for q in outcomes.answers for a in q]
    assert len(answers) == 2 * 8 * 3 and all(answers)  # two betas, eight questions, 3 orders
