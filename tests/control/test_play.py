"""The one adapter: any kind of controller plays a store gold-free, with the same outcomes
whichever way its episodes are stepped."""

from __future__ import annotations

import numpy as np
import pytest

from tts_gym.control import Batched, Imperative, Outcomes, PolicyError, StepPolicy, play
from tts_gym.control.protocols import policy_kind
from tts_gym.engine import ActionKind, encode_action
from tts_gym.evaluation import Protocol, score
from tts_gym.store import load_store
from tts_gym.store.synthetic import generate_store, write_store

MAX_BRANCHES = 8


class Widen:
    """A step rule: open four branches, advance them in turn, answer once one finished."""

    env_kwargs = {"max_branches": MAX_BRANCHES}

    def __init__(self) -> None:
        self.resets = 0
        self._turn = 0

    def reset(self) -> None:
        self.resets += 1
        self._turn = 0

    def act(self, obs, info) -> int:
        mask = info["action_mask"]
        opened = int(obs["slots"][:, 0].sum())
        if opened < 4 and mask[ActionKind.BRANCH]:
            return int(ActionKind.BRANCH)
        if obs["slots"][:, 2].any():  # a finished branch
            return int(ActionKind.ANSWER)
        for step in range(MAX_BRANCHES):
            slot = (self._turn + step) % MAX_BRANCHES
            action = encode_action(ActionKind.CONTINUE, slot, MAX_BRANCHES)
            if mask[action]:
                self._turn = slot + 1
                return action
        return int(ActionKind.ANSWER)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("play")
    return load_store(write_store(generate_store(6, 12, seed=2), folder / "s.json"))


def test_step_policies_side_by_side_equal_one_at_a_time(store):
    protocol = Protocol("default", 5, 3)
    side_by_side = play(Widen(), store, protocol)
    one_at_a_time = play(Widen(), store, protocol, trace=True)  # traced: the single env
    assert side_by_side.answers == one_at_a_time.answers
    assert (side_by_side.tokens == one_at_a_time.tokens).all()
    assert 0 < score(side_by_side, store).mean() < 1


def test_every_episode_starts_with_reset(store):
    policy = Widen()
    play(policy, store, Protocol("default", 2, 0), trace=True)
    assert policy.resets == store.n_questions * 2


def test_policies_are_handed_no_gold(store):
    class Peek:
        def solve(self, q):
            episode = q._episode
            assert episode.question.gold == "" and episode.question.text == ""
            return q.read()

    outcomes = play(Peek(), store, Protocol("default", 1, 0))
    assert len(outcomes.answers) == store.n_questions


def test_kinds_are_protocols():
    class Solves:
        def solve(self, q):
            return None

    class Plays:
        def play(self, store, orders, *, questions=None):
            return Outcomes([], np.zeros((0, 0), dtype=np.int64), np.zeros((0, 0), dtype=np.int64))

    assert isinstance(Solves(), Imperative) and policy_kind(Solves()) == "imperative"
    assert isinstance(Widen(), StepPolicy) and policy_kind(Widen()) == "step"
    assert isinstance(Plays(), Batched) and policy_kind(Plays()) is None


def test_a_raising_step_policy_is_one_sentence_naming_the_question(store):
    class Breaks(Widen):
        def act(self, obs, info):
            if obs["slots"][:, 0].sum() >= 2:
                raise ZeroDivisionError("boom")
            return super().act(obs, info)

    with pytest.raises(PolicyError, match=r"'Breaks' raised ZeroDivisionError: boom \(on question"):
        play(Breaks(), store, Protocol("default", 2, 0))
