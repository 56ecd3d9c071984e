"""The macros run inside the compiled core: one call plays one macro in every env of a batch.

`MacroPlanner` (macro.py) states the macros in Python, as primitive actions chosen from the
env's observation, mask and the episode's `MacroMemory` after each step. Played that way, a
macro decision costs a few hundred Python-level env steps, and training spent 72% of its time
there. Here the same macros run in numba on the state of `tts_gym.env.compiled.CompiledEnvs`:
each primitive action goes through the env's own `step_env` (so dynamics, observations and
rewards are the env's, not restated), chosen from the same observation features, mask and
memory the planner reads, in the same order; then the policy observation
(`MacroPlanner.policy_observation`: the env's globals and `SUMMARY_FEATURES`, float32 values
computed as numpy computes them) and the legal macros are written for the next decision.
Tests hold this to `MacroEnv` decision by decision, bit for bit.

`MacroBatch` owns the arrays and makes the calls: `start` starts the episodes staged for some
envs (a pinned question and order, or a drawn one), `step` runs one macro in each acting env
(and, with `autoreset`, starts the env's staged episode when one ends: in the same call, or
at the env's next step as Gymnasium's next-step mode asks). `TTSControlMacroVectorEnv`
(`tts_gym.env.macro_vector`) is the Gymnasium vector env on it; the agents build their
training `VecEnv` and their batched play of a saved policy on it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from tts_gym.engine.actions import ActionKind, action_index
from tts_gym.engine.core import batch as core
from tts_gym.engine.core.addresses import ArrayTable, BundledArrays, view1, view2
from tts_gym.engine.core.batch import BatchEpisodes
from tts_gym.engine.core.layout import (
    ANSWER,
    DONE,
    MAX_BRANCHES,
    N_OPENED,
    QUESTION,
    SEQ_TOKENS,
    TOKENS,
)
from tts_gym.engine.rules import NO_ANSWER
from tts_gym.env import compiled
from tts_gym.env.compiled import CompiledEnvs
from tts_gym.env.macro import (
    COUNT_SCALE,
    DEPTH_SCALE,
    EMA_ALPHA,
    KEEP_ALIVE,
    N_MACROS,
    ROUND_SCALE,
    SUMMARY_FEATURES,
    TREND_ROUNDS,
    Macro,
)
from tts_gym.env.observation import DEPTH_SCALE as ENV_DEPTH_SCALE
from tts_gym.env.observation import FEATURE_CAP, GLOBAL_FEATURES, SLOT_FEATURES
from tts_gym.store import ReplayStore

# columns of `outcome` (int64 [N, OUTCOME_FIELDS]): what the last macro did
ENDED = 0  # the episode ended
ANSWER_ID = 1  # the answer it ended with (question answer id, NO_ANSWER if none)
TOKENS_SPENT = 2  # the episode's tokens at its end
CORRECT = 3
GLOBAL_QUESTION = 4  # the ended episode's question (global index of the batch's tables)
PRIMITIVES = 5  # primitive actions the macro took
SEQ_TOKENS_SPENT = 6  # the episode's sequential tokens at its end
ILLEGAL = 7  # the macro was masked and ignored
OUTCOME_FIELDS = 8

# `autoreset` of `MacroBatch.step`
NO_AUTORESET, SAME_STEP, NEXT_STEP = range(3)

_ANSWER_MACRO, _SUBMIT_MACRO = int(Macro.ANSWER), int(Macro.SUBMIT_FINISHED)
_WIDEN_MACRO, _ADVANCE_MACRO = int(Macro.WIDEN), int(Macro.ADVANCE)
_WIDEN_ONE_MACRO, _ROUND_MACRO = int(Macro.WIDEN_ONE), int(Macro.ROUND)
_DEEPEN_MACRO, _PRUNE_MACRO = int(Macro.DEEPEN), int(Macro.PRUNE)
_ANSWER, _BRANCH = int(ActionKind.ANSWER), int(ActionKind.BRANCH)
_CONTINUE, _PRUNE = int(ActionKind.CONTINUE), int(ActionKind.PRUNE)
_SUBMIT, _ADVANCE_ALL = int(ActionKind.SUBMIT), int(ActionKind.ADVANCE_ALL)
_S = {name: i for i, name in enumerate(SLOT_FEATURES)}
_ALIVE, _FINISHED, _REVEALED = _S["alive"], _S["finished"], _S["revealed"]
_DEPTH, _AGREES, _ERR = _S["depth"], _S["agrees"], _S["err"]
_FINISHED_CONFIDENCE = GLOBAL_FEATURES.index("finished_confidence")
assert SUMMARY_FEATURES == (
    "alive", "err", "agreeing", "leader_is_err", "finished_top1", "finished_top2", "alive_depth",
    "on_leader", "stragglers", "confidence_ema", "confidence_trend", "rounds",
)  # fmt: skip
assert [m.value for m in Macro] == list(range(N_MACROS))

# this batch's arrays, in the order `MacroBatch._arrays` lists them (entries of `own`)
(
    _MACROS, _ACTING, _RETURNS, _OUTCOME, _GLOBALS, _SUMMARY, _LEGAL, _TERMINAL_GLOBALS,
    _TERMINAL_SUMMARY, _NEXT_QUESTION, _NEXT_LENGTH, _NEXT_ORDER, _OFF, _EMA, _HISTORY,
    _N_HISTORY, _ROUNDS, _COUNTS, _LISTED, _DEPTHS,
) = range(20)  # fmt: skip


class MacroBatch(BundledArrays):
    """N macro episodes of `TTSControl-v0` on the compiled core (see the module docstring).

    The env settings are `TTSControl-v0`'s but `reveal_on_continue`, which the macros need
    True; the penalties come with each `step`. Per env: `globals` and `summary` (the policy
    observation), `legal` (the macro mask, all False once an episode has ended and not
    restarted), `returns` (the last macro's summed reward), `outcome` (`ENDED`, `ANSWER_ID`,
    `TOKENS_SPENT`, `CORRECT`, `GLOBAL_QUESTION`, `PRIMITIVES`, `SEQ_TOKENS_SPENT`,
    `ILLEGAL`), the observation an ended episode left, `terminal_globals` /
    `terminal_summary`, and the macros' memory (`MacroMemory`): `off` [N, max_branches],
    `ema`, `history` [N, TREND_ROUNDS] with its length `n_history`, and `rounds`.
    """

    def __init__(
        self,
        stores: Sequence[ReplayStore],
        n: int,
        *,
        max_branches: int = 64,
        widen: int = 4,
        patience: int = 8,
        probe_cost: int = 0,
        budget: int | None = None,
        max_parallel: int | None = None,
    ) -> None:
        if widen < 1 or patience < 1:
            raise ValueError(f"widen and patience must be at least 1, got {widen}, {patience}.")
        self.batch = BatchEpisodes(
            stores, n, max_branches=max_branches, probe_cost=probe_cost, budget=budget,
            max_parallel=max_parallel,
        )  # fmt: skip
        self.envs = CompiledEnvs(self.batch)
        self.n, self.max_branches = n, max_branches
        self.widen, self.patience = widen, patience
        tables = self.batch.tables
        features = (len(GLOBAL_FEATURES), len(SUMMARY_FEATURES))
        self.macros = np.zeros(n, dtype=np.int64)
        self.acting = np.zeros(n, dtype=np.bool_)
        self.returns = np.zeros(n, dtype=np.float64)
        self.outcome = np.zeros((n, OUTCOME_FIELDS), dtype=np.int64)
        self.globals = np.zeros((n, features[0]), dtype=np.float32)
        self.summary = np.zeros((n, features[1]), dtype=np.float32)
        self.legal = np.zeros((n, N_MACROS), dtype=np.bool_)
        self.terminal_globals = np.zeros((n, features[0]), dtype=np.float32)
        self.terminal_summary = np.zeros((n, features[1]), dtype=np.float32)
        self.next_question = np.full(n, -1, dtype=np.int64)
        self.next_length = np.zeros(n, dtype=np.int64)
        self.next_order = np.zeros_like(self.batch.order)
        self.off = np.zeros((n, max_branches), dtype=np.int64)
        self.ema = np.zeros(n, dtype=np.float64)
        self.history = np.zeros((n, TREND_ROUNDS), dtype=np.float64)
        self.n_history = np.zeros(n, dtype=np.int64)
        self.rounds = np.zeros(n, dtype=np.int64)
        self.counts = np.zeros(max(1, tables.max_answers), dtype=np.int64)  # scratch
        self.listed = np.zeros(max_branches, dtype=np.int64)  # scratch: a macro's slots
        self.depths = np.zeros(max_branches, dtype=np.float32)  # scratch
        self._bundle()

    def _arrays(self) -> list[np.ndarray]:
        """The env's arrays, then these, in the order `_unpack` rebuilds them."""
        return [
            *self.envs.arrays(),
            self.macros, self.acting, self.returns, self.outcome, self.globals, self.summary,
            self.legal, self.terminal_globals, self.terminal_summary, self.next_question,
            self.next_length, self.next_order, self.off, self.ema, self.history,
            self.n_history, self.rounds, self.counts, self.listed, self.depths,
        ]  # fmt: skip

    def _bundle(self) -> None:
        self.table = ArrayTable(self._arrays())
        self._own = len(self.envs.arrays())  # where this batch's arrays start in the table
        assert self.table.signature()[self._own :] == _SIGNATURE

    # ---- episodes ------------------------------------------------------------------------
    def draw_from(self, questions: Sequence[int]) -> None:
        """Episodes drawn (question and order) come from these global questions, uniformly."""
        self.envs.draw_from(questions)
        self._bundle()

    def use_generators(self, rngs: Sequence[np.random.Generator | None]) -> None:
        """Draw env i's episodes from `rngs[i]` as `TTSControl-v0` draws from its `np_random`
        (None: from the core's stream)."""
        self.envs.use_generators(rngs)
        self._bundle()

    def stage(self, i: int, question: int = -1, order: Sequence[int] | None = None) -> None:
        """Env i's next episode: global question `question` (-1: drawn from the pool) under
        `order` (the branch order the env's episode opens; None: drawn)."""
        self.next_question[i] = question
        if order is None:
            self.next_length[i] = 0
            return
        self.next_length[i] = len(order)
        self.next_order[i, : len(order)] = order

    def start(self, envs: np.ndarray | Sequence[int]) -> None:
        """Start the staged episode of each env in `envs` (indices) and observe it."""
        self.acting[:] = False
        self.acting[np.asarray(envs, dtype=np.int64)] = True
        start_envs(self.table.addresses, self.table.shapes, self._own, self.patience)

    def seed_each(self, seeds: Sequence[int]) -> None:
        """Seed env i's random stream (its drawn questions and orders) from `seeds[i]`."""
        self.batch.seed_each(seeds)

    # ---- macros --------------------------------------------------------------------------
    def step(
        self,
        macros: np.ndarray,
        acting: np.ndarray | None = None,
        *,
        token_penalty: float = 0.0,
        latency_penalty: float = 0.0,
        autoreset: int = NO_AUTORESET,
        strict: bool = True,
    ) -> int:
        """Run `macros[i]` in every acting env (bool mask; default all). `strict`: returns
        the first env whose macro is not legal (then nothing ran), else -1; not strict: a
        masked macro changes nothing in its env (return 0, outcome `ILLEGAL`). `autoreset`
        `SAME_STEP`: an env whose episode ends starts its staged episode in the same call
        (its last observation kept in `terminal_globals` / `terminal_summary`); `NEXT_STEP`:
        an acting env whose episode has ended starts its staged one and ignores its macro."""
        self.macros[:] = macros
        self.acting[:] = True if acting is None else acting
        return run_macros(
            self.table.addresses, self.table.shapes, self._own, token_penalty, latency_penalty,
            self.widen, self.patience, autoreset, strict,
        )  # fmt: skip

    def restart_ended(self) -> None:
        """Start the staged episode of every env whose episode has ended, and observe it."""
        self.acting[:] = self.batch.episodes[:, DONE] == 1
        start_envs(self.table.addresses, self.table.shapes, self._own, self.patience)


