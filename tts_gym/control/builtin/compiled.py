"""The built-in controllers compiled: every (question, order) episode of a store set in one call.

Each `_*_episode` function below is its Python reference (`consistency.py`,
`parallel_probe.py`, `cmc.py`, `sac.py`; SC@N runs as ASC that never stops early, reading in
one wave) step for step on `StoreTables` arrays, with the replay rules of
`tts_gym.engine.core.replay` and the vote tallies of `tts_gym.engine.core.tally`; floats follow
the reference's arithmetic order. Sequential tokens follow the reference's waves (docs/design.md,
no width cap): a wave lasts the largest number of tokens one branch generated in it before its
write-up, so each kernel keeps the largest such per-branch cost of its current wave, and the
latest end of a write-up (`writeup_end`: wave start, plus the branch's tokens before it, plus
the write-up); an episode's sequential tokens are the later of the two. Answers, tokens and
sequential tokens are thus equal episode by episode (the tests hold them equal on samples of every
store). `play` runs one controller on every question of the tables under each of its orders in
one call.

Only the built-in classes themselves are compiled (a subclass may change `run`), and only with
knobs of the types the kernels take; `why_not_compiled` says why a controller is not.
"""

from __future__ import annotations

import numbers
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

import numba
import numpy as np

from tts_gym.control.builtin.cmc import MAX_STEPS, ConfidenceMomentum, cmc_schedule
from tts_gym.control.builtin.consistency import (
    AdaptiveConsistency,
    EarlyStoppingConsistency,
    SelfConsistency,
)
from tts_gym.control.builtin.parallel_probe import ParallelProbe
from tts_gym.control.builtin.sac import SelfConsistencySAC
from tts_gym.engine import NO_ANSWER
from tts_gym.engine.core.replay import confidence_lookup, explore, is_writeup, read
from tts_gym.engine.core.tally import TOP1, TOP2, VOTES, WINNER, clear_tally, new_tally, vote
from tts_gym.store.tables import StoreTables

ASC, ESC, PARALLEL_PROBE, CMC, SAC = range(5)

# per controller class: its kernel, the knobs that must be integers, the real-valued ones.
# SC@N is ASC with N samples, a threshold no confidence passes and its reads in one wave: the
# same reads, the same majority at the end.
_KNOBS: dict[type, tuple[int, tuple[str, ...], tuple[str, ...]]] = {
    SelfConsistency: (ASC, ("n",), ()),
    AdaptiveConsistency: (ASC, ("max_samples",), ("threshold",)),
    EarlyStoppingConsistency: (ESC, ("max_samples", "window"), ()),
    ParallelProbe: (
        PARALLEL_PROBE,
        ("num_chains", "stable_steps", "prune_patience", "warm_up", "max_steps"),
        (),
    ),
    SelfConsistencySAC: (SAC, ("n_branches", "patience"), ()),
}
COMPILED_TYPES = frozenset((*_KNOBS, ConfidenceMomentum))
"""The built-in classes with a compiled version (their subclasses run on `Episode`)."""
_CMC_INTS = (
    "n_init",
    "max_branch_use",
    "warm_up",
    "abandon_patience",
    "ema_history",
    "burst_aligned",
    "widen_burst",
    "min_complete",
)
_EMA_HISTORY = _CMC_INTS.index("ema_history")
_CMC_FLOATS = ("alpha", "conf_thresh", "delta_slack", "trend_thresh")
_INT64 = (-(2**63), 2**63 - 1)


def why_not_compiled(controller: Any) -> str | None:
    """None when `controller` runs compiled; else why it runs on the Python engine."""
    try:
        _kernel_args(controller)
    except _NotCompiled as reason:
        return str(reason)
    return None


