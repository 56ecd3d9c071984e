"""`getattr(q, "_" + "episode")`: a computed private name passes the static rules; behind the
handle lies only a proxy, so there is nothing to read off and the attack earns what it reads."""

from tests.sandbox.support import assert_only_what_it_revealed, play

ATTACK = """
    from collections import Counter


    def dig(obj, depth=0, seen=None):
        '''Any object reachable through attributes that holds a question's branches.'''
        seen = set() if seen is None else seen
        if id(obj) in seen or depth > 3:
            return None
        seen.add(id(obj))
        if hasattr(obj, "finals") and hasattr(obj, "answers"):
            return obj
        for name in dir(obj):
            try:
                found = dig(getattr(obj, name), depth + 1, seen)
            except Exception:
                continue
            if found is not None:
                return found
        return None


    class Controller:
        def __init__(self, beta=0.5):
            self.beta = beta

        def solve(self, q):
            question = dig(getattr(q, "_" + "episode"))
            if question is not None:  # the majority of every branch, for no tokens
                return Counter(question.answers[f] for f in question.finals).most_common(1)[0][0]
            return q.read()
"""


def test_a_computed_private_name_reaches_only_a_proxy(tmp_path) -> None:
    run, store = play(tmp_path, ATTACK)
    assert_only_what_it_revealed(run, store)
    tokens = [outcomes.tokens for outcomes in run.outcomes.values()]
    assert all((t > 0).all() for t in tokens)  # it found nothing, so it paid for every answer
