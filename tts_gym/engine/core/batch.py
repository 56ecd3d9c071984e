"""N episodes of the replay MDP held as arrays and stepped by compiled functions.

The compiled twin of `Episode` (the reference; tests hold them equal): the same explore, read,
votes, majority and legality, for N episodes at once. State is a few arrays with one row per
episode and one column block per slot; the rules come from `tts_gym.engine.rules` and
`replay`, compiled as written. Per episode the core keeps the vote histogram over answer ids
and `levels` (how many answers hold exactly c votes), so leader, runner-up and ranks are cheap
reads; the action mask is refreshed only where an action can change it; a new episode clears
only what the last one touched; random branch orders are drawn lazily, one Fisher-Yates swap
per opened branch, from a per-episode random stream (the pool a drawn order swaps in is
reused by the next episode when the question has as many branches).

`BatchEpisodes` owns the arrays (`layout` names their columns). A call from Python passes
them as one `ArrayTable` of addresses, which `unpack` turns back into two tuples, `tables`
(read-only, shared per store set) and `state`; `step`, `start` and `clear` work on one episode
`i` and are what the env layer's one-call batch step composes with its observations. Each
episode's row keeps the outcome of its last action (slot, revealed answer, finished, cost,
kind, the sequential tokens it added) for the caller to read; after a batch action each slot
it touched holds the tokens it generated in it (`SEGMENT`, and its write-up in `WRITEUP`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from tts_gym.engine import rules
from tts_gym.engine.actions import ActionKind, action_kind_slot, n_actions
from tts_gym.engine.core import compile_rules, random
from tts_gym.engine.core.addresses import ArrayTable, BundledArrays, view1, view2, view3
from tts_gym.engine.core.layout import (
    ANSWER,
    BRANCH,
    CHARGED,
    CLOCK,
    COST,
    CURRENT,
    DEPTH,
    DONE,
    ENDED,
    EPISODE_FIELDS,
    FINISHED,
    KIND,
    LIMIT_FIELDS,
    MAX_BRANCHES,
    N_ALIVE,
    N_DISTINCT,
    N_OPENED,
    N_ORDER,
    N_VOTES,
    PARALLEL_LIMIT,
    PINNED,
    POOL,
    PROBE_COST,
    PRUNED,
    QUESTION,
    REVEAL_ON_CONTINUE,
    REVEALED,
    SEGMENT,
    SEQ_TOKENS,
    SHOWN,
    SLOT,
    SLOT_FIELDS,
    TOKEN_LIMIT,
    TOKENS,
    VOTES_CHANGED,
    WAVE,
    WAVE_FROM,
    WRITEUP,
)
from tts_gym.engine.core.replay import explore, is_writeup, read
from tts_gym.engine.rules import NO_ANSWER
from tts_gym.store.replay import Question, ReplayStore
from tts_gym.store.tables import StoreTables

compile_rules()

SIGNATURE = [
    (np.dtype(dtype), ndim)
    for dtype, ndim in (
        (np.int32, 3), (np.int32, 2), (np.int64, 2), (np.int32, 2), (np.int32, 1),
        (np.int64, 1), (np.int32, 1),  # tables
        (np.int64, 2), (np.int64, 3), (np.int64, 2), (np.int32, 2), (np.int32, 2),
        (np.int8, 2), (np.uint64, 1), (np.int64, 1),  # state
    )
]  # fmt: skip
"""(dtype, ndim) of `BatchEpisodes.arrays()`, as `unpack` rebuilds them."""
ARRAYS = len(SIGNATURE)

_ANSWER, _BRANCH, _READ = int(ActionKind.ANSWER), int(ActionKind.BRANCH), int(ActionKind.READ)
_CONTINUE, _PROBE = int(ActionKind.CONTINUE), int(ActionKind.PROBE)
_PRUNE, _SUBMIT = int(ActionKind.PRUNE), int(ActionKind.SUBMIT)
_ADVANCE_ALL, _OPEN_MANY = int(ActionKind.ADVANCE_ALL), int(ActionKind.OPEN_MANY)
_READ_MANY = int(ActionKind.READ_MANY)


class BatchEpisodes(BundledArrays):
    """N episodes over the questions of `stores`, as arrays (see the module docstring).

    Question `g` of the batch is global question `g` of `StoreTables` (store by store). The
    limits (`max_branches`, `probe_cost`, `reveal_on_continue`, `budget`) hold for all N.
    """

    def __init__(
        self,
        stores: Sequence[ReplayStore],
        n: int,
        *,
        max_branches: int = 64,
        probe_cost: int = 0,
        reveal_on_continue: bool = True,
        budget: int | None = None,
        max_parallel: int | None = None,
    ) -> None:
        self.stores = tuple(stores)
        self.tables = StoreTables.of(self.stores)
        self.questions: tuple[Question, ...] = tuple(
            q for store in self.stores for q in store.questions
        )
        self.n = n
        self.max_branches = max_branches
        self.probe_cost = probe_cost
        self.reveal_on_continue = reveal_on_continue
        self.budget = budget
        self.max_parallel = max_parallel
        limits = np.zeros(LIMIT_FIELDS, dtype=np.int64)
        limits[MAX_BRANCHES] = max_branches
        limits[PROBE_COST] = probe_cost
        limits[REVEAL_ON_CONTINUE] = reveal_on_continue
        limits[TOKEN_LIMIT] = rules.token_limit(budget)
        limits[PARALLEL_LIMIT] = rules.parallel_limit(max_parallel)
        self.limits = limits
        self.episodes = np.zeros((n, EPISODE_FIELDS), dtype=np.int64)
        self.episodes[:, DONE] = 1  # nothing started yet
        self.slots = np.zeros((n, max_branches, SLOT_FIELDS), dtype=np.int64)
        self.order = np.zeros((n, max(1, self.tables.max_branches)), dtype=np.int64)
        self.votes = np.zeros((n, max(1, self.tables.max_answers)), dtype=np.int32)
        self.levels = np.zeros((n, max_branches + 1), dtype=np.int32)
        self.mask = np.zeros((n, n_actions(max_branches)), dtype=np.int8)
        self.streams = np.zeros(n, dtype=np.uint64)
        self._bundle()

    def arrays(self) -> list[np.ndarray]:
        """The tables and the state, in the order `unpack` rebuilds them."""
        t = self.tables
        return [
            t.probes, t.n_probes, t.lengths, t.finals, t.n_branches, t.probe_freq, t.gold,
            self.episodes, self.slots, self.order, self.votes, self.levels, self.mask,
            self.streams, self.limits,
        ]  # fmt: skip

    def _bundle(self) -> None:
        self.table = ArrayTable(self.arrays())
        assert self.table.signature() == SIGNATURE

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        del state["tables"]
        return state

    def __setstate__(self, state: dict) -> None:
        state["tables"] = StoreTables.of(state["stores"])
        super().__setstate__(state)

    # ---- Python-side access ----------------------------------------------------------------
    def seed(self, rng: np.random.Generator) -> None:
        """Seed every episode's random stream from `rng` (and forget the order pools, so that
        what follows depends on the seed alone)."""
        random.seed_streams(self.streams, rng)
        self.episodes[:, POOL] = 0

    def seed_each(self, seeds: Sequence[int]) -> None:
        """Seed episode i's random stream from `seeds[i]` alone."""
        for i, seed in enumerate(seeds):
            self.streams[i] = np.random.SeedSequence(int(seed)).generate_state(1, np.uint64)[0]
        self.episodes[:, POOL] = 0

    def reset(self, questions: np.ndarray, orders: Sequence[Sequence[int] | None]) -> None:
        """Start a new episode everywhere: question `questions[i]` (-1: drawn), order
        `orders[i]` (None: drawn lazily as branches open)."""
        lengths = np.zeros(self.n, dtype=np.int64)
        for i, order in enumerate(orders):
            if order is not None:
                lengths[i] = len(order)
                self.order[i, : len(order)] = order
        table = self.table
        reset_all(table.addresses, table.shapes, np.asarray(questions, np.int64), lengths)

    def step(self, actions: np.ndarray) -> int:
        """Apply `actions[i]` to every running episode i; returns the first i whose action is
        illegal, or -1 (then nothing changed). Ended episodes stay ended."""
        return step_all(self.table.addresses, self.table.shapes, actions)

    def view(self, i: int) -> EpisodeView:
        return EpisodeView(self, i)