def play(
    controller: Any,
    tables: StoreTables,
    orders: np.ndarray,
    order_lengths: np.ndarray,
    *,
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (question, order) episode of `tables` under `controller`, compiled.

    `orders[g, o, :order_lengths[g, o]]` is the branch order of episode (g, o). Returns the
    answer ids (int32 [G, O], `NO_ANSWER` for none), the tokens spent and the sequential
    tokens (int64 [G, O] each).
    `threads` > 1 plays chunks of questions on that many threads (the kernel releases the
    GIL; each chunk has its own scratch, so the results do not depend on it). Raises
    `ValueError` when `why_not_compiled(controller)` is not None.
    """
    try:
        kind, ints, floats = _kernel_args(controller)
    except _NotCompiled as reason:
        raise ValueError(f"{controller!r} has no compiled version: {reason}") from None
    orders = np.ascontiguousarray(orders, dtype=np.int32)
    order_lengths = np.ascontiguousarray(order_lengths, dtype=np.int32)
    _check_orders(tables, orders, order_lengths)
    n_questions, n_orders = order_lengths.shape
    answers = np.empty((n_questions, n_orders), dtype=np.int32)
    tokens = np.empty((n_questions, n_orders), dtype=np.int64)
    seq_tokens = np.empty((n_questions, n_orders), dtype=np.int64)
    replay = (tables.probes, tables.n_probes, tables.lengths, tables.finals)
    conf = _confidence(max(tables.max_branches, orders.shape[2]))  # votes <= branches opened

    def play_questions(start: int, stop: int) -> None:
        # scratch, allocated here so that the kernels allocate nothing (and compile faster)
        tally = new_tally(max(1, tables.max_answers))
        slots = np.zeros((_N_SLOT_ARRAYS, max(1, orders.shape[2])), dtype=np.int64)
        history = np.zeros(max(1, ints[_EMA_HISTORY]) if kind == CMC else 1, dtype=np.float64)
        _play(kind, ints, floats, replay, tables.probe_freq, conf, orders, order_lengths,
              start, stop, tally, slots, history, answers, tokens, seq_tokens)  # fmt: skip

    if threads <= 1 or n_questions < 2:
        play_questions(0, n_questions)
    else:
        bounds = np.linspace(0, n_questions, min(n_questions, 16 * threads) + 1).astype(int)
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(play_questions, bounds[:-1], bounds[1:]))
    return answers, tokens, seq_tokens


class _NotCompiled(Exception):
    pass


def _check_orders(tables: StoreTables, orders: np.ndarray, order_lengths: np.ndarray) -> None:
    """The kernels do not check bounds: every order must name branches its question has."""
    if orders.ndim != 3 or order_lengths.shape != orders.shape[:2]:
        raise ValueError("orders must be [questions, orders, branches] with lengths per episode.")
    if orders.shape[0] != tables.n_questions:
        raise ValueError(f"orders cover {orders.shape[0]} questions, tables {tables.n_questions}.")
    if not _orders_fit(tables.n_branches, orders, order_lengths):
        raise ValueError("an order is longer than its row or names a branch its question lacks.")


def _kernel_args(controller: Any) -> tuple[int, np.ndarray, np.ndarray]:
    cls = type(controller)
    if cls is ConfidenceMomentum:
        _check_real(controller, "beta")
        knobs = cmc_schedule(controller.beta)
        ints = [getattr(knobs, name) for name in _CMC_INTS]
        floats = [getattr(knobs, name) for name in _CMC_FLOATS]
        return CMC, np.array(ints, dtype=np.int64), np.array(floats, dtype=np.float64)
    if cls not in _KNOBS:
        builtins = ", ".join(sorted(c.__name__ for c in COMPILED_TYPES))
        raise _NotCompiled(f"only the built-in classes ({builtins}) are compiled")
    kind, int_names, float_names = _KNOBS[cls]
    for name in int_names:
        value = getattr(controller, name)
        if not isinstance(value, numbers.Integral) or not _INT64[0] <= value <= _INT64[1]:
            raise _NotCompiled(f"{name}={value!r} is not a 64-bit integer")
    for name in float_names:
        _check_real(controller, name)
    if kind == ESC and controller.window == 0:
        raise _NotCompiled("window=0 (the Python version raises ZeroDivisionError)")
    ints = np.array([getattr(controller, name) for name in int_names], dtype=np.int64)
    floats = np.array([getattr(controller, name) for name in float_names], dtype=np.float64)
    if kind == ASC:  # SC@N: reads in one wave, no early stop; ASC: a wave per read
        one_wave = cls is SelfConsistency
        ints = np.append(ints, np.int64(one_wave))
        floats = np.array([np.inf]) if one_wave else floats
    return kind, ints, floats


def _check_real(controller: Any, name: str) -> None:
    value = getattr(controller, name)
    if not isinstance(value, numbers.Real):
        raise _NotCompiled(f"{name}={value!r} is not a real number")


@lru_cache(maxsize=8)
def _confidence(max_votes: int) -> np.ndarray:
    return confidence_lookup(max_votes)


# ---- kernels: `replay` = (probes, n_probes, lengths, finals), `tally` = (counts, rank, seen,
# stats) of tts_gym.engine.core.tally, `slots` = per-slot rows below --------------------------

# per slot: explore count, tokens charged, latest answer, finished, pruned (Parallel-Probe) or
# abandoned (CMC), off-track (Parallel-Probe) or CONTINUE count (CMC), CMC's disagreement, and
# three slot lists
_N_SLOT_ARRAYS = 10
_DEPTH, _CHARGED, _LATEST, _FINISHED, _DROPPED, _COUNTER, _DISAGREE, _LIST_A, _LIST_B, _LIST_C = (
    range(_N_SLOT_ARRAYS)
)


def _orders_fit(n_branches: np.ndarray, orders: np.ndarray, order_lengths: np.ndarray) -> bool:
    """Every episode's order fits its row and names only branches its question has (numpy:
    one more compiled function would cost a cold run a third of a second to compile)."""
    width = orders.shape[2]
    if ((order_lengths < 0) | (order_lengths > width)).any():
        return False
    listed = np.arange(width) < order_lengths[:, :, None]
    limits = np.asarray(n_branches)[: orders.shape[0], None, None]
    return not (listed & ((orders < 0) | (orders >= limits))).any()


@numba.njit(cache=True, nogil=True)
def _play(kind, ints, floats, replay, probe_freq, conf, orders, order_lengths, start, stop,
          tally, slots, history, answers, tokens, seq_tokens):  # fmt: skip
    counts, _, seen, stats = tally
    for g in range(start, stop):
        interval = probe_freq[g]
        for o in range(order_lengths.shape[1]):
            order = orders[g, o]
            n_order = order_lengths[g, o]
            clear_tally(counts, seen, stats)
            if kind == ASC:
                answer, spent, seq = _asc_episode(
                    replay, conf, g, order, n_order, ints, floats, tally
                )
            elif kind == ESC:
                answer, spent, seq = _esc_episode(replay, g, order, n_order, ints, tally)
            elif kind == PARALLEL_PROBE:
                answer, spent, seq = _parallel_probe_episode(
                    replay, interval, g, order, n_order, ints, counts, slots
                )
            elif kind == CMC:
                answer, spent, seq = _cmc_episode(
                    replay, interval, conf, g, order, n_order, ints, floats, tally, slots, history
                )
            else:
                answer, spent, seq = _sac_episode(replay, interval, g, order, n_order, ints, tally)
            answers[g, o] = answer
            tokens[g, o] = spent
            seq_tokens[g, o] = seq


@numba.njit(cache=True)
def _asc_episode(replay, conf, q, order, n_order, ints, floats, tally):
    max_samples, one_wave, threshold = ints[0], ints[1], floats[0]
    counts, rank, seen, stats = tally
    spent = longest = 0
    n_read = 0
    while n_read < max_samples and n_read < n_order:
        answer, cost = read(replay[2], replay[3], q, order[n_read])
        spent += cost
        longest = max(longest, cost)
        n_read += 1
        vote(counts, rank, seen, stats, answer)
        if n_read >= 2 and conf[stats[TOP1], stats[TOP2]] > threshold:
            break
    return stats[WINNER], spent, (longest if one_wave else spent)


@numba.njit(cache=True)
def _esc_episode(replay, q, order, n_order, ints, tally):
    max_samples, window = ints[0], ints[1]
    counts, rank, seen, stats = tally
    spent = seq = 0
    n_read = 0
    for _ in range(max_samples // window):
        first = NO_ANSWER
        in_window = 0
        agree = True
        longest = 0  # the window is one wave
        while in_window < window and n_read < n_order:
            answer, cost = read(replay[2], replay[3], q, order[n_read])
            spent += cost
            longest = max(longest, cost)
            n_read += 1
            vote(counts, rank, seen, stats, answer)
            if in_window == 0:
                first = answer
            elif answer != first:
                agree = False
            in_window += 1
        seq += longest
        if in_window and agree:
            return first, spent, seq
    return stats[WINNER], spent, seq


@numba.njit(cache=True)
def _advance(replay, interval, q, order, slots, slot):
    """CONTINUE(slot), or BRANCH into it once its explore count and charge are set to 0:
    (answer, tokens charged, finished)."""
    probes, n_probes, lengths, finals = replay
    answer, cost, finished = explore(
        probes, n_probes, lengths, finals, interval, q, order[slot],
        slots[_DEPTH, slot], slots[_CHARGED, slot],
    )  # fmt: skip
    if not finished:
        slots[_DEPTH, slot] += 1
    slots[_CHARGED, slot] += cost
    return answer, cost, finished


@numba.njit(cache=True, inline="always")
def _wrote_up(replay, q, order, slot):
    """Whether the explore that just finished `slot` charged the branch's write-up."""
    probes, n_probes, _, finals = replay
    return is_writeup(probes, n_probes, finals, q, order[slot])


