"""The parent's episodes on the compiled core: one call applies a whole ACTIONS message.

`apply_message` is `EpisodeServer.apply`'s inner loop: for each (episode row, op, arg) record
of a message it checks the action as `Episode` would (the same predicates of
`tts_gym.engine.rules`, with slots and widths from the wire compared without overflow), applies
it with the core's `step` or `wave`, and writes the reply: the per-episode answer id (numbered
in order of first reveal; `news` lists the answers revealed for the first time), the slot, the
finished flag and both token counts, and for a batch call one item per branch of its wave. An
illegal action changes nothing and is flagged in the reply; the server words the reason. What
is not a well-formed message (an unknown op, a batch advance asking for more slots than the
list has) stops the call with a status for the server to reject.
"""

from __future__ import annotations

from pathlib import Path

import numba
import numpy as np

from tts_gym.engine import rules
from tts_gym.engine.actions import ActionKind, action_index
from tts_gym.engine.core import batch as core
from tts_gym.engine.core import drop_stale_caches
from tts_gym.engine.core.layout import (
    CURRENT,
    ENDED,
    FINISHED,
    MAX_BRANCHES,
    N_OPENED,
    N_ORDER,
    PROBE_COST,
    PRUNED,
    REVEALED,
    SEQ_TOKENS,
    SHOWN,
    SLOT,
    TOKEN_LIMIT,
    TOKENS,
)
from tts_gym.engine.rules import NO_ANSWER
from tts_gym.sandbox import channel as ch

_HERE = Path(__file__).parent
drop_stale_caches(caches=[_HERE], sources=[_HERE / "server_kernel.py", _HERE / "channel.py"])

OK, UNKNOWN_OP, SHORT_SLOT_LIST = range(3)
"""`outcome[STATUS]` of `apply_message`: `outcome[RECORD]` names the record at fault."""
STATUS, RECORD, N_ITEMS, N_NEWS, TAKEN, N_ILLEGAL, N_NOTED = range(7)
"""Entries of `outcome`: the status, the record at fault, the wave items and first reveals
written, the slots of the list the batch advances took, the illegal records, and the legal
records of noted rows (listed in `noted_records`)."""
GLOBAL_ANSWER, FIRST_ITEM, FIRST_LISTED = range(3)
"""Columns of `extra`, per record: the answer id in the question (single actions), where its
items start in `items` and where its slots start in the slot list (batch calls)."""

KINDS = np.full(len(ch.OP_NAMES), -1, dtype=np.int64)
"""The engine's `ActionKind` of each op of the wire (a batch advance: ADVANCE_ALL over a list)."""
for _op, _kind in (
    (ch.BRANCH, ActionKind.BRANCH),
    (ch.CONTINUE, ActionKind.CONTINUE),
    (ch.PROBE, ActionKind.PROBE),
    (ch.PRUNE, ActionKind.PRUNE),
    (ch.READ, ActionKind.READ),
    (ch.ADVANCE_MANY, ActionKind.ADVANCE_ALL),
    (ch.OPEN_MANY, ActionKind.OPEN_MANY),
    (ch.READ_MANY, ActionKind.READ_MANY),
):
    KINDS[_op] = int(_kind)
_BRANCH, _CONTINUE, _PROBE, _PRUNE, _READ = ch.BRANCH, ch.CONTINUE, ch.PROBE, ch.PRUNE, ch.READ
_ADVANCE_MANY, _OPEN_MANY, _READ_MANY = ch.ADVANCE_MANY, ch.OPEN_MANY, ch.READ_MANY
_ILLEGAL = ch.ILLEGAL


@numba.njit(cache=True)
def start_episode(addresses, shapes, i, question, n_order, local, n_local):
    """Start row i on global question `question`, its order already in `order[i, :n_order]`;
    no answer of it has a per-episode id yet."""
    tables, state = core.unpack(addresses, shapes, 0)
    core.clear(state, i)
    core.start(tables, state, i, question, n_order)
    local[i, :] = -1
    n_local[i] = 0


@numba.njit(cache=True, inline="always")
def _local_id(local, n_local, i, answer, k, news, n_news):
    """The per-episode id of `answer` in row i (NO_ANSWER stays); a first reveal goes to
    `news` as (record, answer). Returns (id, news written)."""
    if answer < 0:
        return answer, n_news
    if local[i, answer] < 0:
        local[i, answer] = n_local[i]
        n_local[i] += 1
        news[n_news, 0] = k
        news[n_news, 1] = answer
        n_news += 1
    return local[i, answer], n_news