class EpisodeView:
    """Episode `i` of a batch, read live in `Episode`'s vocabulary (for messages, `render`,
    adapters and tests): the question, slot lists, votes, tokens, sequential tokens, done,
    answer and limits."""

    def __init__(self, batch: BatchEpisodes, i: int) -> None:
        self._batch = batch
        self._row = batch.episodes[i]
        self._slots = batch.slots[i]
        self._votes = batch.votes[i]
        self.max_branches = batch.max_branches
        self.probe_cost = batch.probe_cost
        self.reveal_on_continue = batch.reveal_on_continue
        self.budget = batch.budget
        self.max_parallel = batch.max_parallel

    def _column(self, field: int) -> list[int]:
        return self._slots[: self.n_opened, field].tolist()

    question = property(lambda self: self._batch.questions[self._row[QUESTION]])
    store_index = property(lambda self: int(self._batch.tables.store_of[self._row[QUESTION]]))
    n_opened = property(lambda self: int(self._row[N_OPENED]))
    n_unopened = property(lambda self: int(self._row[N_ORDER] - self._row[N_OPENED]))
    n_alive = property(lambda self: int(self._row[N_ALIVE]))
    tokens = property(lambda self: int(self._row[TOKENS]))
    seq_tokens = property(lambda self: int(self._row[SEQ_TOKENS]))
    done = property(lambda self: bool(self._row[DONE]))
    answer = property(lambda self: int(self._row[ANSWER]))
    branch = property(lambda self: self._column(BRANCH))
    depth = property(lambda self: self._column(DEPTH))
    charged = property(lambda self: self._column(CHARGED))
    current = property(lambda self: self._column(CURRENT))
    revealed = property(lambda self: self._column(REVEALED))
    finished = property(lambda self: [bool(x) for x in self._column(FINISHED)])
    pruned = property(lambda self: [bool(x) for x in self._column(PRUNED)])

    @property
    def votes(self) -> dict[int, int]:
        """Vote counts by answer id (`Episode.votes` keeps first-vote order; this, id order)."""
        return {int(a): int(self._votes[a]) for a in np.flatnonzero(self._votes)}

    @property
    def correct(self) -> bool:
        return self.answer != NO_ANSWER and self.answer == self.question.gold_id

    def answer_text(self, answer: int) -> str | None:
        return None if answer == NO_ANSWER else self.question.answers[answer]

    def why_illegal(self, kind: ActionKind, slot: int = 0) -> str | None:
        return rules.why_illegal(self, kind, slot)


