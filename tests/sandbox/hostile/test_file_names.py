"""A file named after a module the worker imports: nothing of it runs before confinement.

The worker starts outside the candidate's folder with `-P -s`, gets the source on its stdin
and never imports it; a confined session stores it as `candidate.py`. So a candidate called
`greenlet.py` (or after any other module the worker imports) is just a candidate, and files
beside it are never on `sys.path`. The module names come from the worker's own imports: an
interpreter started as the zygote is (`INTERPRETER_FLAGS`, `-m tts_gym.sandbox.worker`'s
imports and discovery's preload), listed from its `sys.modules`.

Each planted file writes a marker outside the sandbox when it runs: a marker on disk means it
ran unconfined; confined, the write ends the session ("the sandbox stopped it: it wrote ...").
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tts_gym_agents.discovery.candidate import PRELOAD

from tests.sandbox.support import HONEST, assert_rejected, play
from tts_gym.sandbox.zygote import INTERPRETER_FLAGS, WORKER

PLANT = """
    open({marker!r}, "w").write("ran")  # outside the sandbox: refused when confined


    class Controller:
        def __init__(self, beta=0.5):
            self.beta = beta

        def solve(self, q):
            return q.read()
"""


def worker_modules() -> list[str]:
    """The top-level names in the `sys.modules` of an interpreter started as the worker is,
    after the worker's own imports and discovery's preload."""
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({WORKER!r})\n"
        f"for name in {list(PRELOAD)!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    found = subprocess.run(
        [sys.executable, *INTERPRETER_FLAGS, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
        env={"PYTHONHASHSEED": "0"},
    )
    names = {name.split(".")[0] for name in json.loads(found.stdout)}
    return sorted(name for name in names if name.isidentifier() and name != "__main__")


MODULES = worker_modules()


def test_the_list_is_the_workers_own() -> None:
    assert {"greenlet", "numpy", "json", "tts_gym", "orjson", "socket"} <= set(MODULES)


@pytest.mark.parametrize("name", ["greenlet", "numpy", "tts_gym"])
def test_a_candidate_named_after_a_worker_module_is_only_a_candidate(tmp_path, name) -> None:
    run, _ = play(tmp_path, HONEST, name=f"{name}.py", kernel=True)
    assert run.ok, run.problems


def test_files_beside_the_candidate_never_run(tmp_path) -> None:
    """Every worker module planted beside a candidate named after one of them: none runs
    unconfined, and the candidate itself runs confined only."""
    markers = tmp_path / "markers"
    markers.mkdir()
    for module in MODULES:
        (tmp_path / f"{module}.py").write_text(PLANT.format(marker=str(markers / module)))
    run, _ = play(tmp_path, PLANT.format(marker=str(markers / "greenlet")), name="greenlet.py")
    assert_rejected(run, f"the sandbox stopped it: it wrote {markers / 'greenlet'} outside")
    assert list(markers.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("module", MODULES)
def test_a_planting_candidate_named_after_each_worker_module_runs_confined(tmp_path, module):
    marker = tmp_path / "ran"
    source = PLANT.format(marker=str(marker))
    run, _ = play(tmp_path, source, name=f"{module}.py", kernel=True, replays=0, orders=1)
    assert_rejected(run, f"the sandbox stopped it: it wrote {marker} outside")
    assert not marker.exists()
