"""The boundary around untrusted controllers: a separate process that holds only what it revealed.

`run_isolated(path, class_name, stores, orders, configure)` plays a controller file through
it: the candidate's process never holds a store, a copy of one, an `Episode` or a gold
answer. Its question handle is a proxy whose every action goes to the parent, which applies
it to its own episode (`server.EpisodeServer`) and returns only what that action revealed;
the parent computes every result. Episodes run many at a time in the sandbox (one greenlet
each) so that one message carries the pending actions of all of them. A sample of episodes is
replayed alone in fresh processes, so state carried across episodes is caught. Confinement
(`confine`) limits what else the process can do; `worker` is its entry point
(`python -m tts_gym.evaluation.sandbox.worker`).
"""

from tts_gym.evaluation.sandbox.parent import (
    ControllerSetting,
    IsolatedRun,
    Limits,
    LoadedClass,
    Parameter,
    check_out_of_reach,
    require_solve,
    run_isolated,
)
from tts_gym.evaluation.sandbox.processes import remove_stale_folders
from tts_gym.evaluation.sandbox.server import Rejection

__all__ = [
    "ControllerSetting",
    "IsolatedRun",
    "Limits",
    "LoadedClass",
    "Parameter",
    "Rejection",
    "check_out_of_reach",
    "remove_stale_folders",
    "require_solve",
    "run_isolated",
]
