"""The action vocabulary of the replay MDP: one index per (kind, slot).

Layout for `max_branches = M`: 0 ANSWER, 1 BRANCH, 2 READ, then four blocks of M indices:
CONTINUE(0..M-1), PROBE(0..M-1), PRUNE(0..M-1), SUBMIT(0..M-1). `encode_action` and
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


GLOBAL_KINDS = (ActionKind.ANSWER, ActionKind.BRANCH, ActionKind.READ)
SLOT_KINDS = (ActionKind.CONTINUE, ActionKind.PROBE, ActionKind.PRUNE, ActionKind.SUBMIT)
FIRST_SLOT_KIND = 3  # int(ActionKind.CONTINUE): kinds below it take no slot
assert FIRST_SLOT_KIND == ActionKind.CONTINUE == len(GLOBAL_KINDS)


def n_actions(max_branches: int) -> int:
    return len(GLOBAL_KINDS) + len(SLOT_KINDS) * max_branches


def action_index(kind: int, slot: int, max_branches: int) -> int:
    """Index of (kind, slot), unchecked; `slot` is ignored for the global kinds."""
    if kind < FIRST_SLOT_KIND:
        return kind
    return FIRST_SLOT_KIND + (kind - FIRST_SLOT_KIND) * max_branches + slot


def action_kind_slot(index: int, max_branches: int) -> tuple[int, int]:
    """(kind, slot) of an index in range, as ints; slot is 0 for the global kinds."""
    if index < FIRST_SLOT_KIND:
        return index, 0
    block, slot = divmod(index - FIRST_SLOT_KIND, max_branches)
    return FIRST_SLOT_KIND + block, slot


def encode_action(kind: ActionKind, slot: int = 0, max_branches: int = 64) -> int:
    """Index of `kind` (on `slot` for per-slot kinds) in an env with `max_branches` slots."""
    kind = ActionKind(kind)
    if kind not in GLOBAL_KINDS and not 0 <= slot < max_branches:
        raise ValueError(f"slot {slot} is outside 0..{max_branches - 1}.")
    return action_index(int(kind), slot, max_branches)


def decode_action(index: int, max_branches: int = 64) -> tuple[ActionKind, int]:
    """(kind, slot) of an action index; slot is 0 for the global kinds."""
    index = int(index)
    if not 0 <= index < n_actions(max_branches):
        raise ValueError(f"action {index} is outside 0..{n_actions(max_branches) - 1}.")
    kind, slot = action_kind_slot(index, max_branches)
    return ActionKind(kind), slot


def action_name(kind: ActionKind, slot: int = 0) -> str:
    """`BRANCH`, `CONTINUE(3)`: how messages name an action."""
    kind = ActionKind(kind)
    return kind.name if kind in GLOBAL_KINDS else f"{kind.name}({slot})"
