"""The rules: which actions a state allows and why one is not, the token budget, and latency.

One statement of the rules for both engines. `Episode` (the Python reference) calls these
functions, and the compiled batch core (`tts_gym.engine.core`) compiles the very same
functions with numba, which is why they are written on plain ints and arrays. An env's
action mask is these predicates over every action, kept up to date after each action by
`refresh_slot_mask`, `refresh_open_mask` and `refresh_batch_mask`; `why_illegal` words the
reason for a refusal.

The rules, while the episode runs:
- ANSWER is always legal.
- BRANCH, READ: the order still has an unopened branch, fewer than `max_branches` slots are
  in use, and the budget is not spent.
- CONTINUE(i): slot i is open, neither finished nor pruned, and the budget is not spent.
- PROBE(i): slot i is open and not pruned, its answer at the current depth is not the one
  it last revealed, and the budget is not spent or probing is free (`probe_cost == 0`).
- PRUNE(i): slot i is open, neither finished nor pruned (pruning is free, so a spent budget
  does not stop it).
- SUBMIT(i): slot i has a revealed answer.
- ADVANCE_ALL: some slot is alive (open, neither finished nor pruned) and the budget is not
  spent; it advances every alive slot once.
- OPEN_MANY(k), READ_MANY(k): k >= 1 branches are still unopened, k slots are free, and the
  budget is not spent.
The budget is spent once `tokens >= budget`; the action that crosses it is paid in full (a
batch action is legal as a whole at its start, and pays everything it charges).
Once the episode has ended, nothing is legal.

Latency (docs/design.md): an episode's sequential tokens are the time its last generation ends,
counted in tokens: the sum of its waves' durations, or the end of a write-up still running
after them, whichever is later. A single action is a wave of its own, lasting the tokens it
charged; a batch action is one wave, lasting `wave_timing` of the tokens each branch
generated in it. A branch's *write-up* (`is_writeup`: its last segment, from its last probe
to its end, when its final answer is the answer of that probe) reveals nothing the last
probe did not, so it does not hold its wave up: it runs on past the wave's end.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tts_gym.engine.actions import (
    BATCH_WIDTHS,
    WIDTH_KINDS,
    ActionKind,
    action_index,
    action_kind_slot,
    width_index,
    width_position,
)

NO_ANSWER = -1
"""Answer id meaning "nothing revealed" (and, as an episode's answer, "no answer")."""

NO_LIMIT = 1 << 62
"""The token limit of an episode without a budget."""

_BRANCH, _READ = int(ActionKind.BRANCH), int(ActionKind.READ)
_CONTINUE, _PROBE = int(ActionKind.CONTINUE), int(ActionKind.PROBE)
_PRUNE, _SUBMIT = int(ActionKind.PRUNE), int(ActionKind.SUBMIT)
_ADVANCE_ALL, _OPEN_MANY = int(ActionKind.ADVANCE_ALL), int(ActionKind.OPEN_MANY)
_READ_MANY = int(ActionKind.READ_MANY)


def token_limit(budget: int | None) -> int:
    return NO_LIMIT if budget is None else budget


def parallel_limit(max_parallel: int | None) -> int:
    """The width cap of a wave as an int: `max_parallel`, or `NO_LIMIT` without a cap."""
    return NO_LIMIT if max_parallel is None else max_parallel


# ---- the predicates (both engines) ----------------------------------------------------------
def can_open(n_opened: int, n_order: int, max_branches: int, tokens: int, limit: int) -> bool:
    return n_opened < n_order and n_opened < max_branches and tokens < limit


def can_open_many(
    n_opened: int, n_order: int, max_branches: int, tokens: int, limit: int, k: int
) -> bool:
    """k branches may be opened together (OPEN_MANY(k), READ_MANY(k))."""
    return k >= 1 and n_opened + k <= n_order and n_opened + k <= max_branches and tokens < limit


def can_advance_all(n_alive: int, tokens: int, limit: int) -> bool:
    return n_alive > 0 and tokens < limit


def can_continue(finished: bool, pruned: bool, tokens: int, limit: int) -> bool:
    return not finished and not pruned and tokens < limit


def can_probe(
    pruned: bool, revealed: int, current: int, tokens: int, limit: int, probe_cost: int
) -> bool:
    return not pruned and revealed != current and (probe_cost == 0 or tokens < limit)


def can_prune(finished: bool, pruned: bool) -> bool:
    return not finished and not pruned


def can_submit(revealed: int) -> bool:
    return revealed != NO_ANSWER


# ---- the action mask, refreshed after each action (both engines) ----------------------------
def refresh_slot_mask(
    mask: np.ndarray,
    max_branches: int,
    slot: int,
    finished: bool,
    pruned: bool,
    revealed: int,
    current: int,
    tokens: int,
    limit: int,
    probe_cost: int,
) -> None:
    """The four per-slot actions of an open `slot`, from its state."""
    m = max_branches
    mask[action_index(_CONTINUE, slot, m)] = can_continue(finished, pruned, tokens, limit)
    mask[action_index(_PROBE, slot, m)] = can_probe(
        pruned, revealed, current, tokens, limit, probe_cost
    )
    mask[action_index(_PRUNE, slot, m)] = can_prune(finished, pruned)
    mask[action_index(_SUBMIT, slot, m)] = can_submit(revealed)


def refresh_open_mask(
    mask: np.ndarray,
    max_branches: int,
    n_opened: int,
    n_order: int,
    tokens: int,
    tokens_before: int,
    limit: int,
    probe_cost: int,
) -> None:
    """BRANCH and READ; and, on the action that spends the budget, every slot's CONTINUE
    (and PROBE when it costs tokens). Only the acting slot's other actions can change."""
    legal = can_open(n_opened, n_order, max_branches, tokens, limit)
    mask[_BRANCH] = legal
    mask[_READ] = legal
    if tokens_before < limit <= tokens:
        for slot in range(n_opened):
            mask[action_index(_CONTINUE, slot, max_branches)] = 0
            if probe_cost > 0:
                mask[action_index(_PROBE, slot, max_branches)] = 0


def refresh_batch_mask(
    mask: np.ndarray,
    max_branches: int,
    n_opened: int,
    n_order: int,
    n_alive: int,
    tokens: int,
    limit: int,
) -> None:
    """ADVANCE_ALL, OPEN_MANY(k) and READ_MANY(k): they depend on counts and tokens alone."""
    m = max_branches
    mask[action_index(_ADVANCE_ALL, 0, m)] = can_advance_all(n_alive, tokens, limit)
    for j in range(len(BATCH_WIDTHS)):
        legal = can_open_many(n_opened, n_order, m, tokens, limit, BATCH_WIDTHS[j])
        mask[width_index(_OPEN_MANY, j, m)] = legal
        mask[width_index(_READ_MANY, j, m)] = legal


# ---- latency (both engines) -----------------------------------------------------------------
def wave_timing(segments: Any, writeups: Any, width: int) -> tuple[int, int]:
    """(duration, end) in tokens of a wave in which branch s (slot order) generated
    `segments[s]` tokens before its write-up and `writeups[s]` tokens of write-up (0: none).

    Distinct branches overlap, so the duration is the largest segment; with a width cap
    (`width = parallel_limit(max_parallel)`) the branches that generated tokens run as
    consecutive sub-waves of `width` branches in slot order, and the duration is the sum of
    the sub-waves' largest segments. A write-up does not count towards the duration: it runs
    on from where its branch got to, and `end` is when the last one ends, from the wave's
    start (0 without write-ups). Branches with no tokens (or a segment of -1: not in the
    wave) take no place in it.
    """
    duration = longest = running = end = 0
    for s in range(len(segments)):
        tokens, writeup = segments[s], writeups[s]
        if tokens < 0 or tokens + writeup <= 0:
            continue
        if running == width:
            duration += longest
            longest = running = 0
        running += 1
        if tokens > longest:
            longest = tokens
        if writeup > 0 and duration + tokens + writeup > end:
            end = duration + tokens + writeup
    return duration + longest, end


COMPILED = (
    action_index,
    action_kind_slot,
    width_index,
    width_position,
    can_open,
    can_open_many,
    can_advance_all,
    can_continue,
    can_probe,
    can_prune,
    can_submit,
    refresh_slot_mask,
    refresh_open_mask,
    refresh_batch_mask,
    wave_timing,
)
"""The functions the compiled core runs as written (`tts_gym.engine.core.compile_rules`)."""


# ---- the reason (Python) --------------------------------------------------------------------
def why_illegal(episode: Any, kind: ActionKind, slot: int = 0) -> str | None:
    """Why `kind` (on `slot`) is not legal in `episode`'s state; None when it is legal.

    `episode` is an `Episode` or anything that reads like one (`EpisodeView` of the compiled
    core): `done`, `tokens`, `n_opened`, `n_unopened`, `n_alive`, per-slot `finished`,
    `pruned`, `revealed`, `current`, and the limits `max_branches`, `budget`, `probe_cost`.
    For OPEN_MANY and READ_MANY, `slot` is the width k.
    """
    if episode.done:
        return "the episode has ended"
    kind = ActionKind(kind)
    tokens, limit = episode.tokens, token_limit(episode.budget)
    spent = f"the token budget of {episode.budget} is spent"
    n_opened = episode.n_opened
    if kind is ActionKind.ANSWER:
        return None
    if kind in (ActionKind.BRANCH, ActionKind.READ):
        n_order = n_opened + episode.n_unopened
        if can_open(n_opened, n_order, episode.max_branches, tokens, limit):
            return None
        if tokens >= limit:
            return spent
        if n_opened >= n_order:
            return f"all {n_order} branches are opened"
        return f"all {episode.max_branches} slots are in use"
    if kind in WIDTH_KINDS:
        return _why_cannot_open_many(episode, slot, tokens, limit, spent)
    if kind is ActionKind.ADVANCE_ALL:
        if can_advance_all(episode.n_alive, tokens, limit):
            return None
        if tokens >= limit:
            return spent
        return "no branch is open" if n_opened == 0 else "no open branch is alive"
    if not 0 <= slot < n_opened:
        return f"slot {slot} is not open ({n_opened} branches open)"
    finished, pruned = episode.finished[slot], episode.pruned[slot]
    revealed, current = episode.revealed[slot], episode.current[slot]
    state = "pruned" if pruned else "finished"
    if kind is ActionKind.CONTINUE:
        if can_continue(finished, pruned, tokens, limit):
            return None
        return f"the branch in slot {slot} is {state}" if finished or pruned else spent
    if kind is ActionKind.PROBE:
        if can_probe(pruned, revealed, current, tokens, limit, episode.probe_cost):
            return None
        if pruned:
            return f"the branch in slot {slot} is pruned"
        if revealed == current:
            return f"the answer of slot {slot} at its depth is already revealed"
        return spent
    if kind is ActionKind.PRUNE:
        if can_prune(finished, pruned):
            return None
        return f"the branch in slot {slot} is already {state}"
    if can_submit(revealed):
        return None
    return f"slot {slot} has no revealed answer"


def _why_cannot_open_many(episode: Any, k: int, tokens: int, limit: int, spent: str) -> str | None:
    n_opened, m = episode.n_opened, episode.max_branches
    n_order = n_opened + episode.n_unopened
    if can_open_many(n_opened, n_order, m, tokens, limit, k):
        return None
    if k < 1:
        return f"a batch opens at least 1 branch, not {k}"
    if tokens >= limit:
        return spent
    if n_opened + k > n_order:
        left = n_order - n_opened
        if left <= 0:
            return f"all {n_order} branches are opened"
        return f"only {left} unopened branch{'es are' if left > 1 else ' is'} left"
    free = m - n_opened
    if free <= 0:
        return f"all {m} slots are in use"
    return f"only {free} slot{'s are' if free > 1 else ' is'} free"


def why_advance_many_illegal(episode: Any, slots: Any) -> str | None:
    """Why advancing `slots` together (each once, one wave) is illegal; None when it is
    legal: the slots are distinct and each one's CONTINUE is legal at the wave's start."""
    if episode.done:
        return "the episode has ended"
    if len(slots) == 0:
        return "no slot is given"
    seen = set()
    for slot in slots:
        if slot in seen:
            return f"slot {slot} is listed twice"
        seen.add(slot)
        reason = why_illegal(episode, ActionKind.CONTINUE, slot)
        if reason is not None:
            return reason
    return None