_SIGNATURE = [
    (np.dtype(dtype), ndim)
    for dtype, ndim in (
        (np.int64, 1), (np.bool_, 1), (np.float64, 1), (np.int64, 2), (np.float32, 2),
        (np.float32, 2), (np.bool_, 2), (np.float32, 2), (np.float32, 2), (np.int64, 1),
        (np.int64, 1), (np.int64, 2), (np.int64, 2), (np.float64, 1), (np.float64, 2),
        (np.int64, 1), (np.int64, 1), (np.int64, 1), (np.int64, 1), (np.float32, 1),
    )
]  # fmt: skip


@numba.njit(cache=True, inline="always")
def _unpack(a, s, k):
    """This batch's arrays, from entry k of its table (`own[_MACROS]`, ...)."""
    return (
        view1(a, s, k, np.int64), view1(a, s, k + 1, np.bool_), view1(a, s, k + 2, np.float64),
        view2(a, s, k + 3, np.int64), view2(a, s, k + 4, np.float32),
        view2(a, s, k + 5, np.float32), view2(a, s, k + 6, np.bool_),
        view2(a, s, k + 7, np.float32), view2(a, s, k + 8, np.float32),
        view1(a, s, k + 9, np.int64), view1(a, s, k + 10, np.int64),
        view2(a, s, k + 11, np.int64), view2(a, s, k + 12, np.int64),
        view1(a, s, k + 13, np.float64), view2(a, s, k + 14, np.float64),
        view1(a, s, k + 15, np.int64), view1(a, s, k + 16, np.int64),
        view1(a, s, k + 17, np.int64), view1(a, s, k + 18, np.int64),
        view1(a, s, k + 19, np.float32),
    )  # fmt: skip


