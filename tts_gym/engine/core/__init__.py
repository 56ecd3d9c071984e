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

from collections.abc import Sequence
from pathlib import Path

_compiled = False

_PACKAGE = Path(__file__).resolve().parents[2]
_SOURCES = ("engine", "env", "store", "control")
"""Where compiled code and everything it inlines live (folders of the `tts_gym` package)."""


def compile_rules() -> None:
    """Make `tts_gym.engine.rules.COMPILED` callable from numba code (once per process)."""
    global _compiled
    if _compiled:
        return
    drop_stale_caches()
    from numba.extending import register_jitable

    from tts_gym.engine import rules

    for function in rules.COMPILED:
        register_jitable(function)
    _compiled = True


def drop_stale_caches(caches: Sequence[Path] = (), sources: Sequence[Path] = ()) -> None:
    """Delete numba cache files older than the newest source they may have compiled in.

    numba checks a cached function against its own file only, but compiled code here inlines
    functions and constants from other files (the rules, the replay, the state layout): after
    an edit of one of those, a cache could hold stale machine code. Installed packages are not
    affected (every file is rewritten on install); a working tree is, and this keeps it honest
    at the price of a recompile after an edit under `tts_gym/{engine,env,store,control}`.

    Compiled code outside the package that inlines this code (the RL macros of
    `tts_gym_agents`) passes its folders as `caches` and its own files as `sources`: its
    caches are then checked against those files and the package's, the package's are left.
    """
    package = [_PACKAGE / name for name in _SOURCES]
    newest = max(
        (path.stat().st_mtime for folder in package for path in folder.rglob("*.py")),
        default=0.0,
    )
    newest = max([newest, *(path.stat().st_mtime for path in sources)])
    for folder in caches or package:
        for cache in folder.rglob("__pycache__/*.nb[ic]"):
            try:
                if cache.stat().st_mtime < newest:
                    cache.unlink()
            except OSError:  # another process got there first, or the folder is read-only
                pass
