"""The parent's side: its own episodes, driven by actions, revealing only what they reveal."""

from __future__ import annotations

import random
from array import array

import pytest

from tts_gym.control.traces import TracingEpisode
from tts_gym.engine import Episode
from tts_gym.errors import IllegalActionError
from tts_gym.sandbox import channel as ch
from tts_gym.sandbox.server import EpisodeServer, EpisodeSpec, Rejection
from tts_gym.store import load_store
from tts_gym.store.synthetic import generate_store, write_store


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("store")
    return load_store(
        write_store(generate_store(3, 8, seed=2, tokens=(1_000, 3_000)), folder / "s.json")
    )


@pytest.fixture(scope="module")
def question(store):
    return store.questions[1]


SPEC = EpisodeSpec(0, 1, 0, 0)


def actions(triples, ends=(), slots=()) -> ch.Actions:
    return ch.Actions([value for triple in triples for value in triple], list(ends), list(slots))


def test_it_reveals_per_episode_ids_and_each_text_once(store, question) -> None:
    order = list(range(question.n_branches))
    server = EpisodeServer([store], 4)
    episode_id, setting, interval, branches = server.start(SPEC, question, order, record=True)
    assert (setting, interval, branches) == (0, question.probe_freq, question.n_branches)
    reference = Episode(question, order)
    texts: list[str] = []
    plan = [(ch.BRANCH, 0)] + [(ch.CONTINUE, 0)] * 3 + [(ch.BRANCH, 0), (ch.READ, 0)]
    for op, slot in plan:
        results, ended = server.apply(actions([(episode_id, op, slot)]))
        assert ended == []
        if op == ch.BRANCH:
            answer, slot, finished = reference.open()
        elif op == ch.READ:
            answer, slot, finished = reference.read(), reference.n_opened - 1, True
        else:
            answer, finished = reference.advance(slot)
        got_answer, got_slot, got_finished, got_tokens, got_seq = results.records
        assert (got_slot, bool(got_finished), got_tokens) == (slot, finished, reference.tokens)
        assert got_seq == reference.seq_tokens
        text = reference.answer_text(answer)
        if text is None:
            assert got_answer == ch.NO_ANSWER
            continue
        if text not in texts:  # a new answer: its text comes along, once
            assert results.texts == [(0, text.encode())]
            texts.append(text)
        else:
            assert results.texts == []
        assert got_answer == texts.index(text)  # ids in order of first reveal
    results, ended = server.apply(actions([], [(episode_id, ch.END_ANSWER, texts[0].encode())]))
    (done,) = ended
    assert (done.answer, done.tokens) == (texts[0], reference.tokens)
    assert [op for op, _ in done.actions] == [op for op, _ in plan]
    assert server.running == 0


def test_an_illegal_action_is_told_to_the_controller_not_fatal(store, question) -> None:
    server = EpisodeServer([store], 4)
    episode_id = server.start(SPEC, question, list(range(question.n_branches)))[0]
    results, _ = server.apply(actions([(episode_id, ch.CONTINUE, 3)]))
    assert results.records[0] == ch.ILLEGAL
    assert b"slot 3 is not open" in results.texts[0][1]
    assert server.running == 1


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda e: actions([(e, ch.BRANCH, 0), (e, ch.BRANCH, 0)]), "two actions for one episode"),
        (lambda e: actions([(e + 1, ch.BRANCH, 0)]), "which it was never given"),
        (lambda e: actions([]), "without an action or an answer"),
        (lambda e: actions([(e, 9, 0)]), "unknown action"),
        (lambda e: actions([], [(e, ch.END_ANSWER, b"never seen")]), "never revealed"),
        (lambda e: actions([], [(e, ch.END_ERROR, b"{}")]), "raised an exception"),
    ],
)
def test_anything_but_a_reply_to_the_last_message_is_a_rejection(store, question, make, problem):
    server = EpisodeServer([store], 4)
    episode_id = server.start(SPEC, question, list(range(question.n_branches)))[0]
    with pytest.raises(Rejection, match=problem):
        server.apply(make(episode_id))


def test_an_action_after_the_end_is_a_rejection(store, question) -> None:
    server = EpisodeServer([store], 4)
    first = server.start(SPEC, question, list(range(question.n_branches)))[0]
    second = server.start(SPEC, question, list(range(question.n_branches)))[0]
    server.apply(actions([(second, ch.BRANCH, 0)], [(first, ch.END_NONE, b"")]))
    with pytest.raises(Rejection, match="already ended"):
        server.apply(actions([(first, ch.BRANCH, 0), (second, ch.BRANCH, 0)]))


def test_ids_are_drawn_at_random(store, question) -> None:
    server = EpisodeServer([store], 50)
    ids = [server.start(SPEC, question, [0])[0] for _ in range(50)]
    assert len(set(ids)) == 50 and sorted(ids) != ids
    assert array("I", ids)  # they fit the wire's u32