# ---- what the planner reads -----------------------------------------------------------------
@numba.njit(cache=True, inline="always")
def _is_finished(obs_slots, i, slot):
    """`MacroPlanner._finished_slots`: finished, with a revealed answer."""
    return obs_slots[i, slot, _FINISHED] > 0 and obs_slots[i, slot, _REVEALED] > 0


@numba.njit(cache=True, inline="always")
def _n_finished(obs_slots, i, n_open):
    """`MacroPlanner._n_finished` (slots beyond the opened ones are all zeros)."""
    count = 0
    for slot in range(n_open):
        if obs_slots[i, slot, _FINISHED] != 0:
            count += 1
    return count


@numba.njit(cache=True, inline="always")
def _finished_tally(obs_slots, answer_id, counts, i, n_open):
    """Over the finished slots' answers: (top vote count, runner-up count, first slot holding
    a top answer), as `_finished_counts` and `_finished_leader_slot` read them. `counts` is
    scratch, left zero."""
    for slot in range(n_open):
        if _is_finished(obs_slots, i, slot):
            counts[np.int64(answer_id[i, slot])] += 1
    top1, top2, leader = 0, 0, -1
    for slot in range(n_open):  # each answer at its first slot, in slot order
        if _is_finished(obs_slots, i, slot):
            answer = np.int64(answer_id[i, slot])
            count = counts[answer]
            counts[answer] = 0
            if count > top1:
                top2, top1, leader = top1, count, slot
            elif count > top2:
                top2 = count
    return top1, top2, leader


