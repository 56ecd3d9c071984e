"""The macros run inside the compiled core: one call plays one macro in every env of a batch.

`MacroPlanner` (macro.py) states the macros in Python, as primitive actions chosen from the
env's observation and mask after each step. Played that way, a macro decision costs a few
hundred Python-level env steps (ADVANCE continues every alive branch until one finishes), and
training spent 72% of its time there. Here the same macros run in numba on the state of
`tts_gym.env.compiled.CompiledEnvs`: each primitive action goes through the env's own
`step_env` (so dynamics, observations and rewards are the env's, not restated), chosen from
the same observation features and mask the planner reads, in the same order; then the policy
observation (`MacroPlanner.policy_observation`: the env's globals and `SUMMARY_FEATURES`,
float32 values computed as numpy computes them) and the legal macros are written for the next
decision. Tests hold this to `MacroEnv` decision by decision, bit for bit.

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
from tts_gym.env.macro import COUNT_SCALE, DEPTH_SCALE, N_MACROS, SUMMARY_FEATURES, Macro
from tts_gym.env.observation import DEPTH_SCALE as ENV_DEPTH_SCALE
from tts_gym.env.observation import GLOBAL_FEATURES, SLOT_FEATURES
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
_ANSWER, _BRANCH = int(ActionKind.ANSWER), int(ActionKind.BRANCH)
_CONTINUE, _SUBMIT = int(ActionKind.CONTINUE), int(ActionKind.SUBMIT)
_S = {name: i for i, name in enumerate(SLOT_FEATURES)}
_ALIVE, _FINISHED, _REVEALED = _S["alive"], _S["finished"], _S["revealed"]
_DEPTH, _AGREES, _ERR = _S["depth"], _S["agrees"], _S["err"]
assert SUMMARY_FEATURES == (
    "alive", "err", "agreeing", "leader_is_err", "finished_top1", "finished_top2", "alive_depth",
)  # fmt: skip
assert [m.value for m in Macro] == list(range(N_MACROS))


class MacroBatch(BundledArrays):
    """N macro episodes of `TTSControl-v0` on the compiled core (see the module docstring).

    The env settings are `TTSControl-v0`'s but `reveal_on_continue`, which the macros need
    True; the penalties come with each `step`. Per env: `globals` and `summary` (the policy
    observation), `legal` (the macro mask, all False once an episode has ended and not
    restarted), `returns` (the last macro's summed reward), `outcome` (`ENDED`, `ANSWER_ID`,
    `TOKENS_SPENT`, `CORRECT`, `GLOBAL_QUESTION`, `PRIMITIVES`, `SEQ_TOKENS_SPENT`,
    `ILLEGAL`), and the observation an ended episode left, `terminal_globals` /
    `terminal_summary`.
    """

    def __init__(
        self,
        stores: Sequence[ReplayStore],
        n: int,
        *,
        max_branches: int = 64,
        widen: int = 4,
        probe_cost: int = 0,
        budget: int | None = None,
        max_parallel: int | None = None,
    ) -> None:
        if widen < 1:
            raise ValueError(f"widen must be at least 1, got {widen}.")
        self.batch = BatchEpisodes(
            stores, n, max_branches=max_branches, probe_cost=probe_cost, budget=budget,
            max_parallel=max_parallel,
        )  # fmt: skip
        self.envs = CompiledEnvs(self.batch)
        self.n, self.max_branches, self.widen = n, max_branches, widen
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
        self.counts = np.zeros(max(1, tables.max_answers), dtype=np.int64)  # scratch
        self.alive = np.zeros(max_branches, dtype=np.int64)  # scratch
        self.depths = np.zeros(max_branches, dtype=np.float32)  # scratch
        self._bundle()

    def _arrays(self) -> list[np.ndarray]:
        """The env's arrays, then these, in the order `_unpack` rebuilds them."""
        return [
            *self.envs.arrays(),
            self.macros, self.acting, self.returns, self.outcome, self.globals, self.summary,
            self.legal, self.terminal_globals, self.terminal_summary, self.next_question,
            self.next_length, self.next_order, self.counts, self.alive, self.depths,
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
        start_envs(self.table.addresses, self.table.shapes, self._own)

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
            self.widen, autoreset, strict,
        )  # fmt: skip

    def restart_ended(self) -> None:
        """Start the staged episode of every env whose episode has ended, and observe it."""
        self.acting[:] = self.batch.episodes[:, DONE] == 1
        start_envs(self.table.addresses, self.table.shapes, self._own)


