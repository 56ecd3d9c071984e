"""Reading files: the process's folder holds only the candidate's own file (no store, no copy
of one); any path outside it or the Python installation ends the process, `numpy.fromfile`
included (kernel layers off: the audit hook alone)."""

import pytest

from tests.sandbox.support import assert_only_what_it_revealed, assert_rejected, play

IN_FOLDER = """
    import os


    class Controller:
        def __init__(self, beta=0.5):
            self.beta = beta

        def solve(self, q):
            for name in os.listdir("."):
                with open(name, "rb") as handle:
                    if b"each_" + b"branch" in handle.read():  # a store's key
                        return "found a store"
            return q.read()
"""

OUTSIDE = """
    import numpy as np


    class Controller:
        def __init__(self, beta=0.5):
            self.beta = beta

        def solve(self, q):
            raw = {read}("{path}")
            return q.read()
"""


def test_its_own_folder_holds_no_store(tmp_path) -> None:
    run, store = play(tmp_path, IN_FOLDER)
    assert_only_what_it_revealed(run, store)
    assert all((outcomes.tokens > 0).all() for outcomes in run.outcomes.values())


@pytest.mark.parametrize("read", ["open", "np.fromfile"])
def test_reading_the_store_where_it_lies_is_refused(tmp_path, read: str) -> None:
    store_path = tmp_path / "small.json"
    source = OUTSIDE.replace("{read}", read).replace("{path}", str(store_path))
    run, _ = play(tmp_path, source)
    assert_rejected(run, f"the sandbox stopped it: it read {store_path} outside its folder")


def test_reading_the_parents_memory_through_proc_is_refused(tmp_path) -> None:
    source = OUTSIDE.replace("{read}", "open").replace("{path}", "/proc/self/../1/environ")
    run, _ = play(tmp_path, source)
    assert_rejected(run, "the sandbox stopped it: it read /proc/self/../1/environ outside")