# ---- compiled: votes ------------------------------------------------------------------------
@numba.njit(cache=True, inline="always")
def _vote(state, i, answer):
    episodes, votes, levels = state[0], state[3], state[4]
    count = votes[i, answer]
    if count > 0:
        levels[i, count] -= 1
    else:
        episodes[i, N_DISTINCT] += 1
    votes[i, answer] = count + 1
    levels[i, count + 1] += 1
    episodes[i, N_VOTES] += 1


@numba.njit(cache=True, inline="always")
def _unvote(state, i, answer):
    episodes, votes, levels = state[0], state[3], state[4]
    count = votes[i, answer]
    levels[i, count] -= 1
    if count > 1:
        levels[i, count - 1] += 1
    else:
        episodes[i, N_DISTINCT] -= 1
    votes[i, answer] = count - 1
    episodes[i, N_VOTES] -= 1


@numba.njit(cache=True, inline="always")
def _reveal(state, i, slot, answer):
    """Slot `slot` now shows `answer`; returns whether the vote counts changed."""
    slots = state[1]
    previous = slots[i, slot, REVEALED]
    if previous == answer:
        return False
    slots[i, slot, REVEALED] = answer
    if slots[i, slot, PRUNED]:
        return False
    if previous != NO_ANSWER:
        _unvote(state, i, previous)
    _vote(state, i, answer)
    return True