def test_a_batch_call_is_one_wave_its_results_together_and_logged_for_replays(
    store, question
) -> None:
    order = list(range(question.n_branches))
    server = EpisodeServer([store], 4)
    episode_id = server.start(SPEC, question, order, record=True)[0]
    reference = Episode(question, order)
    texts: list[str] = []

    def check(results, expected: list[tuple[int, int, bool]]) -> None:
        answer, n, finished, tokens, seq_tokens = results.records
        assert (answer, n, finished) == (ch.NO_ANSWER, len(expected), 0)
        assert (tokens, seq_tokens) == (reference.tokens, reference.seq_tokens)
        assert {index for index, _ in results.texts} <= {0}
        texts.extend(text.decode() for _, text in results.texts)  # new ones, in id order
        got = list(zip(*[iter(results.waves)] * 3, strict=True))
        want = [
            (-1 if a < 0 else texts.index(reference.answer_text(a)), s, int(f))
            for a, s, f in expected
        ]
        assert got == want

    results, _ = server.apply(actions([(episode_id, ch.OPEN_MANY, 3)]))
    check(results, reference.open_many(3))
    results, _ = server.apply(actions([(episode_id, ch.ADVANCE_MANY, 2)], slots=[2, 0]))
    wave = reference.advance_many([2, 0])
    check(results, [(a, s, f) for s, (a, f) in zip([2, 0], wave, strict=True)])
    results, _ = server.apply(actions([(episode_id, ch.READ_MANY, 2)]))
    first = reference.n_opened
    check(results, [(a, first + j, True) for j, a in enumerate(reference.read_many(2))])
    assert reference.seq_tokens < reference.tokens  # the waves overlapped
    _, ended = server.apply(actions([], [(episode_id, ch.END_NONE, b"")]))
    assert ended[0].actions == ((ch.OPEN_MANY, 3), (ch.ADVANCE_MANY, (2, 0)), (ch.READ_MANY, 2))
    assert (ended[0].tokens, ended[0].seq_tokens) == (reference.tokens, reference.seq_tokens)


@pytest.mark.parametrize(
    ("op", "arg", "slots", "reason"),
    [
        (ch.ADVANCE_MANY, 2, [0, 0], "slot 0 is listed twice"),
        (ch.ADVANCE_MANY, 1, [5], "slot 5 is not open"),
        (ch.ADVANCE_MANY, 0, [], "no slot is given"),
        (ch.OPEN_MANY, 0, [], "OPEN_MANY"),
        (ch.OPEN_MANY, 10**9, [], "OPEN_MANY"),
        (ch.READ_MANY, -3, [], "READ_MANY"),
    ],
)
def test_an_illegal_batch_call_is_refused_by_the_engine_and_costs_nothing(
    store, question, op, arg, slots, reason
) -> None:
    """As in process, where the controller gets an `IllegalActionError` it may catch."""
    server = EpisodeServer([store], 4)
    episode_id = server.start(SPEC, question, list(range(question.n_branches)), record=True)[0]
    server.apply(actions([(episode_id, ch.BRANCH, 0)]))
    results, _ = server.apply(actions([(episode_id, op, arg)], slots=slots))
    spent = question.probe_freq
    assert list(results.records) == [ch.ILLEGAL, 0, 0, spent, spent]
    assert reason in results.texts[0][1].decode() and len(results.waves) == 0
    _, ended = server.apply(actions([], [(episode_id, ch.END_NONE, b"")]))
    assert ended[0].actions == ((ch.BRANCH, 0),) and ended[0].tokens == spent


@pytest.mark.parametrize(
    ("triples", "slots", "problem"),
    [
        ([(ch.ADVANCE_MANY, 3)], [0, 1], "a batch advance of 3 slots where the message lists 2"),
        ([(ch.ADVANCE_MANY, -1)], [], "a batch advance of -1 slots"),
        ([(ch.ADVANCE_MANY, 1)], [0, 1], "1 slots that no batch advance asked for"),
        ([(ch.CONTINUE, 0)], [0], "1 slots that no batch advance asked for"),
        ([(ch.OPEN_MANY, 2)], [0, 1], "2 slots that no batch advance asked for"),
    ],
)
def test_a_batch_request_whose_slot_list_does_not_add_up_is_a_rejection(
    store, question, triples, slots, problem
) -> None:
    server = EpisodeServer([store], 4)
    episode_id = server.start(SPEC, question, list(range(question.n_branches)))[0]
    server.apply(actions([(episode_id, ch.OPEN_MANY, 2)]))
    with pytest.raises(Rejection, match=problem):
        server.apply(actions([(episode_id, op, arg) for op, arg in triples], slots=slots))