@numba.njit(cache=True)
def _keep_unflagged(items, n_items, flags):
    """Drop the flagged entries of `items[:n_items]` in place, keeping order; the new length."""
    kept = 0
    for i in range(n_items):
        if not flags[items[i]]:
            items[kept] = items[i]
            kept += 1
    return kept


@numba.njit(cache=True)
def _active_majority(counts, latest, active, n_active):
    """Majority of the active slots' answers, ties to the lowest active slot."""
    best = -1
    winner = NO_ANSWER
    for i in range(n_active):
        answer = latest[active[i]]
        if counts[answer] > best:
            best = counts[answer]
            winner = answer
    return winner


@numba.njit(cache=True)
def _parallel_probe_episode(replay, interval, q, order, n_order, ints, counts, slots):
    # `counts`: votes of the active slots' answers; it goes down too, so no tally. Left all
    # zero at the end for the next episode.
    num_chains, stable_steps, patience = ints[0], ints[1], ints[2]
    warm_up, max_steps = ints[3], ints[4]
    latest, finished, pruned = slots[_LATEST], slots[_FINISHED], slots[_DROPPED]
    off_track, active, running = slots[_COUNTER], slots[_LIST_A], slots[_LIST_B]
    spent = longest = 0  # the longest opening: the branches are opened in one wave
    n = np.int64(0)
    while n < num_chains and n < n_order:
        slots[_DEPTH, n] = slots[_CHARGED, n] = 0  # BRANCH (a first explore is no write-up)
        answer, cost, done = _advance(replay, interval, q, order, slots, n)
        spent += cost
        longest = max(longest, cost)
        latest[n] = answer
        finished[n] = done
        pruned[n] = False
        off_track[n] = 0
        active[n] = n
        counts[answer] += 1
        n += 1
    if n == 0:
        return NO_ANSWER, spent, longest
    seq = longest
    n_active = n
    n_running = np.int64(0)
    for slot in range(n):
        if not finished[slot]:
            running[n_running] = slot
            n_running += 1
    stable = 0
    previous = NO_ANSWER
    result = NO_ANSWER
    decided = False
    writeup_end = 0
    for step in range(max_steps):
        any_finished = False
        longest = 0  # each lockstep round is one wave
        for i in range(n_running):
            slot = running[i]
            answer, cost, done = _advance(replay, interval, q, order, slots, slot)
            spent += cost
            if done and _wrote_up(replay, q, order, slot):
                writeup_end = max(writeup_end, seq + cost)
            else:
                longest = max(longest, cost)
            old = latest[slot]
            if answer != old:
                latest[slot] = answer
                counts[old] -= 1
                counts[answer] += 1
            if done:
                finished[slot] = True
                any_finished = True
        seq += longest
        if any_finished:
            n_running = _keep_unflagged(running, n_running, finished)
        winner = _active_majority(counts, latest, active, n_active)
        if step >= warm_up and n_active > 1:
            any_pruned = False
            for i in range(n_running):
                slot = running[i]
                off = off_track[slot] + 1 if latest[slot] != winner else 0
                off_track[slot] = off
                if off >= patience:
                    pruned[slot] = True
                    any_pruned = True
                    counts[latest[slot]] -= 1
            if any_pruned:
                n_active = _keep_unflagged(active, n_active, pruned)
                n_running = _keep_unflagged(running, n_running, pruned)
                if n_active == 0:
                    result, decided = previous, True
                    break
                winner = _active_majority(counts, latest, active, n_active)
        stable = stable + 1 if winner == previous else 0
        if stable >= stable_steps:
            result, decided = winner, True
            break
        previous = winner
        if n_running == 0:
            result, decided = winner, True
            break
    for i in range(n_active):
        counts[latest[active[i]]] = 0
    return (result if decided else previous), spent, max(seq, writeup_end)