@numba.njit(cache=True, inline="always")
def majority(state, i):
    """`Episode.majority`: most votes among unpruned revealed slots, ties to the lowest slot."""
    episodes, slots, votes = state[0], state[1], state[3]
    best, answer = 0, NO_ANSWER
    for slot in range(episodes[i, N_OPENED]):
        revealed = slots[i, slot, REVEALED]
        if revealed != NO_ANSWER and not slots[i, slot, PRUNED] and votes[i, revealed] > best:
            best, answer = votes[i, revealed], revealed
    return answer


# ---- compiled: one episode ------------------------------------------------------------------
@numba.njit(cache=True, inline="always")
def clear(state, i):
    """Undo what episode i's last episode wrote to the votes, levels and mask."""
    episodes, slots, votes, levels, mask = state[0], state[1], state[3], state[4], state[5]
    n_opened = episodes[i, N_OPENED]
    for slot in range(n_opened):
        revealed = slots[i, slot, REVEALED]
        if revealed != NO_ANSWER:
            votes[i, revealed] = 0
    levels[i, : n_opened + 1] = 0  # no answer holds more votes than there are slots
    mask[i, :] = 0


@numba.njit(cache=True, inline="always")
def start(tables, state, i, question, pinned_length):
    """Start episode i on global question `question` (after `clear`). `pinned_length` > 0:
    the order is `order[i, :pinned_length]`, already written; 0: drawn as branches open."""
    n_branches = tables[4]
    episodes, _, order, _, _, mask, _, limits = state
    row = episodes[i]
    if pinned_length > 0:
        n_order = pinned_length
        row[POOL] = 0
    else:
        n_order = n_branches[question]
        if row[POOL] != n_order:  # else the last episode left a permutation of the same pool
            for k in range(n_order):
                order[i, k] = k
            row[POOL] = n_order
    row[QUESTION] = question
    row[N_ORDER] = n_order
    row[PINNED] = pinned_length > 0
    row[N_OPENED] = 0
    row[TOKENS] = 0
    row[DONE] = 0
    row[ANSWER] = NO_ANSWER
    row[N_VOTES] = 0
    row[N_DISTINCT] = 0
    row[SLOT] = -1
    row[SHOWN] = NO_ANSWER
    row[ENDED] = 0
    row[COST] = 0
    row[KIND] = -1
    row[VOTES_CHANGED] = 0
    row[N_ALIVE] = 0
    row[SEQ_TOKENS] = 0
    row[WAVE] = 0
    row[WAVE_FROM] = 0
    row[CLOCK] = 0
    mask[i, _ANSWER] = 1
    m, limit = limits[MAX_BRANCHES], limits[TOKEN_LIMIT]
    rules.refresh_open_mask(mask[i], m, 0, n_order, 0, 0, limit, limits[PROBE_COST])
    rules.refresh_batch_mask(mask[i], m, 0, n_order, 0, 0, limit)


@numba.njit(cache=True, inline="always")
def is_legal(state, i, action):
    episodes, mask = state[0], state[5]
    return not episodes[i, DONE] and 0 <= action < mask.shape[1] and mask[i, action] != 0


@numba.njit(cache=True, inline="always")
def _new_slot(state, i):
    """Open the next branch of episode i's order (a lazy Fisher-Yates draw when not pinned)."""
    episodes, slots, order, streams = state[0], state[1], state[2], state[6]
    slot = episodes[i, N_OPENED]
    if not episodes[i, PINNED]:
        random.draw_slot(order[i], slot, episodes[i, N_ORDER], streams, i)
    episodes[i, N_OPENED] = slot + 1
    episodes[i, N_ALIVE] += 1
    row = slots[i, slot]
    row[BRANCH] = order[i, slot]
    row[DEPTH] = 0
    row[CHARGED] = 0
    row[CURRENT] = NO_ANSWER
    row[REVEALED] = NO_ANSWER
    row[FINISHED] = 0
    row[PRUNED] = 0
    row[WRITEUP] = 0
    return slot


