"""The action vocabulary of the replay MDP: one index per (kind, argument).

Layout for `max_branches = M`: 0 ANSWER, 1 BRANCH, 2 READ, then four blocks of M indices:
CONTINUE(0..M-1), PROBE(0..M-1), PRUNE(0..M-1), SUBMIT(0..M-1); then the batch actions, each
one wave (`tts_gym.engine.episode`, docs/design.md): ADVANCE_ALL, OPEN_MANY(k) and READ_MANY(k)
for every k in `BATCH_WIDTHS`. The argument of an action is its slot for the per-slot kinds,
its width k for OPEN_MANY and READ_MANY, and 0 otherwise. `encode_action` and
`decode_action` convert between the two views (with checks); `action_index` and
`action_kind_slot` are the same arithmetic on plain ints, which the compiled core runs as
written. Nothing else does index arithmetic.
"""

from __future__ import annotations

from enum import IntEnum


class ActionKind(IntEnum):
    ANSWER = 0  # end with the majority of the revealed answers of unpruned branches
    BRANCH = 1  # open the next branch and advance it one interval
    READ = 2  # open the next branch and read it to its end
    CONTINUE = 3  # advance slot i one interval
    PROBE = 4  # reveal slot i's answer at its current depth
    PRUNE = 5  # drop slot i
    SUBMIT = 6  # end with slot i's last revealed answer
    ADVANCE_ALL = 7  # advance every alive (open, unfinished, unpruned) slot once: one wave
    OPEN_MANY = 8  # BRANCH k times: one wave
    READ_MANY = 9  # READ k times: one wave


GLOBAL_KINDS = (ActionKind.ANSWER, ActionKind.BRANCH, ActionKind.READ)
SLOT_KINDS = (ActionKind.CONTINUE, ActionKind.PROBE, ActionKind.PRUNE, ActionKind.SUBMIT)
BATCH_KINDS = (ActionKind.ADVANCE_ALL, ActionKind.OPEN_MANY, ActionKind.READ_MANY)
WIDTH_KINDS = (ActionKind.OPEN_MANY, ActionKind.READ_MANY)
BATCH_WIDTHS = (2, 4, 8, 16, 32, 64)
"""The widths k of OPEN_MANY(k) and READ_MANY(k) (k = 1 is BRANCH and READ). Every width is
in every env's action space; one wider than the free slots is masked."""

FIRST_SLOT_KIND = 3  # int(ActionKind.CONTINUE): kinds below it take no slot
FIRST_BATCH_KIND = 7  # int(ActionKind.ADVANCE_ALL): the batch kinds follow the slot blocks
_ADVANCE_ALL, _OPEN_MANY = int(ActionKind.ADVANCE_ALL), int(ActionKind.OPEN_MANY)
_N_SLOT_KINDS, _N_WIDTHS = len(SLOT_KINDS), len(BATCH_WIDTHS)
assert FIRST_SLOT_KIND == ActionKind.CONTINUE == len(GLOBAL_KINDS)
assert FIRST_BATCH_KIND == ActionKind.ADVANCE_ALL == FIRST_SLOT_KIND + len(SLOT_KINDS)


def n_actions(max_branches: int) -> int:
    return FIRST_SLOT_KIND + _N_SLOT_KINDS * max_branches + 1 + len(WIDTH_KINDS) * _N_WIDTHS


def width_position(k: int) -> int:
    """Position of width `k` in `BATCH_WIDTHS`, -1 if it is not one."""
    for j in range(_N_WIDTHS):
        if BATCH_WIDTHS[j] == k:
            return j
    return -1


def action_index(kind: int, slot: int, max_branches: int) -> int:
    """Index of (kind, argument), unchecked; the argument is ignored where a kind has none."""
    if kind < FIRST_SLOT_KIND:
        return kind
    if kind < FIRST_BATCH_KIND:
        return FIRST_SLOT_KIND + (kind - FIRST_SLOT_KIND) * max_branches + slot
    if kind == _ADVANCE_ALL:
        return FIRST_SLOT_KIND + _N_SLOT_KINDS * max_branches
    return width_index(kind, width_position(slot), max_branches)


def width_index(kind: int, j: int, max_branches: int) -> int:
    """Index of OPEN_MANY or READ_MANY (`kind`) with the j-th width of `BATCH_WIDTHS`."""
    return FIRST_SLOT_KIND + _N_SLOT_KINDS * max_branches + 1 + (kind - _OPEN_MANY) * _N_WIDTHS + j


def action_kind_slot(index: int, max_branches: int) -> tuple[int, int]:
    """(kind, argument) of an index in range, as ints (see the module docstring)."""
    if index < FIRST_SLOT_KIND:
        return index, 0
    first_batch = FIRST_SLOT_KIND + _N_SLOT_KINDS * max_branches
    if index < first_batch:
        block, slot = divmod(index - FIRST_SLOT_KIND, max_branches)
        return FIRST_SLOT_KIND + block, slot
    if index == first_batch:
        return _ADVANCE_ALL, 0
    block, j = divmod(index - first_batch - 1, _N_WIDTHS)
    return _OPEN_MANY + block, BATCH_WIDTHS[j]


def encode_action(kind: ActionKind, slot: int = 0, max_branches: int = 64) -> int:
    """Index of `kind` in an env with `max_branches` slots; `slot` is the slot of a per-slot
    kind and the width k (one of `BATCH_WIDTHS`) of OPEN_MANY and READ_MANY."""
    kind = ActionKind(kind)
    if kind in SLOT_KINDS and not 0 <= slot < max_branches:
        raise ValueError(f"slot {slot} is outside 0..{max_branches - 1}.")
    if kind in WIDTH_KINDS and width_position(slot) < 0:
        raise ValueError(f"{kind.name} takes a width k in {BATCH_WIDTHS}, got {slot}.")
    return action_index(int(kind), slot, max_branches)


def decode_action(index: int, max_branches: int = 64) -> tuple[ActionKind, int]:
    """(kind, argument) of an action index: the slot, the width k, or 0."""
    index = int(index)
    if not 0 <= index < n_actions(max_branches):
        raise ValueError(f"action {index} is outside 0..{n_actions(max_branches) - 1}.")
    kind, slot = action_kind_slot(index, max_branches)
    return ActionKind(kind), slot


def action_name(kind: ActionKind, slot: int = 0) -> str:
    """`BRANCH`, `CONTINUE(3)`, `OPEN_MANY(8)`: how messages name an action."""
    kind = ActionKind(kind)
    if kind in SLOT_KINDS or kind in WIDTH_KINDS:
        return f"{kind.name}({slot})"
    return kind.name
