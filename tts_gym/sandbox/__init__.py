"""The boundary around untrusted controllers: a separate process that holds only what it revealed.

`run_isolated(path, class_name, stores, orders, configure)` plays a controller file through
it: the candidate's process never holds a store, a copy of one, an `Episode` or a gold
answer. Its question handle is a proxy whose every action goes to the parent, which applies
it to its own episode (`server.EpisodeServer`) and returns only what that action revealed;
the parent computes every result. Episodes run many at a time in the sandbox (one greenlet
each) so that one message carries the pending actions of all of them. A sample of episodes is
replayed alone in fresh processes, so state carried across episodes is caught.

One module per concern. The parent: `run` (a run from start to verdict), `zygote` (the
worker process), `session` (one sandboxed process and its schedule), `server` and
`server_kernel` (the parent's episodes), `output` (what the processes print), `namespaces`
(bubblewrap), `report` (which layers held), `wording` (sentences), `processes` (folders,
process groups, signals), `limits` and `controller` (what a run is given). The wire:
`channel`. The sandboxed side: `worker` (its entry point, `python -m tts_gym.sandbox.worker`),
`hub` (a session's play), and the confinement it applies to itself: `confine` (limits,
network), `landlock`, `seccomp`, `audit`.

The names below are imported on first use (PEP 562), so that the worker, which imports this
package's modules, never loads the parent's compiled server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tts_gym.sandbox.controller import (
        ControllerSetting,
        LoadedClass,
        Parameter,
        require_solve,
    )
    from tts_gym.sandbox.limits import Limits
    from tts_gym.sandbox.processes import remove_stale_folders
    from tts_gym.sandbox.report import ALLOW_FLAG, missing_core_layers, require_core_layers
    from tts_gym.sandbox.run import IsolatedRun, check_out_of_reach, run_isolated
    from tts_gym.sandbox.server import Rejection
    from tts_gym.sandbox.wording import bounded

_HOMES = {
    "ALLOW_FLAG": "report",
    "ControllerSetting": "controller",
    "IsolatedRun": "run",
    "Limits": "limits",
    "LoadedClass": "controller",
    "Parameter": "controller",
    "Rejection": "server",
    "bounded": "wording",
    "check_out_of_reach": "run",
    "missing_core_layers": "report",
    "remove_stale_folders": "processes",
    "require_core_layers": "report",
    "require_solve": "controller",
    "run_isolated": "run",
}
__all__ = [
    "ALLOW_FLAG",
    "ControllerSetting",
    "IsolatedRun",
    "Limits",
    "LoadedClass",
    "Parameter",
    "Rejection",
    "bounded",
    "check_out_of_reach",
    "missing_core_layers",
    "remove_stale_folders",
    "require_core_layers",
    "require_solve",
    "run_isolated",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'tts_gym.sandbox' has no attribute '{name}'")
    return getattr(importlib.import_module(f"tts_gym.sandbox.{_HOMES[name]}"), name)