@numba.njit(cache=True, inline="always")
def _explore(tables, state, i, slot):
    """`Episode._explore`: returns (answer shown or NO_ANSWER, finished, votes changed); the
    slot's `WRITEUP` says how many of the tokens it charged were write-up."""
    probes, n_probes, lengths, finals, _, probe_freq, _ = tables
    episodes, slots, limits = state[0], state[1], state[7]
    row = slots[i, slot]
    question = episodes[i, QUESTION]
    answer, cost, finished = explore(
        probes, n_probes, lengths, finals, probe_freq[question], question, row[BRANCH],
        row[DEPTH], row[CHARGED],
    )  # fmt: skip
    row[WRITEUP] = 0
    if finished:
        row[FINISHED] = 1
        episodes[i, N_ALIVE] -= 1
        if is_writeup(probes, n_probes, finals, question, row[BRANCH]):
            row[WRITEUP] = cost
    else:
        row[DEPTH] += 1
    row[CHARGED] += cost
    episodes[i, TOKENS] += cost
    row[CURRENT] = answer
    if not limits[REVEAL_ON_CONTINUE]:
        return NO_ANSWER, finished, False
    return answer, finished, _reveal(state, i, slot, answer)


@numba.njit(cache=True, inline="always")
def _read(tables, state, i, slot):
    """READ into the freshly opened `slot`: returns (answer shown, votes changed)."""
    n_probes, lengths, finals = tables[1], tables[2], tables[3]
    episodes, slots = state[0], state[1]
    row = slots[i, slot]
    question = episodes[i, QUESTION]
    shown, cost = read(lengths, finals, question, row[BRANCH])
    row[DEPTH] = n_probes[question, row[BRANCH]]
    row[CHARGED] = cost
    episodes[i, TOKENS] += cost
    row[FINISHED] = 1
    episodes[i, N_ALIVE] -= 1
    row[CURRENT] = shown
    return shown, _reveal(state, i, slot, shown)


@numba.njit(cache=True)
def _wave(tables, state, i, kind, k, listed):
    """A batch action as one wave: ADVANCE_ALL (every alive slot in slot order, or with k >= 0
    the slots `listed[:k]` in that order), OPEN_MANY(k) or READ_MANY(k). Each branch in it
    records its tokens before its write-up in `SEGMENT` (the write-up in `WRITEUP`). Returns
    (first slot it may touch, finished any branch, votes changed, the wave's `wave_timing`).
    Not inlined: it keeps `step`'s path for single actions as short as it was."""
    episodes, slots, limits = state[0], state[1], state[7]
    ended, changed = False, False
    if kind == _ADVANCE_ALL:
        first, stop = 0, episodes[i, N_OPENED]
        if k >= 0:  # only the listed slots are in the wave
            slots[i, :stop, SEGMENT] = -1
        for j in range(stop if k < 0 else k):
            slot = j if k < 0 else listed[j]
            row = slots[i, slot]
            if k < 0 and (row[FINISHED] or row[PRUNED]):
                row[SEGMENT] = -1
                continue
            charged = row[CHARGED]
            _, finished, votes_changed = _explore(tables, state, i, slot)
            row[SEGMENT] = row[CHARGED] - charged - row[WRITEUP]
            ended |= finished
            changed |= votes_changed
    else:
        first = episodes[i, N_OPENED]
        stop = first + k
        for _ in range(k):
            slot = _new_slot(state, i)
            if kind == _OPEN_MANY:
                _, finished, votes_changed = _explore(tables, state, i, slot)
                ended |= finished
            else:
                _, votes_changed = _read(tables, state, i, slot)
                ended = True
            changed |= votes_changed
            slots[i, slot, SEGMENT] = slots[i, slot, CHARGED] - slots[i, slot, WRITEUP]
    duration, end = rules.wave_timing(
        slots[i, first:stop, SEGMENT], slots[i, first:stop, WRITEUP], limits[PARALLEL_LIMIT]
    )
    return first, ended, changed, duration, end