@numba.njit(cache=True)
def _sort_descending(items, n_items, keys):
    """Stable insertion sort of `items[:n_items]` by `keys[item]`, largest first."""
    for i in range(1, n_items):
        item = items[i]
        j = i - 1
        while j >= 0 and keys[items[j]] < keys[item]:
            items[j + 1] = items[j]
            j -= 1
        items[j + 1] = item


@numba.njit(cache=True)
def _cmc_spawn(replay, interval, q, order, slots, slot, n_alive, tally):
    """BRANCH into `slot`; returns (tokens charged, number of alive slots). (A first explore
    is no write-up.)"""
    slots[_DEPTH, slot] = slots[_CHARGED, slot] = 0
    answer, cost, done = _advance(replay, interval, q, order, slots, slot)
    slots[_LATEST, slot] = answer
    slots[_FINISHED, slot] = done
    slots[_DROPPED, slot] = False
    slots[_COUNTER, slot] = 0
    slots[_DISAGREE, slot] = 0
    if done:
        counts, rank, seen, stats = tally
        vote(counts, rank, seen, stats, answer)
    else:
        slots[_LIST_A, n_alive] = slot
        n_alive += 1
    return cost, n_alive


@numba.njit(cache=True)
def _cmc_episode(replay, interval, conf, q, order, n_order, ints, floats, tally, slots, history):
    n_init, max_branch_use, warm_up, patience = ints[0], ints[1], ints[2], ints[3]
    ema_history, burst, widen_burst, min_complete = ints[4], ints[5], ints[6], ints[7]
    alpha, conf_thresh, delta_slack, trend_thresh = floats[0], floats[1], floats[2], floats[3]
    counts, rank, seen, stats = tally  # the answers of finished branches: `completed`
    latest, finished, abandoned = slots[_LATEST], slots[_FINISHED], slots[_DROPPED]
    n_probed, disagree = slots[_COUNTER], slots[_DISAGREE]
    alive, stragglers, by_depth = slots[_LIST_A], slots[_LIST_B], slots[_LIST_C]
    spent = longest = 0  # the start is one wave
    n_opened = np.int64(0)
    n_alive = np.int64(0)
    while n_opened < n_init and n_opened < n_order:
        cost, n_alive = _cmc_spawn(replay, interval, q, order, slots, n_opened, n_alive, tally)
        spent += cost
        longest = max(longest, cost)
        n_opened += 1
    if n_opened == 0:
        return NO_ANSWER, spent, longest
    seq = longest

    ema = 0.0
    n_history = 0
    writeup_end = 0
    for step in range(MAX_STEPS):
        winner = stats[WINNER]
        warm = step >= warm_up
        ema = (1 - alpha) * ema + alpha * conf[stats[TOP1], stats[TOP2]]
        if n_history == ema_history:  # the last `ema_history` values, oldest first
            for i in range(1, n_history):
                history[i - 1] = history[i]
            history[n_history - 1] = ema
        else:
            history[n_history] = ema
            n_history += 1

        aligned_to = winner if warm else NO_ANSWER  # NO_ANSWER: no branch counts as aligned
        if aligned_to != NO_ANSWER:
            n_stragglers = np.int64(0)
            for i in range(n_alive):
                s = alive[i]
                disagree[s] = 0 if latest[s] == winner else disagree[s] + 1
                if disagree[s] >= patience:
                    stragglers[n_stragglers] = s
                    n_stragglers += 1
            if n_stragglers:
                _sort_descending(stragglers, n_stragglers, disagree)
                n_dropped = min(n_stragglers, max(0, n_alive - 2))
                for i in range(n_dropped):
                    abandoned[stragglers[i]] = True
                if n_dropped:
                    n_alive = _keep_unflagged(alive, n_alive, abandoned)

        for i in range(n_alive):  # (a slice copy would compile its error path: seconds)
            by_depth[i] = alive[i]
        _sort_descending(by_depth, n_alive, n_probed)
        any_finished = False
        longest = 0  # the round is one wave of branch-local bursts
        for i in range(n_alive):
            s = by_depth[i]
            answer, cost, done = _advance(replay, interval, q, order, slots, s)
            generated = cost
            steps = 1
            if latest[s] == aligned_to:  # aligned: a burst, unless the branch finishes
                while steps < burst and not done:
                    answer, cost, done = _advance(replay, interval, q, order, slots, s)
                    generated += cost
                    steps += 1
            spent += generated
            if done and _wrote_up(replay, q, order, s):  # the burst's last explore
                generated -= cost
                writeup_end = max(writeup_end, seq + generated + cost)
            longest = max(longest, generated)
            n_probed[s] += steps
            latest[s] = answer
            if done:
                finished[s] = True
                any_finished = True
                vote(counts, rank, seen, stats, answer)
        seq += longest
        if any_finished:
            n_alive = _keep_unflagged(alive, n_alive, finished)

        ema = (1 - alpha) * ema + alpha * conf[stats[TOP1], stats[TOP2]]
        history[n_history - 1] = ema
        delta = history[n_history - 1] - history[0] if n_history >= 2 else 0.0
        if warm and stats[VOTES] >= min_complete and ema >= conf_thresh and delta >= -delta_slack:
            return stats[WINNER], spent, max(seq, writeup_end)
        if n_alive == 0:
            break
        if (
            n_opened < max_branch_use
            and delta <= trend_thresh
            and step >= max(1, warm_up // 2)
            and ema < conf_thresh
        ):
            longest = 0  # the widening is one wave
            for _ in range(widen_burst):
                if n_opened >= max_branch_use or n_opened >= n_order:
                    break
                cost, n_alive = _cmc_spawn(
                    replay, interval, q, order, slots, n_opened, n_alive, tally
                )
                spent += cost
                longest = max(longest, cost)
                n_opened += 1
            seq += longest

    if stats[VOTES] == 0:  # nothing finished: the majority of the latest answers not abandoned
        for s in range(n_opened):
            if not abandoned[s]:
                vote(counts, rank, seen, stats, np.int32(latest[s]))  # (one signature of vote)
    return stats[WINNER], spent, max(seq, writeup_end)


@numba.njit(cache=True)
def _sac_episode(replay, interval, q, order, n_order, ints, tally):
    """SC@N+SAC: N branch-local chains in one wave, so seq is the longest branch's cost (a
    chain's write-up, its last explore, ends where the chain does)."""
    n_branches, patience = ints[0], ints[1]
    probes, n_probes, lengths, finals = replay
    counts, rank, seen, stats = tally
    spent = longest = 0
    n = 0
    while n < n_branches and n < n_order:
        branch = order[n]
        depth = charged = 0
        answer, charged, done = explore(
            probes, n_probes, lengths, finals, interval, q, branch, depth, charged
        )
        last, streak = answer, 1
        while not done and streak < patience:
            depth += 1
            answer, cost, done = explore(
                probes, n_probes, lengths, finals, interval, q, branch, depth, charged
            )
            charged += cost
            if answer == last:
                streak += 1
            else:
                last, streak = answer, 1
        spent += charged
        longest = max(longest, charged)
        vote(counts, rank, seen, stats, answer)
        n += 1
    return stats[WINNER], spent, longest
