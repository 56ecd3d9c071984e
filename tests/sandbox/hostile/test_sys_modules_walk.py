"""Walking `sys.modules` for stores, episodes or gold answers finds none: the sandboxed
process never held one. The attack falls back to reading, and earns what it read."""

from tests.sandbox.support import assert_only_what_it_revealed, play

ATTACK = """
    import sys

    WANTED = {"Question", "ReplayStore", "Episode", "TracingEpisode", "EpisodeServer"}


    def find():
        for module in list(sys.modules.values()):
            for value in list(vars(module).values()):
                # plain containers only: a subclass may compute its items (platform's cached
                # uname starts a process when iterated, which the sandbox refuses)
                kind = type(value)
                candidates = value if kind in (list, tuple, dict) else [value]
                if kind is dict:
                    candidates = list(candidates.values())
                for item in list(candidates)[:1000]:
                    if type(item).__name__ in WANTED:
                        return item
        return None


    class Controller:
        def __init__(self, beta=0.5):
            self.beta = beta

        def solve(self, q):
            found = find()
            if found is not None:
                return getattr(found, "gold", None) or "found"
            return q.read()
"""


def test_sys_modules_hold_no_store_episode_or_gold(tmp_path) -> None:
    run, store = play(tmp_path, ATTACK)
    assert_only_what_it_revealed(run, store)
    assert all((outcomes.tokens > 0).all() for outcomes in run.outcomes.values())