@numba.njit(cache=True, inline="always")
def _advance_many_is_legal(slots, i, listed, mark, tokens, limit):
    """`rules.why_advance_many_illegal(...) is None`: some slots, distinct, each one's
    CONTINUE legal (`mark`: scratch, all zero before and after)."""
    n_opened = slots.shape[1]
    legal = len(listed) > 0
    for slot in listed:
        if not 0 <= slot < n_opened or mark[slot]:
            legal = False
            break
        mark[slot] = 1
        t = slots[i, slot]
        if not rules.can_continue(t[FINISHED] != 0, t[PRUNED] != 0, tokens, limit):
            legal = False
            break
    for slot in listed:
        if 0 <= slot < mark.shape[0]:
            mark[slot] = 0
    return legal


@numba.njit(cache=True)
def apply_message(
    addresses, shapes, rows, records, listed, local, n_local, noted, replies, extra, items, news,
    noted_records, mark, outcome,
):  # fmt: skip
    """Apply record k = (episode, op, arg) to row `rows[k]`, for every k in order: the reply
    in `replies[k]` (the wire's five fields) and `extra[k]`, a batch call's branches in
    `items` (the wire's three fields, then the answer id in the question). Rows flagged in
    `noted` (their actions logged or traced) have their legal records listed."""
    tables, state = core.unpack(addresses, shapes, 0)
    episodes, slots, limits = state[0], state[1], state[7]
    m, limit, probe_cost = limits[MAX_BRANCHES], limits[TOKEN_LIMIT], limits[PROBE_COST]
    taken = n_items = n_news = n_illegal = n_noted = 0
    outcome[STATUS] = OK
    for k in range(rows.shape[0]):
        i, op, arg = rows[k], records[k, 1], records[k, 2]
        if not 0 <= op < KINDS.shape[0]:
            outcome[STATUS], outcome[RECORD] = UNKNOWN_OP, k
            return
        e = episodes[i]
        kind, n_opened, tokens = KINDS[op], e[N_OPENED], e[TOKENS]
        in_range = 0 <= arg < n_opened
        s = slots[i, arg if in_range else 0]
        batch = op in (_ADVANCE_MANY, _OPEN_MANY, _READ_MANY)
        wave = listed[0:0]
        if op == _CONTINUE:
            legal = in_range and rules.can_continue(s[FINISHED] != 0, s[PRUNED] != 0, tokens, limit)
        elif op == _PROBE:
            legal = in_range and rules.can_probe(
                s[PRUNED] != 0, s[REVEALED], s[CURRENT], tokens, limit, probe_cost
            )
        elif op == _PRUNE:
            legal = in_range and rules.can_prune(s[FINISHED] != 0, s[PRUNED] != 0)
        elif op in (_BRANCH, _READ):
            legal = rules.can_open(n_opened, e[N_ORDER], m, tokens, limit)
        elif op == _ADVANCE_MANY:  # its slots are the next `arg` of the list
            if not 0 <= arg <= listed.shape[0] - taken:
                outcome[STATUS], outcome[RECORD], outcome[TAKEN] = SHORT_SLOT_LIST, k, taken
                return
            extra[k, FIRST_LISTED] = taken
            wave = listed[taken : taken + arg]
            taken += arg
            legal = _advance_many_is_legal(slots[:, :n_opened], i, wave, mark, tokens, limit)
        else:  # OPEN_MANY, READ_MANY: `rules.can_open_many`, without overflow for any arg
            legal = 1 <= arg <= e[N_ORDER] - n_opened and arg <= m - n_opened and tokens < limit
        if not legal:
            replies[k, 0], replies[k, 1], replies[k, 2] = _ILLEGAL, 0 if batch else arg, 0
            n_illegal += 1
        elif batch:
            core.wave(tables, state, i, kind, arg, wave)
            extra[k, FIRST_ITEM] = n_items
            for j in range(arg):
                slot = wave[j] if op == _ADVANCE_MANY else n_opened + j
                t = slots[i, slot]
                answer, n_news = _local_id(local, n_local, i, t[CURRENT], k, news, n_news)
                items[n_items, 0], items[n_items, 1], items[n_items, 2] = answer, slot, t[FINISHED]
                items[n_items, 3] = t[CURRENT]
                n_items += 1
            replies[k, 0], replies[k, 1], replies[k, 2] = NO_ANSWER, arg, 0
        else:
            core.step(tables, state, i, action_index(kind, arg if in_range else 0, m))
            shown = e[SHOWN]
            extra[k, GLOBAL_ANSWER] = shown
            replies[k, 0], n_news = _local_id(local, n_local, i, shown, k, news, n_news)
            replies[k, 1] = e[SLOT]
            replies[k, 2] = slots[i, arg, FINISHED] if op == _PROBE else e[ENDED]
        replies[k, 3], replies[k, 4] = e[TOKENS], e[SEQ_TOKENS]
        if legal and noted[i]:
            noted_records[n_noted] = k
            n_noted += 1
    outcome[N_ITEMS], outcome[N_NEWS], outcome[TAKEN] = n_items, n_news, taken
    outcome[N_ILLEGAL], outcome[N_NOTED] = n_illegal, n_noted
