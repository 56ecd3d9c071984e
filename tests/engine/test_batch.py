"""The compiled batch core against the reference `Episode`, and its random streams."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from tests.support.episodes import CONFIGS, random_masked_action, write_edge_stores
from tts_gym.engine import Episode
from tts_gym.engine.actions import ActionKind, decode_action, n_actions
from tts_gym.engine.core import random
from tts_gym.engine.core.addresses import ArrayTable
from tts_gym.engine.core.batch import BatchEpisodes
from tts_gym.engine.core.layout import COST, ENDED, SHOWN, SLOT, WAVE
from tts_gym.store import load_store


@pytest.fixture(scope="module")
def edge_stores(tmp_path_factory):
    paths = write_edge_stores(tmp_path_factory.mktemp("edge"))
    return {name: load_store(path) for name, path in paths.items()}


def legal_by_rules(episode: Episode, m: int) -> list[int]:
    return [a for a in range(n_actions(m)) if episode.why_illegal(*decode_action(a, m)) is None]


FIELDS = (
    "n_opened", "n_unopened", "n_alive", "tokens", "seq_tokens", "done", "answer", "correct",
    "branch", "depth",
)  # fmt: skip
SLOT_FIELDS = ("charged", "current", "revealed", "finished", "pruned", "votes")


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_batch_steps_like_the_reference(edge_stores, config):
    """Eight episodes over all edge stores at once, each checked against its own `Episode`
    after every step (single and batch actions): state, sequential tokens, votes, the outcome
    columns, and the mask against the rules."""
    stores = list(edge_stores.values())
    m, n = config["max_branches"], 8
    batch = BatchEpisodes(stores, n, **config)
    questions = [q for store in stores for q in store.questions]
    rng = np.random.default_rng(0)
    finished_episodes = 0
    while finished_episodes < 150:
        picks = rng.integers(len(questions), size=n)
        orders = [rng.permutation(questions[g].n_branches)[: rng.integers(1, 50)] for g in picks]
        batch.reset(picks, orders)
        references = [
            Episode(questions[g], order.tolist(), **config)
            for g, order in zip(picks, orders, strict=True)
        ]
        while not all(r.done for r in references):
            actions = np.array(
                [random_masked_action(batch.mask[i], rng, m, 0.03) for i in range(n)]
            )
            assert batch.step(actions) == -1
            for i, reference in enumerate(references):
                if reference.done:
                    continue
                tokens_before, seq_before = reference.tokens, reference.seq_tokens
                slot, shown, ended = reference.apply(*decode_action(int(actions[i]), m))
                row = batch.episodes[i]
                assert (row[SLOT], row[SHOWN], row[ENDED]) == (slot, shown, ended)
                assert row[WAVE] == reference.seq_tokens - seq_before
                view = batch.view(i)
                for field in FIELDS + SLOT_FIELDS:
                    assert getattr(view, field) == getattr(reference, field), field
                assert row[COST] == reference.tokens - tokens_before
                if reference.done:
                    finished_episodes += 1
                else:
                    assert np.flatnonzero(batch.mask[i]).tolist() == legal_by_rules(reference, m)


def test_an_illegal_action_changes_nothing(edge_stores):
    batch = BatchEpisodes([edge_stores["mixed"]], 4, max_branches=5)
    batch.seed(np.random.default_rng(1))
    batch.reset(np.full(4, -1), [None] * 4)
    batch.step(np.full(4, int(ActionKind.BRANCH)))
    before = [array.copy() for array in batch.arrays()]
    continue_4 = 3 + 4  # CONTINUE(4): slot 4 is not open anywhere
    assert batch.step(np.array([0, 1, continue_4, 2])) == 2
    for array, copy in zip(batch.arrays(), before, strict=True):
        np.testing.assert_array_equal(array, copy)
    assert "slot 4 is not open" in batch.view(2).why_illegal(ActionKind.CONTINUE, 4)


def open_everything(batch: BatchEpisodes) -> list[list[int]]:
    """Open every branch of every episode (BRANCH until none is legal): the drawn orders."""
    branch = int(ActionKind.BRANCH)
    while batch.mask[:, branch].any():
        batch.step(np.where(batch.mask[:, branch] == 1, branch, int(ActionKind.ANSWER)))
    return [batch.view(i).branch for i in range(batch.n)]


def test_drawn_episodes_are_seeded_permutations(edge_stores):
    store = edge_stores["confidence"]
    batch = BatchEpisodes([store], 200, max_branches=64)

    def draw(seed: int) -> tuple[list[int], list[list[int]]]:
        batch.seed(np.random.default_rng(seed))
        batch.reset(np.full(batch.n, -1), [None] * batch.n)
        questions = [batch.view(i).question.index for i in range(batch.n)]
        return questions, open_everything(batch)

    questions, orders = draw(7)
    for q, order in zip(questions, orders, strict=True):
        assert sorted(order) == list(range(store.questions[q].n_branches))
    assert draw(7) == (questions, orders)
    assert draw(8) != (questions, orders)
    # question draws and first branches are uniform (loose bounds: 200 draws)
    counts = np.bincount(questions, minlength=store.n_questions)
    assert counts.min() > 20
    firsts = [order[0] / (len(order) - 1) for order in orders if len(order) > 1]
    assert 0.4 < np.mean(firsts) < 0.6


def test_bounded_draws_are_uniform():
    streams = np.array([np.uint64(12345)], dtype=np.uint64)
    draws = np.array([random.below(streams, 0, 7) for _ in range(70_000)])
    counts = np.bincount(draws, minlength=7)
    assert draws.min() == 0 and draws.max() == 6
    chi_square = ((counts - 10_000) ** 2 / 10_000).sum()
    assert chi_square < 30  # 6 degrees of freedom: p < 1e-4 beyond this


BIT_GENERATORS = [np.random.PCG64, np.random.PCG64DXSM, np.random.MT19937, np.random.Philox,
                  np.random.SFC64]  # fmt: skip
SIZES = [1, 2, 3, 7, 8, 9, 30, 64, 65, 127, 129, 1000, 2**31 + 1, 2**32 - 1, 2**32]


@pytest.mark.parametrize("bit_generator", BIT_GENERATORS)
def test_generator_draws_are_numpys(bit_generator):
    """`generator_integer` / `generator_order_key` draw what `rng.integers(n)` / `order_key`
    draw, interleaved with numpy's own draws on the same stream (its 32-bit buffer included),
    for sizes where numpy's Lemire draw rejects and where it does not."""
    for seed in range(40):
        ours = np.random.Generator(bit_generator(seed))
        numpys = np.random.Generator(bit_generator(seed))
        stream = random.generator_stream(ours)
        for n in SIZES:
            assert random.generator_integer(stream, n) == numpys.integers(n)
            assert random.generator_order_key(stream) == random.order_key(numpys)
            assert ours.random() == numpys.random()  # numpy's own draw between ours
            assert ours.integers(5) == numpys.integers(5)