@numba.njit(cache=True, inline="always")
def _leader_id(obs_slots, answer_id, counts, i, n_open):
    """The leader's answer id (`MacroPlanner._showing_leader`): the finished branches'
    majority; -1 (which no opened slot shows) before a branch finishes."""
    top1, _, leader = _finished_tally(obs_slots, answer_id, counts, i, n_open)
    return answer_id[i, leader] if top1 > 0 else np.float32(-1.0)


@numba.njit(cache=True)
def _stragglers(state, obs, own, i, patience):
    """`MacroPlanner._stragglers` into `listed`: how many."""
    obs_slots, off, listed = obs[0], own[_OFF], own[_LISTED]
    n_open = state[0][i, N_OPENED]
    n_alive, n_late = 0, 0
    for slot in range(n_open):
        if obs_slots[i, slot, _ALIVE] > 0:
            n_alive += 1
            if off[i, slot] >= patience:  # insert after the slots with at least as many
                k = n_late
                while k > 0 and off[i, listed[k - 1]] < off[i, slot]:
                    listed[k] = listed[k - 1]
                    k -= 1
                listed[k] = slot
                n_late += 1
    return min(n_late, max(0, n_alive - KEEP_ALIVE))


@numba.njit(cache=True)
def _on_leader(state, obs, own, i):
    """`MacroPlanner._on_leader` into `listed`: how many."""
    mask, limits = state[5], state[7]
    obs_slots, answer_id, listed = obs[0], obs[2], own[_LISTED]
    n_open = state[0][i, N_OPENED]
    leader = _leader_id(obs_slots, answer_id, own[_COUNTS], i, n_open)
    if leader < 0:
        return 0
    first = action_index(_CONTINUE, 0, limits[MAX_BRANCHES])
    n = 0
    for slot in range(n_open):
        if mask[i, first + slot] and answer_id[i, slot] == leader:
            listed[n] = slot
            n += 1
    return n


