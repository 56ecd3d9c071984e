"""The env's compiled half: observations over the batch core's state, and the one-call step.

`ObservationBuilder` (observation.py) defines the observation; the functions here compute the
same float32 values, bit for bit, for N episodes held by `tts_gym.engine.core.batch`, updating
only what an action changed: the acting slot's row, the vote columns when the votes changed,
and the globals. `step_envs` is the whole batch step in one compiled call (legality, the
core's step, observations (every slot a batch action touched), rewards, and the reset of
episodes that ended on the previous step); `reset_envs` starts new episodes and
`restart_ended` the ended ones. An episode that is not pinned is drawn from its env's numpy
Generator when it has one (the question with `integers`, then the key of its branch order:
what `TTSControl-v0` draws from its `np_random`), else from the core's stream.
`CompiledEnvs` owns the arrays and makes the calls; the envs (`TTSControlEnv` with N = 1,
the vector envs, the macro batch) run on it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np
from numba.extending import register_jitable

from tts_gym.engine.actions import ActionKind
from tts_gym.engine.core import batch as core
from tts_gym.engine.core import random
from tts_gym.engine.core.addresses import ArrayTable, BundledArrays, view1, view2, view3
from tts_gym.engine.core.layout import (
    ANSWER,
    BRANCH,
    CHARGED,
    COST,
    CURRENT,
    DEPTH,
    DONE,
    ENDED,
    FINISHED,
    KIND,
    MAX_BRANCHES,
    N_DISTINCT,
    N_OPENED,
    N_ORDER,
    N_VOTES,
    PRUNED,
    QUESTION,
    REVEAL_ON_CONTINUE,
    REVEALED,
    SEGMENT,
    SEQ_TOKENS,
    SHOWN,
    SLOT,
    TOKEN_LIMIT,
    TOKENS,
    VOTES_CHANGED,
    WAVE,
    WAVE_FROM,
)
from tts_gym.engine.core.replay import confidence_lookup
from tts_gym.engine.rules import NO_ANSWER, NO_LIMIT
from tts_gym.env.observation import (
    BRANCH_TOKEN_SCALE,
    DEPTH_SCALE,
    EPISODE_TOKEN_SCALE,
    FEATURE_CAP,
    GLOBAL_FEATURES,
    SLOT_FEATURES,
    STABLE_SCALE,
)
from tts_gym.env.reward import step_reward

# slot feature columns
_OPENED, _ALIVE, _FINISHED, _PRUNED, _REVEALED, _DEPTH, _TOKENS = range(7)
_LEADER_RANK, _AGREES, _VOTE_SHARE, _STABLE, _ERR, _CONFIDENCE = range(7, 13)
assert SLOT_FEATURES[_CONFIDENCE] == "confidence" and len(SLOT_FEATURES) == 13
assert SLOT_FEATURES[_LEADER_RANK] == "leader_rank" and SLOT_FEATURES[_STABLE] == "stable"
assert len(GLOBAL_FEATURES) == 10

# columns of `per_episode` (int64 [N, ...]) and `per_slot` (int32 [N, M, ...])
N_IDS, N_FINISHED, FINISHED_TOP1, FINISHED_TOP2, TOP1, TOP2, IDS_CHANGED = range(7)
STABLE, VOTING_ID, SHOWN_ID = range(3)
RANK_FEATURE, SHARE_FEATURE = range(2)  # rows of the `by_count` scratch
_READ_MANY = int(ActionKind.READ_MANY)
register_jitable(step_reward)


class CompiledEnvs(BundledArrays):
    """N env episodes on the compiled core: the batch, the observations, the one-call steps.

    `slots`, `globals`, `answer_id` are the observation (`ObservationBuilder`'s arrays with a
    leading N). Besides them it keeps, per episode, each question answer id's episode id
    (`episode_ids`, numbered in order of first reveal, and back in `id_answers`), the
    finished branches' answers (`finished_votes`) and counters; per slot, the stable count,
    the voting id and the episode id it shows (`answer_id` holds that id's rank among the ids
    the slots show). `actions`, `rewards`, `questions` and `lengths` are the call buffers:
    the caller writes actions (or the questions and pinned order lengths of a reset) there;
    `illegal` says which actions a step ignored. `pool` lists the global questions a drawn
    episode comes from (default: all), `generators` each env's numpy Generator stream
    (`use_generators`; zeros: the core's own stream).
    """

    def __init__(self, batch: core.BatchEpisodes) -> None:
        n, m, tables = batch.n, batch.max_branches, batch.tables
        answers = max(1, tables.max_answers)
        self.batch = batch
        self.lookup = confidence_lookup(m)
        self.slots = np.zeros((n, m, len(SLOT_FEATURES)), dtype=np.float32)
        self.globals = np.zeros((n, len(GLOBAL_FEATURES)), dtype=np.float32)
        self.answer_id = np.full((n, m), -1.0, dtype=np.float32)
        self.episode_ids = np.full((n, answers), -1, dtype=np.int32)
        self.id_answers = np.zeros((n, answers), dtype=np.int32)
        self.finished_votes = np.zeros((n, answers), dtype=np.int32)
        self.per_episode = np.zeros((n, 7), dtype=np.int64)
        self.per_slot = np.zeros((n, m, 3), dtype=np.int32)
        self.per_slot[:, :, VOTING_ID] = -1
        self.per_slot[:, :, SHOWN_ID] = -1
        self.by_count = np.zeros((2, m + 1), dtype=np.float64)  # scratch: vote features by count
        self.ranks = np.zeros(answers, dtype=np.int32)  # scratch: answer ids by rank, all 0
        self.actions = np.zeros(n, dtype=np.int64)
        self.rewards = np.zeros(n, dtype=np.float64)
        self.questions = np.full(n, -1, dtype=np.int64)
        self.lengths = np.zeros(n, dtype=np.int64)
        self.illegal = np.zeros(n, dtype=np.bool_)
        self.pool = np.arange(max(1, tables.n_questions), dtype=np.int64)
        self.generators = np.zeros((n, 2), dtype=np.int64)
        self.rngs: list[np.random.Generator | None] = [None] * n
        self._bundle()

    def arrays(self) -> list[np.ndarray]:
        """The core's arrays, then these, in the order `_unpack` rebuilds them."""
        t = self.batch.tables
        return [
            *self.batch.arrays(),
            t.err, t.confidence, t.has_confidence, self.lookup,
            self.slots, self.globals, self.answer_id, self.episode_ids, self.id_answers,
            self.finished_votes, self.per_episode, self.per_slot, self.by_count, self.ranks,
            self.actions, self.rewards, self.questions, self.lengths, self.illegal, self.pool,
            self.generators,
        ]  # fmt: skip

    def _bundle(self) -> None:
        for i, rng in enumerate(self.rngs):  # addresses do not survive pickling: taken anew
            self.generators[i] = (0, 0) if rng is None else random.generator_stream(rng)
        self.table = ArrayTable(self.arrays())
        assert self.table.signature() == core.SIGNATURE + _SIGNATURE

    def use_generators(self, rngs: Sequence[np.random.Generator | None]) -> None:
        """Draw env i's episodes from `rngs[i]` (None: the core's stream). The Generators are
        kept here (compiled code draws through their addresses)."""
        self.rngs = list(rngs)
        self._bundle()

    def draw_from(self, questions: Sequence[int]) -> None:
        """Drawn episodes come from these global questions, uniformly (default: all)."""
        if not len(questions):
            raise ValueError("the pool of questions to draw from is empty.")
        self.pool = np.array(questions, dtype=np.int64)
        self._bundle()

    def reset(self) -> None:
        """Start an episode in every env: question `questions[i]` (-1: drawn) and, when
        `lengths[i] > 0`, the order already written to `batch.order[i, :lengths[i]]`."""
        reset_envs(self.table.addresses, self.table.shapes)

    def copied_slots(self) -> np.ndarray:
        """A fresh copy of `slots`, reading only the opened slots' rows (the others are zero:
        a slot's observation is zero until its branch opens): with short episodes, a quarter
        less time than `slots.copy()` (benchmarks/bench_env.py)."""
        out = np.empty_like(self.slots)
        copy_opened_slots(self.slots, self.batch.episodes, out)
        return out

    def step(self, token_penalty: float, latency_penalty: float = 0.0, strict: bool = True) -> int:
        """Step every env with `actions`; rewards land in `rewards`. `strict`: returns the
        first env whose action is illegal (then nothing changed), else -1; not strict: an
        illegal action changes nothing in its env (reward 0, `illegal[i]` set), the others
        step, and it returns -1."""
        return step_envs(
            self.table.addresses, self.table.shapes, token_penalty, latency_penalty, strict
        )

    def restart_ended(self) -> None:
        """Start a new (drawn) episode in every env whose episode has ended."""
        restart_ended(self.table.addresses, self.table.shapes)


_SIGNATURE = [
    (np.dtype(dtype), ndim)
    for dtype, ndim in (
        (np.int32, 1), (np.float32, 3), (np.bool_, 1), (np.float64, 2),  # tables
        (np.float32, 3), (np.float32, 2), (np.float32, 2), (np.int32, 2), (np.int32, 2),
        (np.int32, 2), (np.int64, 2), (np.int32, 3), (np.float64, 2), (np.int32, 1),  # obs
        (np.int64, 1), (np.float64, 1), (np.int64, 1), (np.int64, 1), (np.bool_, 1),
        (np.int64, 1), (np.int64, 2),  # call buffers
    )
]  # fmt: skip


@numba.njit(cache=True, inline="always")
def _unpack(addresses, shapes):
    a, s = addresses, shapes
    tables, state = core.unpack(a, s, 0)
    k = core.ARRAYS
    obs_tables = (
        view1(a, s, k, np.int32), view3(a, s, k + 1, np.float32),
        view1(a, s, k + 2, np.bool_), view2(a, s, k + 3, np.float64),
    )  # fmt: skip
    obs = (
        view3(a, s, k + 4, np.float32), view2(a, s, k + 5, np.float32),
        view2(a, s, k + 6, np.float32), view2(a, s, k + 7, np.int32),
        view2(a, s, k + 8, np.int32), view2(a, s, k + 9, np.int32),
        view2(a, s, k + 10, np.int64), view3(a, s, k + 11, np.int32),
        view2(a, s, k + 12, np.float64), view1(a, s, k + 13, np.int32),
    )  # fmt: skip
    calls = (
        view1(a, s, k + 14, np.int64), view1(a, s, k + 15, np.float64),
        view1(a, s, k + 16, np.int64), view1(a, s, k + 17, np.int64),
        view1(a, s, k + 18, np.bool_), view1(a, s, k + 19, np.int64),
        view2(a, s, k + 20, np.int64),
    )  # fmt: skip
    return tables, obs_tables, state, obs, calls


# ---- one episode ----------------------------------------------------------------------------
@numba.njit(cache=True, inline="always")
def _clear(state, obs, i):
    """Undo what episode i's last episode wrote (before the core's `clear`)."""
    episodes, slots = state[0], state[1]
    obs_slots, _, answer_id, episode_ids, id_answers, finished_votes, per_episode, per_slot = obs[
        :8
    ]
    for slot in range(episodes[i, N_OPENED]):
        obs_slots[i, slot, :] = 0.0
        answer_id[i, slot] = -1.0
        per_slot[i, slot, STABLE] = 0
        per_slot[i, slot, VOTING_ID] = -1
        per_slot[i, slot, SHOWN_ID] = -1
        if slots[i, slot, FINISHED]:
            finished_votes[i, slots[i, slot, CURRENT]] = 0
    for episode_id in range(per_episode[i, N_IDS]):
        episode_ids[i, id_answers[i, episode_id]] = -1
    per_episode[i, :] = 0


@numba.njit(cache=True, inline="always")
def _update_slot(obs_tables, state, obs, i, slot, revealed_now):
    """`ObservationBuilder._update_slot`."""
    err, confidence, has_confidence = obs_tables[0], obs_tables[1], obs_tables[2]
    episodes, slots = state[0], state[1]
    obs_slots, _, _, episode_ids, id_answers, finished_votes, per_episode, per_slot = obs[:8]
    s = slots[i, slot]
    row = obs_slots[i, slot]
    counters = per_episode[i]
    finished, pruned = s[FINISHED] != 0, s[PRUNED] != 0
    row[_OPENED] = 1.0
    row[_ALIVE] = not (finished or pruned)
    if finished and row[_FINISHED] == 0.0:
        votes = finished_votes[i, s[CURRENT]] + 1
        finished_votes[i, s[CURRENT]] = votes
        counters[N_FINISHED] += 1
        if votes > counters[FINISHED_TOP1]:
            counters[FINISHED_TOP1] = votes
        elif votes > counters[FINISHED_TOP2]:
            counters[FINISHED_TOP2] = votes
    row[_FINISHED] = finished
    row[_PRUNED] = pruned
    depth = s[DEPTH]
    row[_DEPTH] = min(FEATURE_CAP, depth / DEPTH_SCALE)
    row[_TOKENS] = min(FEATURE_CAP, s[CHARGED] / BRANCH_TOKEN_SCALE)
    if pruned:
        per_slot[i, slot, VOTING_ID] = -1
    if not revealed_now:
        return
    answer = s[REVEALED]
    episode_id = episode_ids[i, answer]
    if episode_id < 0:
        episode_id = counters[N_IDS]
        episode_ids[i, answer] = episode_id
        id_answers[i, episode_id] = answer
        counters[N_IDS] += 1
    if per_slot[i, slot, SHOWN_ID] == episode_id:
        per_slot[i, slot, STABLE] += 1
    else:
        per_slot[i, slot, STABLE] = 0
        per_slot[i, slot, SHOWN_ID] = episode_id
        counters[IDS_CHANGED] = 1
    row[_REVEALED] = 1.0
    row[_STABLE] = min(1.0, per_slot[i, slot, STABLE] / STABLE_SCALE)
    question = episodes[i, QUESTION]
    row[_ERR] = answer == err[question]
    if has_confidence[question] and depth > 0:
        value = confidence[question, s[BRANCH], depth - 1]
        row[_CONFIDENCE] = min(FEATURE_CAP, max(0.0, value))
    per_slot[i, slot, VOTING_ID] = -1 if pruned else episode_id


@numba.njit(cache=True, inline="always")
def _rank_answer_ids(obs, i, n_open):
    """`answer_id` of every open slot: the rank of the episode id it shows among the distinct
    ids the slots show (0, 1, 2, ... in order of first reveal), so it stays below
    `max_branches` however many answers the episode has seen (`ObservationBuilder._rank`)."""
    answer_id, per_episode, per_slot, ranks = obs[2], obs[6], obs[7], obs[9]
    for slot in range(n_open):
        shown = per_slot[i, slot, SHOWN_ID]
        if shown >= 0:
            ranks[shown] = 1
    rank = 0
    for episode_id in range(per_episode[i, N_IDS]):
        if ranks[episode_id]:
            rank += 1
            ranks[episode_id] = rank
    for slot in range(n_open):
        shown = per_slot[i, slot, SHOWN_ID]
        if shown >= 0:
            answer_id[i, slot] = ranks[shown] - 1
    for slot in range(n_open):
        shown = per_slot[i, slot, SHOWN_ID]
        if shown >= 0:
            ranks[shown] = 0
    per_episode[i, IDS_CHANGED] = 0


@numba.njit(cache=True, inline="always")
def _update_vote_columns(state, obs, i):
    """The vote columns of every open slot and the top two counts (`_update_votes`). A
    voting slot's count is read through its answer's episode id, not its slot row: this loop
    runs over every open slot, and the slot rows are the largest part of the state."""
    episodes, votes, levels = state[0], state[3], state[4]
    obs_slots, id_answers, per_episode, per_slot, by_count = obs[0], obs[4], obs[6], obs[7], obs[8]
    total = episodes[i, N_VOTES]
    top1 = total
    while top1 > 0 and levels[i, top1] == 0:
        top1 -= 1
    top2 = top1 if levels[i, top1] > 1 else top1 - 1
    while top2 > 0 and levels[i, top2] == 0:
        top2 -= 1
    per_episode[i, TOP1] = top1
    per_episode[i, TOP2] = max(top2, 0)
    # per vote count c held by some answer: its leader-rank feature and its vote share
    # (once per count, not per slot: divisions are the dearest part of this update)
    above = 0  # answers holding more than `count` votes: the rank of those holding `count`
    for count in range(top1, 0, -1):
        if levels[i, count]:
            by_count[RANK_FEATURE, count] = 1.0 / (1 + above)
            by_count[SHARE_FEATURE, count] = count / total
            above += levels[i, count]
    n_open = episodes[i, N_OPENED]
    leader = -1
    for slot in range(n_open):
        voting_id = per_slot[i, slot, VOTING_ID]
        if (
            voting_id >= 0
            and votes[i, id_answers[i, voting_id]] == top1
            and (leader < 0 or voting_id < leader)
        ):
            leader = voting_id  # ties: the answer revealed first
    for slot in range(n_open):
        row = obs_slots[i, slot]
        voting_id = per_slot[i, slot, VOTING_ID]
        if voting_id < 0:
            row[_LEADER_RANK] = 0.0
            row[_AGREES] = 0.0
            row[_VOTE_SHARE] = 0.0
        else:
            count = votes[i, id_answers[i, voting_id]]
            row[_LEADER_RANK] = by_count[RANK_FEATURE, count]
            row[_AGREES] = voting_id == leader
            row[_VOTE_SHARE] = by_count[SHARE_FEATURE, count]


@numba.njit(cache=True, inline="always")
def _update_globals(obs_tables, state, obs, i):
    lookup = obs_tables[3]
    episodes, limits = state[0], state[7]
    g, per_episode = obs[1][i], obs[6][i]
    m = limits[MAX_BRANCHES]
    e = episodes[i]
    n_open, tokens, total = e[N_OPENED], e[TOKENS], e[N_VOTES]
    top1, top2 = per_episode[TOP1], per_episode[TOP2]
    g[0] = n_open / m
    g[1] = min(FEATURE_CAP, tokens / EPISODE_TOKEN_SCALE)
    g[2] = top1 / total if total else 0.0
    g[3] = top2 / total if total else 0.0
    g[4] = lookup[top1, top2]
    g[5] = lookup[per_episode[FINISHED_TOP1], per_episode[FINISHED_TOP2]]
    g[6] = min(FEATURE_CAP, e[N_DISTINCT] / m)
    g[7] = (e[N_ORDER] - n_open) / e[N_ORDER]
    g[8] = per_episode[N_FINISHED] / m
    limit = limits[TOKEN_LIMIT]
    g[9] = min(FEATURE_CAP, tokens / limit) if limit != NO_LIMIT else 0.0


@numba.njit(cache=True, inline="always")
def _restart(tables, obs_tables, state, obs, calls, i, question, pinned_length):
    """Start episode i anew: clear what the last one touched, start, observe. `question` -1
    draws one from the pool; `pinned_length` 0 draws the order lazily, as branches open, from
    the core's stream. With a Generator, env i draws both from it as `TTSControl-v0` does (its
    `integers(len(pool))`, then the order's key, which restarts the core's stream and its
    order from the identity); without one, from the core's stream as it stands."""
    pool, generators = calls[5], calls[6]
    _clear(state, obs, i)
    core.clear(state, i)
    if generators[i, 0] != 0:
        stream = (generators[i, 0], generators[i, 1])
        if question < 0:
            question = pool[random.generator_integer(stream, pool.shape[0])]
        if pinned_length == 0:
            core.seed_order(state, i, random.generator_order_key(stream))
    elif question < 0:
        question = pool[random.below(state[6], i, pool.shape[0])]
    core.start(tables, state, i, question, pinned_length)
    _update_globals(obs_tables, state, obs, i)


@numba.njit(cache=True, inline="always")
def _update_wave_slots(obs_tables, state, obs, i):
    """`_update_slot` for every slot the episode's last action, a batch action, touched."""
    episodes, slots, limits = state[0], state[1], state[7]
    e = episodes[i]
    revealed_now = e[KIND] == _READ_MANY or limits[REVEAL_ON_CONTINUE] != 0
    for slot in range(e[WAVE_FROM], e[N_OPENED]):
        if slots[i, slot, SEGMENT] >= 0:
            _update_slot(obs_tables, state, obs, i, slot, revealed_now)


@numba.njit(cache=True, inline="always")
def step_env(tables, obs_tables, state, obs, i, action, token_penalty, latency_penalty):
    """Env i's legal `action` (its episode running): the core's step, then the observation;
    returns the reward. `step_envs` runs it for every env; kernels that choose primitive
    actions inside compiled code (the RL macros) run it for one."""
    core.step(tables, state, i, action)
    e = state[0][i]
    reward = step_reward(token_penalty, latency_penalty, e[COST], e[WAVE])
    if e[DONE]:
        return reward + (1.0 if core.is_correct(tables, state, i) else 0.0)
    if e[SLOT] >= 0:
        _update_slot(obs_tables, state, obs, i, e[SLOT], e[SHOWN] != NO_ANSWER)
    elif e[WAVE_FROM] >= 0:
        _update_wave_slots(obs_tables, state, obs, i)
    if obs[6][i, IDS_CHANGED]:
        _rank_answer_ids(obs, i, e[N_OPENED])
    if e[VOTES_CHANGED]:
        _update_vote_columns(state, obs, i)
    _update_globals(obs_tables, state, obs, i)
    return reward


@numba.njit(cache=True, inline="always")
def _ignore(state, i):
    """Env i's last action did nothing: its outcome fields say so (the info reads them)."""
    e = state[0][i]
    e[SLOT] = -1
    e[SHOWN] = NO_ANSWER
    e[ENDED] = 0
    e[COST] = 0
    e[WAVE] = 0
    e[VOTES_CHANGED] = 0


# ---- the batch ------------------------------------------------------------------------------
@numba.njit(cache=True)
def reset_envs(addresses, shapes):
    """Start every env on `questions[i]` (-1: drawn) with the order pinned in
    `batch.order[i, :lengths[i]]` (0: drawn)."""
    tables, obs_tables, state, obs, calls = _unpack(addresses, shapes)
    questions, lengths = calls[2], calls[3]
    for i in range(questions.shape[0]):
        _restart(tables, obs_tables, state, obs, calls, i, questions[i], lengths[i])


@numba.njit(cache=True)
def restart_ended(addresses, shapes):
    tables, obs_tables, state, obs, calls = _unpack(addresses, shapes)
    episodes = state[0]
    for i in range(episodes.shape[0]):
        if episodes[i, DONE]:
            _restart(tables, obs_tables, state, obs, calls, i, -1, 0)


@numba.njit(cache=True)
def step_envs(addresses, shapes, token_penalty, latency_penalty, strict):
    """One step of every env (`CompiledEnvs.step`). An env whose episode ended on the previous
    step starts a new one (drawn) and ignores its action: Gymnasium's next-step autoreset."""
    tables, obs_tables, state, obs, calls = _unpack(addresses, shapes)
    actions, rewards, illegal = calls[0], calls[1], calls[4]
    episodes = state[0]
    n = actions.shape[0]
    if strict:
        for i in range(n):
            if not episodes[i, DONE] and not core.is_legal(state, i, actions[i]):
                return i
    for i in range(n):
        illegal[i] = False
        rewards[i] = 0.0
        if episodes[i, DONE]:
            _restart(tables, obs_tables, state, obs, calls, i, -1, 0)
        elif not core.is_legal(state, i, actions[i]):
            illegal[i] = True
            _ignore(state, i)
        else:
            rewards[i] = step_env(
                tables, obs_tables, state, obs, i, actions[i], token_penalty, latency_penalty
            )
    return -1


# rows of `info_columns`' outputs
(INFO_TOKENS, INFO_SEQ_TOKENS, INFO_STEP_COST, INFO_SLOT, INFO_REVEALED_TEXT, INFO_ANSWER_TEXT,
 INFO_STOP_KIND) = range(7)  # fmt: skip
INFO_FINISHED, INFO_TERMINATED, INFO_CORRECT = range(3)


@numba.njit(cache=True)
def info_columns(episodes, gold, text_offsets, numbers, flags):
    """The vector env's info in one pass over the episodes' rows: `numbers` int64 [7, N]
    (tokens, sequential tokens, step cost, slot, the index of the revealed answer's text and
    of the final answer's text among all questions' answers (-1: none), the kind that ended
    the episode (-1: not ended)) and `flags` bool [3, N] (finished, terminated, correct)."""
    for i in range(episodes.shape[0]):
        e = episodes[i]
        question, done = e[QUESTION], e[DONE] != 0
        numbers[INFO_TOKENS, i] = e[TOKENS]
        numbers[INFO_SEQ_TOKENS, i] = e[SEQ_TOKENS]
        numbers[INFO_STEP_COST, i] = e[COST]
        numbers[INFO_SLOT, i] = e[SLOT]
        shown, answer = e[SHOWN], e[ANSWER] if done else NO_ANSWER
        numbers[INFO_REVEALED_TEXT, i] = (
            -1 if shown == NO_ANSWER else text_offsets[question] + shown
        )
        numbers[INFO_ANSWER_TEXT, i] = (
            -1 if answer == NO_ANSWER else text_offsets[question] + answer
        )
        numbers[INFO_STOP_KIND, i] = e[KIND] if done else -1
        flags[INFO_FINISHED, i] = e[ENDED] != 0
        flags[INFO_TERMINATED, i] = done
        flags[INFO_CORRECT, i] = answer != NO_ANSWER and answer == gold[question]


@numba.njit(cache=True)
def copy_opened_slots(slots, episodes, out):
    for i in range(slots.shape[0]):
        n_opened = episodes[i, N_OPENED]
        out[i, :n_opened] = slots[i, :n_opened]
        out[i, n_opened:] = 0.0


# Compiled code built on these envs (the RL macros of `tts_gym_agents`) calls these as well,
# with `step_env`: the arrays of a `CompiledEnvs` table (then its own, after them) and the
# start of a new episode in one env.
unpack = _unpack
restart = _restart