_NO_SLOTS = np.zeros(0, dtype=np.int64)


@numba.njit(cache=True, inline="always")
def step(tables, state, i, action):
    """Apply a legal `action` to running episode i and record its outcome in the row."""
    episodes, slots, limits = state[0], state[1], state[7]
    kind, slot = action_kind_slot(action, limits[MAX_BRANCHES])
    tokens_before = episodes[i, TOKENS]
    shown, ended, changed = NO_ANSWER, False, False
    if kind == _CONTINUE:
        shown, ended, changed = _explore(tables, state, i, slot)
    elif kind == _BRANCH:
        slot = _new_slot(state, i)
        shown, ended, changed = _explore(tables, state, i, slot)
    elif kind == _READ:
        slot = _new_slot(state, i)
        shown, changed = _read(tables, state, i, slot)
        ended = True
    elif kind == _PROBE:
        slots[i, slot, CHARGED] += limits[PROBE_COST]
        episodes[i, TOKENS] += limits[PROBE_COST]
        shown = slots[i, slot, CURRENT]
        changed = _reveal(state, i, slot, shown)
    elif kind == _PRUNE:
        slots[i, slot, PRUNED] = 1
        episodes[i, N_ALIVE] -= 1
        revealed = slots[i, slot, REVEALED]
        if revealed != NO_ANSWER:
            _unvote(state, i, revealed)
            changed = True
    elif kind == _SUBMIT:
        episodes[i, ANSWER] = slots[i, slot, REVEALED]
        episodes[i, DONE] = 1
    elif kind == _ANSWER:
        episodes[i, ANSWER] = majority(state, i)
        episodes[i, DONE] = 1
        slot = -1
    else:
        k = -1 if kind == _ADVANCE_ALL else slot  # -1: every alive slot
        first, ended, changed, duration, end = _wave(tables, state, i, kind, k, _NO_SLOTS)
        _settle(state, i, kind, -1, NO_ANSWER, ended, changed, tokens_before, first, duration, end)
        return
    # a single action is a wave of its own; a write-up lasts no time in it
    end = slots[i, slot, WRITEUP] if ended and kind != _READ else 0
    duration = episodes[i, TOKENS] - tokens_before - end
    _settle(state, i, kind, slot, shown, ended, changed, tokens_before, -1, duration, end)


@numba.njit(cache=True)
def wave(tables, state, i, kind, k, listed):
    """A batch call of any width as one wave on running episode i (the question handle's
    `advance_many(listed[:k])`, `open_many(k)`, `read_many(k)`: ADVANCE_ALL, OPEN_MANY,
    READ_MANY), legal as the caller checked; its outcome recorded as `step` records it."""
    tokens_before = state[0][i, TOKENS]
    first, ended, changed, duration, end = _wave(tables, state, i, kind, k, listed)
    _settle(state, i, kind, -1, NO_ANSWER, ended, changed, tokens_before, first, duration, end)