@numba.njit(cache=True, inline="always")
def _block_sum(values, start, n):
    """numpy's float32 sum of a block of at most 128 values: one by one below 8, else eight
    running sums added pairwise, then the rest one by one."""
    v = values[start:]
    if n < 8:
        total = np.float32(0.0)
        for k in range(n):
            total += v[k]
        return total
    r0, r1, r2, r3, r4, r5, r6, r7 = v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
    k = 8
    while k < n - n % 8:
        r0 += v[k]
        r1 += v[k + 1]
        r2 += v[k + 2]
        r3 += v[k + 3]
        r4 += v[k + 4]
        r5 += v[k + 5]
        r6 += v[k + 6]
        r7 += v[k + 7]
        k += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for j in range(k, n):
        total += v[j]
    return total


@numba.njit(cache=True)
def float32_sum(values, n):
    """`values[:n].sum()` for float32 values, in numpy's order (so to the same bits; tested
    against numpy): blocks of up to 128 summed by `_block_sum`, larger ranges split in halves
    rounded to multiples of 8 and their sums added. The split tree is walked with a stack
    (numba cannot cache a recursive function)."""
    if n <= 128:
        return np.float32(0.0) + _block_sum(values, 0, n)
    starts, sizes = np.empty(128, np.int64), np.empty(128, np.int64)
    partial, n_partial = np.empty(128, np.float32), 0
    starts[0], sizes[0], top = 0, n, 1  # sizes < 0: add the two partial sums on top
    while top:
        top -= 1
        start, size = starts[top], sizes[top]
        if size < 0:
            n_partial -= 1
            partial[n_partial - 1] += partial[n_partial]
        elif size <= 128:
            partial[n_partial] = _block_sum(values, start, size)
            n_partial += 1
        else:
            half = size // 2 - size // 2 % 8
            starts[top], sizes[top] = 0, -1
            starts[top + 1], sizes[top + 1] = start + half, size - half
            starts[top + 2], sizes[top + 2] = start, half
            top += 3
    return np.float32(0.0) + partial[0]