def test_keyed_orders_are_uniform_permutations():
    """`keyed_order` gives a permutation; over keys, each branch leads equally often."""
    rng = np.random.default_rng(3)
    firsts = []
    for _ in range(6_000):
        order = random.keyed_order(random.order_key(rng), 6)
        assert sorted(order.tolist()) == list(range(6))
        firsts.append(order[0])
    counts = np.bincount(firsts, minlength=6)
    chi_square = ((counts - 1_000) ** 2 / 1_000).sum()
    assert chi_square < 26  # 5 degrees of freedom: p < 1e-4 beyond this


def test_lazy_order_is_the_keyed_order(edge_stores):
    """The core's lazy draw, slot by slot from a stream started at a key, opens the branches
    in `keyed_order(key)`'s order: what the Python engine replays."""
    store = edge_stores["confidence"]
    batch = BatchEpisodes([store], 50, max_branches=64)
    keys = np.random.default_rng(4).integers(0, 2**64, size=50, dtype=np.uint64)
    batch.reset(np.zeros(50, dtype=np.int64), [None] * 50)
    batch.streams[:] = keys
    orders = open_everything(batch)
    n = store.questions[0].n_branches
    assert orders == [random.keyed_order(key, n).tolist() for key in keys]


def test_pickled_batch_continues_identically(edge_stores):
    batch = BatchEpisodes([edge_stores["mixed"]], 3, max_branches=6)
    batch.seed(np.random.default_rng(2))
    batch.reset(np.full(3, -1), [None] * 3)
    clone = pickle.loads(pickle.dumps(batch))
    assert clone.tables.probes.flags.writeable is False
    first, second = open_everything(batch), open_everything(clone)
    assert first == second


def test_array_table_refuses_views():
    with pytest.raises(ValueError, match="C-contiguous"):
        ArrayTable([np.zeros((4, 4))[:, 1]])