def test_two_episodes_batch_calls_take_their_own_slots_from_one_list(store, question) -> None:
    order = list(range(question.n_branches))
    server = EpisodeServer([store], 4)
    first, second = (server.start(SPEC, question, order)[0] for _ in range(2))
    server.apply(actions([(first, ch.OPEN_MANY, 3), (second, ch.OPEN_MANY, 3)]))
    results, _ = server.apply(
        actions([(first, ch.ADVANCE_MANY, 1), (second, ch.ADVANCE_MANY, 2)], slots=[2, 0, 1])
    )
    assert [results.records[1], results.records[6]] == [1, 2]
    assert list(results.waves)[1::3] == [2, 0, 1]


class _Reference:
    """What the server must reply, derived from `Episode` and `TracingEpisode` directly: the
    engine's results and refusals, answers numbered in order of first reveal."""

    def __init__(self, question, order) -> None:
        self.episode = TracingEpisode(question, order)
        self.ids: dict[int, int] = {}
        self.texts: list[str] = []  # of this action: first reveals, or the refusal

    def local(self, answer: int) -> int:
        if answer >= 0 and answer not in self.ids:
            self.ids[answer] = len(self.ids)
            self.texts.append(self.episode.answer_text(answer))
        return self.ids.get(answer, answer)

    def apply(self, op: int, arg: int, slots: list[int]):
        """(reply, wave items, texts)."""
        episode, self.texts = self.episode, []
        try:
            if op == ch.CONTINUE:
                answer, done = episode.advance(arg)
                slot = arg
            elif op == ch.BRANCH:
                answer, slot, done = episode.open()
            elif op == ch.READ:
                answer, slot, done = episode.read(), episode.n_opened - 1, True
            elif op == ch.PROBE:
                answer, slot, done = episode.probe(arg), arg, episode.finished[arg]
            elif op == ch.PRUNE:
                episode.prune(arg)
                answer, slot, done = ch.NO_ANSWER, arg, False
            else:
                if op == ch.ADVANCE_MANY:
                    results = episode.advance_many(slots)
                    wave = [(a, s, f) for s, (a, f) in zip(slots, results, strict=True)]
                elif op == ch.OPEN_MANY:
                    wave = episode.open_many(arg)
                else:
                    first = episode.n_opened
                    wave = [(a, first + j, True) for j, a in enumerate(episode.read_many(arg))]
                items = [(self.local(a), s, int(f)) for a, s, f in wave]
                reply = (ch.NO_ANSWER, len(wave), 0, episode.tokens, episode.seq_tokens)
                return reply, items, self.texts
        except IllegalActionError as error:
            slot = 0 if op in ch.BATCH_OPS else arg
            return (ch.ILLEGAL, slot, 0, episode.tokens, episode.seq_tokens), [], [str(error)]
        reply = (self.local(answer), slot, int(done), episode.tokens, episode.seq_tokens)
        return reply, [], self.texts


def test_replies_are_what_episode_gives_on_random_messages(store) -> None:
    """Three episodes at a time, random actions of every kind (legal or not, slots and widths
    out of range included): every reply, wave, text and trace as `Episode` gives them."""
    rng = random.Random(5)
    server = EpisodeServer([store], 3)
    for round_ in range(10):
        running = {}
        for q in range(3):
            question = store.questions[q]
            order = rng.sample(range(question.n_branches), question.n_branches)
            spec = EpisodeSpec(0, q, round_, 0)
            episode_id = server.start(spec, question, order, trace=True, record=q == 0)[0]
            running[episode_id] = _Reference(question, order)
        for _ in range(30):
            triples, slots, replies, items, texts = [], [], [], [], []
            for episode_id, reference in running.items():
                op = rng.randrange(len(ch.OP_NAMES))
                n = reference.episode.n_opened
                arg = rng.choice([rng.randrange(-1, n + 2), rng.randrange(-2, 6), 10**12])
                listed = []
                if op == ch.ADVANCE_MANY:
                    listed = [rng.randrange(-1, n + 1) for _ in range(rng.randrange(0, 4))]
                    if rng.random() < 0.7:
                        listed = reference.episode.alive_slots()
                        rng.shuffle(listed)
                    arg = len(listed)
                reply, wave, said = reference.apply(op, arg, listed)
                texts += [(len(triples), text.encode()) for text in said]
                triples.append((episode_id, op, arg))
                slots += listed
                replies += reply
                items += [value for item in wave for value in item]
            results, ended = server.apply(actions(triples, slots=slots))
            assert ended == []
            assert list(results.records) == replies
            assert list(results.waves) == items
            assert results.texts == texts
        _, ended = server.apply(
            actions([], [(episode_id, ch.END_NONE, b"") for episode_id in running])
        )
        for done, reference in zip(ended, running.values(), strict=True):
            assert done.trace == reference.episode.record(None)
            episode = reference.episode
            assert (done.tokens, done.seq_tokens) == (episode.tokens, episode.seq_tokens)