# ---- the rounds' memory ---------------------------------------------------------------------
@numba.njit(cache=True, inline="always")
def _average(obs, own, i):
    """`MacroPlanner._average`: the finished branches' confidence into the moving average."""
    ema = own[_EMA]
    confidence = np.float64(obs[1][i, _FINISHED_CONFIDENCE])
    ema[i] = (1.0 - EMA_ALPHA) * ema[i] + EMA_ALPHA * confidence
    return ema[i]


@numba.njit(cache=True)
def _start_round(state, obs, own, i):
    """`MacroPlanner._start_round`: rounds off the leader, a new entry of the average."""
    obs_slots, answer_id = obs[0], obs[2]
    off, history, n_history = own[_OFF], own[_HISTORY], own[_N_HISTORY]
    n_open = state[0][i, N_OPENED]
    leader = _leader_id(obs_slots, answer_id, own[_COUNTS], i, n_open)
    if leader >= 0:
        for slot in range(n_open):
            if obs_slots[i, slot, _ALIVE] > 0:
                off[i, slot] = 0 if answer_id[i, slot] == leader else off[i, slot] + 1
    if n_history[i] == TREND_ROUNDS:  # drop the oldest entry
        for j in range(TREND_ROUNDS - 1):
            history[i, j] = history[i, j + 1]
    else:
        n_history[i] += 1
    history[i, n_history[i] - 1] = _average(obs, own, i)


@numba.njit(cache=True, inline="always")
def _end_round(obs, own, i):
    """`MacroPlanner._end_round`: the average again, replacing the entry; a round more."""
    own[_HISTORY][i, own[_N_HISTORY][i] - 1] = _average(obs, own, i)
    own[_ROUNDS][i] += 1


@numba.njit(cache=True, inline="always")
def _forget(own, i):
    """`MacroMemory.clear`: a new episode's memory."""
    own[_OFF][i, :] = 0
    own[_EMA][i] = 0.0
    own[_N_HISTORY][i] = 0
    own[_ROUNDS][i] = 0


@numba.njit(cache=True)
def _observe(state, obs, own, i, patience):
    """Env i's policy observation (`MacroPlanner.policy_observation`) and legal macros
    (`MacroPlanner.masks`)."""
    episodes, mask, limits = state[0], state[5], state[7]
    obs_slots, obs_globals, answer_id = obs[0], obs[1], obs[2]
    legal, depths = own[_LEGAL], own[_DEPTHS]
    m = limits[MAX_BRANCHES]
    n_open = episodes[i, N_OPENED]
    leader = _leader_id(obs_slots, answer_id, own[_COUNTS], i, n_open)
    n_alive, n_err, n_agreeing, n_on_leader, leader_is_err = 0, 0, 0, 0, False
    for slot in range(n_open):
        row = obs_slots[i, slot]
        if row[_AGREES] != 0 and row[_ERR] != 0:
            leader_is_err = True
        if row[_ALIVE] > 0:
            depths[n_alive] = row[_DEPTH]
            n_alive += 1
            if row[_ERR] > 0:
                n_err += 1
            if row[_AGREES] > 0:
                n_agreeing += 1
            if leader >= 0 and answer_id[i, slot] == leader:
                n_on_leader += 1
    top1, top2, _ = _finished_tally(obs_slots, answer_id, own[_COUNTS], i, n_open)
    n_late = _stragglers(state, obs, own, i, patience)
    n_history, history = own[_N_HISTORY][i], own[_HISTORY][i]
    share = 1.0 / n_alive if n_alive else 0.0
    s = own[_SUMMARY][i]
    s[0] = n_alive / COUNT_SCALE
    s[1] = n_err * share
    s[2] = n_agreeing * share
    s[3] = 1.0 if leader_is_err else 0.0
    s[4] = top1 / COUNT_SCALE
    s[5] = top2 / COUNT_SCALE
    s[6] = np.float64(float32_sum(depths, n_alive)) * share * ENV_DEPTH_SCALE / DEPTH_SCALE
    s[7] = n_on_leader * share
    s[8] = n_late / COUNT_SCALE
    s[9] = own[_EMA][i]
    s[10] = history[n_history - 1] - history[0] if n_history >= 2 else 0.0
    s[11] = min(FEATURE_CAP, own[_ROUNDS][i] / ROUND_SCALE)
    own[_GLOBALS][i, :] = obs_globals[i, :]
    if episodes[i, DONE]:
        legal[i, :] = False
        return
    can_open = mask[i, action_index(_BRANCH, 0, m)] != 0
    can_advance = mask[i, action_index(_ADVANCE_ALL, 0, m)] != 0
    legal[i, _ANSWER_MACRO] = mask[i, action_index(_ANSWER, 0, m)] != 0
    legal[i, _SUBMIT_MACRO] = top1 > 0
    legal[i, _WIDEN_MACRO] = legal[i, _WIDEN_ONE_MACRO] = can_open
    legal[i, _ADVANCE_MACRO] = legal[i, _ROUND_MACRO] = can_advance
    legal[i, _DEEPEN_MACRO] = _on_leader(state, obs, own, i) > 0
    legal[i, _PRUNE_MACRO] = n_late > 0