@numba.njit(cache=True, inline="always")
def _settle(state, i, kind, slot, shown, ended, changed, tokens_before, first, duration, end):
    """Record an action's outcome in episode i's row (its wave of `duration` that started
    at the clock, a write-up ending `end` after that) and refresh the mask where it may
    have changed."""
    episodes, slots, mask, limits = state[0], state[1], state[5], state[7]
    m = limits[MAX_BRANCHES]
    row = episodes[i]
    row[SLOT] = slot
    row[SHOWN] = shown
    row[ENDED] = ended
    row[COST] = row[TOKENS] - tokens_before
    row[KIND] = kind
    row[VOTES_CHANGED] = changed
    clock = row[CLOCK]
    row[CLOCK] = clock + duration
    seq = max(row[SEQ_TOKENS], clock + duration, clock + end)
    row[WAVE] = seq - row[SEQ_TOKENS]
    row[WAVE_FROM] = first
    row[SEQ_TOKENS] = seq
    if row[DONE]:
        return
    limit, probe_cost = limits[TOKEN_LIMIT], limits[PROBE_COST]
    tokens = row[TOKENS]
    if slot >= 0:
        s = slots[i, slot]
        rules.refresh_slot_mask(
            mask[i], m, slot, s[FINISHED] != 0, s[PRUNED] != 0, s[REVEALED], s[CURRENT],
            tokens, limit, probe_cost,
        )  # fmt: skip
    elif first >= 0:
        for touched in range(first, row[N_OPENED]):
            s = slots[i, touched]
            if s[SEGMENT] >= 0:
                rules.refresh_slot_mask(
                    mask[i], m, touched, s[FINISHED] != 0, s[PRUNED] != 0, s[REVEALED],
                    s[CURRENT], tokens, limit, probe_cost,
                )  # fmt: skip
    n_opened, n_order = row[N_OPENED], row[N_ORDER]
    rules.refresh_open_mask(mask[i], m, n_opened, n_order, tokens, tokens_before, limit, probe_cost)
    rules.refresh_batch_mask(mask[i], m, n_opened, n_order, row[N_ALIVE], tokens, limit)


@numba.njit(cache=True, inline="always")
def is_correct(tables, state, i):
    gold, episodes = tables[6], state[0]
    answer = episodes[i, ANSWER]
    return answer != NO_ANSWER and answer == gold[episodes[i, QUESTION]]


@numba.njit(cache=True, inline="always")
def seed_order(state, i, key):
    """Episode i's next drawn order comes from `key` alone (`random.keyed_order(key, n)`): its
    stream restarts at `key` and its pool at the identity. Call before `start`."""
    state[6][i] = key
    state[0][i, POOL] = 0


@numba.njit(cache=True, inline="always")
def draw_question(tables, state, i):
    return random.below(state[6], i, tables[4].shape[0])


# ---- compiled: the batch --------------------------------------------------------------------
@numba.njit(cache=True, inline="always")
def unpack(addresses, shapes, k):
    """(tables, state) from an `ArrayTable` of `BatchEpisodes.arrays()` starting at entry k."""
    a, s = addresses, shapes
    tables = (
        view3(a, s, k, np.int32), view2(a, s, k + 1, np.int32), view2(a, s, k + 2, np.int64),
        view2(a, s, k + 3, np.int32), view1(a, s, k + 4, np.int32),
        view1(a, s, k + 5, np.int64), view1(a, s, k + 6, np.int32),
    )  # fmt: skip
    state = (
        view2(a, s, k + 7, np.int64), view3(a, s, k + 8, np.int64),
        view2(a, s, k + 9, np.int64), view2(a, s, k + 10, np.int32),
        view2(a, s, k + 11, np.int32), view2(a, s, k + 12, np.int8),
        view1(a, s, k + 13, np.uint64), view1(a, s, k + 14, np.int64),
    )  # fmt: skip
    return tables, state


@numba.njit(cache=True)
def reset_all(addresses, shapes, questions, pinned_lengths):
    tables, state = unpack(addresses, shapes, 0)
    for i in range(questions.shape[0]):
        clear(state, i)
        question = questions[i] if questions[i] >= 0 else draw_question(tables, state, i)
        start(tables, state, i, question, pinned_lengths[i])


@numba.njit(cache=True)
def step_all(addresses, shapes, actions):
    tables, state = unpack(addresses, shapes, 0)
    for i in range(actions.shape[0]):
        if not state[0][i, DONE] and not is_legal(state, i, actions[i]):
            return i
    for i in range(actions.shape[0]):
        if not state[0][i, DONE]:
            step(tables, state, i, actions[i])
    return -1
