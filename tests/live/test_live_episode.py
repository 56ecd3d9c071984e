"""How a live episode asks for data: one engine call per wave with all its requests, one per
action outside waves, chains continued in the next pass; and what it refuses."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tts_gym.control.errors import PolicyError
from tts_gym.control.handle import QuestionHandle
from tts_gym.engine import Episode
from tts_gym.evaluation.protocols import Protocol
from tts_gym.live import LiveError, Need, QuestionSpec, ReplayEngine, play_question
from tts_gym.live.branches import LiveQuestion
from tts_gym.store import load_store, write_store
from tts_gym.store.replay import ReplayStore
from tts_gym.store.synthetic import generate_store


class RecordingEngine(ReplayEngine):
    def __init__(self, store: ReplayStore) -> None:
        super().__init__(store)
        self.calls: list[list[Need]] = []

    def fulfil(self, question: LiveQuestion, needs: Sequence[Need]) -> None:
        self.calls.append(list(needs))
        super().fulfil(question, needs)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ReplayStore:
    questions = generate_store(2, 8, seed=3, tokens=(4_000, 9_000))
    return load_store(write_store(questions, tmp_path_factory.mktemp("s") / "s.json"))


def _play(policy, store: ReplayStore, order=(0, 1, 2, 3, 4, 5, 6, 7)):
    q = store.questions[0]
    engine = RecordingEngine(store)
    spec = QuestionSpec(q.index, q.text, q.gold, q.probe_freq, q.n_branches)
    played, _ = play_question(policy, spec, [list(order)], engine)
    return played, engine.calls


def _replayed(policy, store: ReplayStore, order=(0, 1, 2, 3, 4, 5, 6, 7)):
    episode = Episode(store.questions[0], list(order))
    answer = policy.solve(QuestionHandle(episode, 500)) if hasattr(policy, "solve") else None
    if answer is None and hasattr(policy, "run"):
        answer = episode.answer_text(policy.run(episode))
    return answer, episode.tokens, episode.seq_tokens


class WideThenDeep:
    """Opens 4 branches in one wave, advances them all in another, answers the majority."""

    def solve(self, q):
        opened = q.branch_many(4)
        results = q.advance_many([slot for _, slot, done in opened if not done])
        answers = [a for a, _, _ in opened] + [a for a, _ in results]
        return max(set(answers), key=answers.count)


def test_a_batch_call_is_one_engine_call(store) -> None:
    played, calls = _play(WideThenDeep(), store)
    assert [[(n.branch, n.depth) for n in call] for call in calls] == [
        [(0, 0), (1, 0), (2, 0), (3, 0)],
        [(0, 1), (1, 1), (2, 1), (3, 1)],
    ]
    assert played.passes == 3
    assert (played.answers[0], played.tokens[0], played.seq_tokens[0]) == _replayed(
        WideThenDeep(), store
    )


class OneAtATime:
    def solve(self, q):
        return [q.branch()[0] for _ in range(3)][-1]


def test_actions_outside_waves_go_one_by_one(store) -> None:
    _, calls = _play(OneAtATime(), store, order=(5, 2, 7, 0, 1, 3, 4, 6))
    assert [[(n.branch, n.depth) for n in call] for call in calls] == [[(5, 0)], [(2, 0)], [(7, 0)]]


class Bursts:
    """A trusted controller: one wave opens two branches and advances each three times."""

    def run(self, episode):
        answers = []
        with episode.wave():
            for _ in range(2):
                answer, slot, done = episode.open()
                for _ in range(2):
                    if not done:
                        answer, done = episode.advance(slot)
                answers.append(answer)
        return answers[-1]


def test_chains_in_a_wave_advance_together_one_step_a_pass(store) -> None:
    played, calls = _play(Bursts(), store)
    steps = [sorted((n.branch, n.depth) for n in call) for call in calls]
    assert steps[0] == [(0, 0), (1, 0)]  # both branches' first step in one call
    assert steps[1] == [(0, 1), (1, 1)]
    assert steps[2] == [(0, 2), (1, 2)]
    assert (played.answers[0], played.tokens[0], played.seq_tokens[0]) == _replayed(Bursts(), store)


class Swallower:
    """Catches every Exception around its actions: the pass still ends where it must."""

    def solve(self, q):
        try:
            answer, _, _ = q.branch()
        except Exception:
            return "swallowed"
        return answer


def test_a_controller_cannot_swallow_the_end_of_a_pass(store) -> None:
    played, _ = _play(Swallower(), store)
    assert played.answers[0] == _replayed(Swallower(), store)[0] != "swallowed"


class Broken:
    def solve(self, q):
        q.branch()
        raise ZeroDivisionError("oops")


class Stepper:
    def reset(self) -> None: ...

    def act(self, obs, info) -> int:
        return 0


class Lazy(ReplayEngine):
    def fulfil(self, question, needs) -> None:
        pass


def test_what_a_live_run_refuses(store) -> None:
    with pytest.raises(PolicyError, match=r"raised ZeroDivisionError: oops \(on question 0"):
        _play(Broken(), store)
    with pytest.raises(LiveError, match="a step policy .* needs the env's observation"):
        _play(Stepper(), store)
    q = store.questions[0]
    spec = QuestionSpec(q.index, q.text, q.gold, q.probe_freq, q.n_branches)
    with pytest.raises(
        LiveError, match=r"did not generate branch \d+ of question 0 as far as asked"
    ):
        play_question(OneAtATime(), spec, Protocol("default", 1, 0)(0, 8), Lazy(store))