# ---- one macro ------------------------------------------------------------------------------
@numba.njit(cache=True)
def _run(
    tables, obs_tables, state, obs, own, i, macro, token_penalty, latency_penalty, widen, patience
):
    """`MacroPlanner.run` of a legal macro in env i, each primitive through the env's
    `step_env`: (summed reward, primitive actions). One loop picks the next primitive (the
    planner's generator, as a state machine), so the env's step is compiled in once."""
    episodes, mask, limits = state[0], state[5], state[7]
    obs_slots, answer_id, listed = obs[0], obs[2], own[_LISTED]
    m = limits[MAX_BRANCHES]
    branch, first = action_index(_BRANCH, 0, m), action_index(_CONTINUE, 0, m)
    advance_all, prune = action_index(_ADVANCE_ALL, 0, m), action_index(_PRUNE, 0, m)
    finished = _n_finished(obs_slots, i, episodes[i, N_OPENED])
    n_listed, k = 0, 0  # DEEPEN and PRUNE: the slots chosen at the start, and the next one
    if macro == _DEEPEN_MACRO:
        n_listed = _on_leader(state, obs, own, i)
    elif macro == _PRUNE_MACRO:
        n_listed = _stragglers(state, obs, own, i, patience)
    openings = widen if macro == _WIDEN_MACRO else 1
    total, steps = 0.0, 0
    while not episodes[i, DONE]:
        action = -1
        if macro == _ANSWER_MACRO:
            if steps == 0:
                action = action_index(_ANSWER, 0, m)
        elif macro == _SUBMIT_MACRO:
            if steps == 0:
                n_open = episodes[i, N_OPENED]
                _, _, slot = _finished_tally(obs_slots, answer_id, own[_COUNTS], i, n_open)
                action = action_index(_SUBMIT, slot, m)
        elif macro in (_WIDEN_MACRO, _WIDEN_ONE_MACRO):
            if steps < openings and mask[i, branch]:
                action = branch
        elif macro in (_ADVANCE_MACRO, _ROUND_MACRO):
            if mask[i, advance_all] and (
                steps == 0
                or (
                    macro == _ADVANCE_MACRO
                    and _n_finished(obs_slots, i, episodes[i, N_OPENED]) == finished
                )
            ):
                _start_round(state, obs, own, i)
                action = advance_all
        elif macro == _DEEPEN_MACRO:
            while action < 0 and k < n_listed:
                if mask[i, first + listed[k]]:
                    action = first + listed[k]
                k += 1
        elif k < n_listed:  # PRUNE
            action = prune + listed[k]
            k += 1
        if action < 0:
            break
        total += compiled.step_env(
            tables, obs_tables, state, obs, i, action, token_penalty, latency_penalty
        )
        steps += 1
        if action == advance_all:
            _end_round(obs, own, i)
    return total, steps


