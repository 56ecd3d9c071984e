"""A small single-knob controller: open a few branches, advance them together, stop on agreement.

beta widens the pool and raises the agreement needed to stop, so cost grows with beta.
"""

from collections import Counter


class Controller:
    def __init__(self, beta: float = 0.5) -> None:
        b = min(1.0, max(0.0, beta))
        self.width = 2 + round(14 * b)
        self.agree = 2 + round(4 * b)

    def solve(self, q):
        latest, alive, finished = [], [], Counter()
        for _ in range(self.width):
            if not q.can_branch:
                break
            answer, slot, done = q.branch()
            latest.append(answer)
            if done:
                finished[answer] += 1
            else:
                alive.append(slot)
        while alive:
            for slot in list(alive):
                answer, done = q.advance(slot)
                latest[slot] = answer
                if done:
                    finished[answer] += 1
                    alive.remove(slot)
            if finished:
                top, count = finished.most_common(1)[0]
                if count >= self.agree:
                    return top
        if finished:
            return finished.most_common(1)[0][0]
        votes = Counter(a for a in latest if a is not None)
        return votes.most_common(1)[0][0] if votes else None