_SIGNATURE = [
    (np.dtype(dtype), ndim)
    for dtype, ndim in (
        (np.int64, 1), (np.bool_, 1), (np.float64, 1), (np.int64, 2), (np.float32, 2),
        (np.float32, 2), (np.bool_, 2), (np.float32, 2), (np.float32, 2), (np.int64, 1),
        (np.int64, 1), (np.int64, 2), (np.int64, 1), (np.int64, 1), (np.float32, 1),
    )
]  # fmt: skip


@numba.njit(cache=True, inline="always")
def _unpack(a, s, k):
    """This batch's arrays, from entry k of its table."""
    return (
        view1(a, s, k, np.int64), view1(a, s, k + 1, np.bool_), view1(a, s, k + 2, np.float64),
        view2(a, s, k + 3, np.int64), view2(a, s, k + 4, np.float32),
        view2(a, s, k + 5, np.float32), view2(a, s, k + 6, np.bool_),
        view2(a, s, k + 7, np.float32), view2(a, s, k + 8, np.float32),
        view1(a, s, k + 9, np.int64), view1(a, s, k + 10, np.int64),
        view2(a, s, k + 11, np.int64), view1(a, s, k + 12, np.int64),
        view1(a, s, k + 13, np.int64), view1(a, s, k + 14, np.float32),
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


@numba.njit(cache=True)
def _observe(state, obs, own, i):
    """Env i's policy observation (`MacroPlanner.policy_observation`) and legal macros
    (`MacroPlanner.masks`)."""
    episodes, mask, limits = state[0], state[5], state[7]
    obs_slots, obs_globals, answer_id = obs[0], obs[1], obs[2]
    _, _, _, _, policy_globals, summary, legal, _, _, _, _, _, counts, _, depths = own
    m = limits[MAX_BRANCHES]
    n_open = episodes[i, N_OPENED]
    n_alive, n_err, n_agreeing, leader_is_err = 0, 0, 0, False
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
    top1, top2, _ = _finished_tally(obs_slots, answer_id, counts, i, n_open)
    share = 1.0 / n_alive if n_alive else 0.0
    s = summary[i]
    s[0] = n_alive / COUNT_SCALE
    s[1] = n_err * share
    s[2] = n_agreeing * share
    s[3] = 1.0 if leader_is_err else 0.0
    s[4] = top1 / COUNT_SCALE
    s[5] = top2 / COUNT_SCALE
    s[6] = np.float64(float32_sum(depths, n_alive)) * share * ENV_DEPTH_SCALE / DEPTH_SCALE
    policy_globals[i, :] = obs_globals[i, :]
    if episodes[i, DONE]:
        legal[i, :] = False
        return
    legal[i, _ANSWER_MACRO] = mask[i, action_index(_ANSWER, 0, m)] != 0
    legal[i, _SUBMIT_MACRO] = top1 > 0
    legal[i, _WIDEN_MACRO] = mask[i, action_index(_BRANCH, 0, m)] != 0
    first = action_index(_CONTINUE, 0, m)
    advance = False
    for slot in range(m):
        if mask[i, first + slot]:
            advance = True
            break
    legal[i, _ADVANCE_MACRO] = advance


# ---- one macro ------------------------------------------------------------------------------
@numba.njit(cache=True)
def _run(tables, obs_tables, state, obs, own, i, macro, token_penalty, latency_penalty, widen):
    """`MacroPlanner.run` of a legal macro in env i, each primitive through the env's
    `step_env`: (summed reward, primitive actions). One loop picks the next primitive (the
    planner's generator, as a state machine), so the env's step is compiled in once."""
    episodes, mask, limits = state[0], state[5], state[7]
    obs_slots, answer_id = obs[0], obs[2]
    counts, alive = own[12], own[13]
    m = limits[MAX_BRANCHES]
    branch, first = action_index(_BRANCH, 0, m), action_index(_CONTINUE, 0, m)
    finished = _n_finished(obs_slots, i, episodes[i, N_OPENED])
    n_round, k = 0, 0  # ADVANCE: the slots that could continue when the round began
    total, steps = 0.0, 0
    while not episodes[i, DONE]:
        action = -1
        if macro == _ANSWER_MACRO:
            if steps == 0:
                action = action_index(_ANSWER, 0, m)
        elif macro == _SUBMIT_MACRO:
            if steps == 0:
                n_open = episodes[i, N_OPENED]
                _, _, slot = _finished_tally(obs_slots, answer_id, counts, i, n_open)
                action = action_index(_SUBMIT, slot, m)
        elif macro == _WIDEN_MACRO:
            if steps < widen and mask[i, branch]:
                action = branch
        else:  # ADVANCE: lockstep rounds until a branch finishes
            while action < 0:
                if k == n_round:
                    if _n_finished(obs_slots, i, episodes[i, N_OPENED]) != finished:
                        break
                    n_round, k = 0, 0
                    for slot in range(m):
                        if mask[i, first + slot]:
                            alive[n_round] = slot
                            n_round += 1
                    if n_round == 0:
                        break
                if mask[i, first + alive[k]]:
                    action = first + alive[k]
                k += 1
        if action < 0:
            break
        total += compiled.step_env(
            tables, obs_tables, state, obs, i, action, token_penalty, latency_penalty
        )
        steps += 1
    return total, steps


@numba.njit(cache=True)
def _start(tables, obs_tables, state, obs, calls, own, i):
    """Start env i's staged episode (a pinned question and order, or drawn ones)."""
    next_question, next_length, next_order = own[9], own[10], own[11]
    question, length = next_question[i], next_length[i]
    state[2][i, :length] = next_order[i, :length]
    compiled.restart(tables, obs_tables, state, obs, calls, i, question, length)


# ---- the batch ------------------------------------------------------------------------------
@numba.njit(cache=True)
def start_envs(addresses, shapes, k):
    """`MacroBatch.start`: the staged episode of every acting env."""
    tables, obs_tables, state, obs, calls = compiled.unpack(addresses, shapes)
    own = _unpack(addresses, shapes, k)
    acting, outcome = own[1], own[3]
    for i in range(acting.shape[0]):
        if acting[i]:
            _start(tables, obs_tables, state, obs, calls, own, i)
            outcome[i, :] = 0
            _observe(state, obs, own, i)


@numba.njit(cache=True)
def run_macros(addresses, shapes, k, token_penalty, latency_penalty, widen, autoreset, strict):
    """`MacroBatch.step`: one macro in every acting env."""
    tables, obs_tables, state, obs, calls = compiled.unpack(addresses, shapes)
    own = _unpack(addresses, shapes, k)
    macros, acting, returns, outcome = own[0], own[1], own[2], own[3]
    policy_globals, summary, legal = own[4], own[5], own[6]
    terminal_globals, terminal_summary = own[7], own[8]
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
            _observe(state, obs, own, i)
            continue
        if not (0 <= macros[i] < N_MACROS and legal[i, macros[i]]):
            row[ILLEGAL] = 1
            continue
        total, steps = _run(
            tables, obs_tables, state, obs, own, i, macros[i], token_penalty, latency_penalty, widen
        )
        returns[i] = total
        row[PRIMITIVES] = steps
        _observe(state, obs, own, i)
        if not episodes[i, DONE]:
            continue
        row[ENDED] = 1
        row[ANSWER_ID] = episodes[i, ANSWER]
        row[TOKENS_SPENT] = episodes[i, TOKENS]
        row[SEQ_TOKENS_SPENT] = episodes[i, SEQ_TOKENS]
        row[CORRECT] = core.is_correct(tables, state, i)
        row[GLOBAL_QUESTION] = episodes[i, QUESTION]
        terminal_globals[i, :] = policy_globals[i, :]
        terminal_summary[i, :] = summary[i, :]
        if autoreset == SAME_STEP:
            _start(tables, obs_tables, state, obs, calls, own, i)
            _observe(state, obs, own, i)
    return -1


def answer_text(batch: MacroBatch, question: int, answer: int) -> str | None:
    """The string of answer id `answer` of global question `question` (None for no answer)."""
    return None if answer == NO_ANSWER else batch.batch.questions[question].answers[answer]