@numba.njit(cache=True)
def _start(tables, obs_tables, state, obs, calls, own, i):
    """Start env i's staged episode (a pinned question and order, or drawn ones)."""
    question, length = own[_NEXT_QUESTION][i], own[_NEXT_LENGTH][i]
    state[2][i, :length] = own[_NEXT_ORDER][i, :length]
    compiled.restart(tables, obs_tables, state, obs, calls, i, question, length)
    _forget(own, i)


# ---- the batch ------------------------------------------------------------------------------
@numba.njit(cache=True)
def start_envs(addresses, shapes, k, patience):
    """`MacroBatch.start`: the staged episode of every acting env."""
    tables, obs_tables, state, obs, calls = compiled.unpack(addresses, shapes)
    own = _unpack(addresses, shapes, k)
    acting, outcome = own[_ACTING], own[_OUTCOME]
    for i in range(acting.shape[0]):
        if acting[i]:
            _start(tables, obs_tables, state, obs, calls, own, i)
            outcome[i, :] = 0
            _observe(state, obs, own, i, patience)


@numba.njit(cache=True)
def run_macros(
    addresses, shapes, k, token_penalty, latency_penalty, widen, patience, autoreset, strict
):
    """`MacroBatch.step`: one macro in every acting env."""
    tables, obs_tables, state, obs, calls = compiled.unpack(addresses, shapes)
    own = _unpack(addresses, shapes, k)
    macros, acting, returns, outcome = own[_MACROS], own[_ACTING], own[_RETURNS], own[_OUTCOME]
    legal = own[_LEGAL]
    episodes = state[0]
    n = macros.shape[0]
    if strict:
        for i in range(n):
            if (
                acting[i]
                and not (autoreset == NEXT_STEP and episodes[i, DONE])
                and not (0 <= macros[i] < N_MACROS and legal[i, macros[i]])
            ):
                return i
    for i in range(n):
        if not acting[i]:
            continue
        returns[i] = 0.0
        row = outcome[i]
        row[:] = 0
        if autoreset == NEXT_STEP and episodes[i, DONE]:
            _start(tables, obs_tables, state, obs, calls, own, i)
            _observe(state, obs, own, i, patience)
            continue
        if not (0 <= macros[i] < N_MACROS and legal[i, macros[i]]):
            row[ILLEGAL] = 1
            continue
        total, steps = _run(
            tables, obs_tables, state, obs, own, i, macros[i], token_penalty, latency_penalty,
            widen, patience,
        )  # fmt: skip
        returns[i] = total
        row[PRIMITIVES] = steps
        _observe(state, obs, own, i, patience)
        if not episodes[i, DONE]:
            continue
        row[ENDED] = 1
        row[ANSWER_ID] = episodes[i, ANSWER]
        row[TOKENS_SPENT] = episodes[i, TOKENS]
        row[SEQ_TOKENS_SPENT] = episodes[i, SEQ_TOKENS]
        row[CORRECT] = core.is_correct(tables, state, i)
        row[GLOBAL_QUESTION] = episodes[i, QUESTION]
        own[_TERMINAL_GLOBALS][i, :] = own[_GLOBALS][i, :]
        own[_TERMINAL_SUMMARY][i, :] = own[_SUMMARY][i, :]
        if autoreset == SAME_STEP:
            _start(tables, obs_tables, state, obs, calls, own, i)
            _observe(state, obs, own, i, patience)
    return -1


def answer_text(batch: MacroBatch, question: int, answer: int) -> str | None:
    """The string of answer id `answer` of global question `question` (None for no answer)."""
    return None if answer == NO_ANSWER else batch.batch.questions[question].answers[answer]
