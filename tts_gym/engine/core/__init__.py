"""The compiled batch core: the replay rules of `Episode` as numba functions over arrays.

`replay` holds the rules every compiled piece shares (one explore, one read, the confidence
lookup); `batch` holds N episodes as arrays (their columns: `layout`) and steps them in one
call; the compiled built-ins and the vector env are built on them. Legality and the action
layout are not restated here: `compile_rules()` registers the functions of
`tts_gym.engine.rules` (and `actions.action_index`) so that compiled code calls them as
written. Every compiled module calls it on import; numba is imported only then, which keeps
`import tts_gym` light.
"""

from __future__ import annotations

_compiled = False


def compile_rules() -> None:
    """Make `tts_gym.engine.rules.COMPILED` callable from numba code (once per process)."""
    global _compiled
    if _compiled:
        return
    from numba.extending import register_jitable

    from tts_gym.engine import rules

    for function in rules.COMPILED:
        register_jitable(function)
    _compiled = True
