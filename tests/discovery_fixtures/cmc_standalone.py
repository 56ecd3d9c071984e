"""CMC (BASELINES.md section 4) as a standalone candidate: one knob, the question handle only.

It must give exactly the built-in `ConfidenceMomentum`'s answers and tokens.
"""

from dataclasses import dataclass

from tts_gym.engine.voting import beta_confidence, majority, vote_stats

MAX_STEPS = 500


def schedule(beta: float) -> dict:
    b = min(1.0, max(0.0, float(beta)))
    return {
        "n_init": max(2, round(2 + 6 * b)),
        "max_branch_use": min(64, round(4 + 60 * b)),
        "warm_up": max(2, round(2 + 8 * b)),
        "abandon_patience": max(3, round(3 + 9 * b)),
        "ema_history": max(2, round(2 + 6 * b)),
        "alpha": round(0.70 - 0.40 * b, 4),
        "conf_thresh": round(0.85 + 0.12 * b, 4),
        "delta_slack": round(0.04 - 0.03 * b, 4),
        "burst_aligned": max(1, round(1 + 2 * b)),
        "widen_burst": max(1, round(1 + 3 * b)),
        "trend_thresh": round(0.04 - 0.03 * b, 4),
        "min_complete": max(2, round(2 + 3 * b)),
    }


@dataclass
class Branch:
    latest: str
    finished: bool
    abandoned: bool = False
    probes: int = 0
    disagree: int = 0


class CMC:
    def __init__(self, beta: float = 0.5) -> None:
        self.k = schedule(beta)

    def solve(self, q):
        k = self.k
        branches: list[Branch] = []
        completed: dict = {}

        def pool():
            if not completed:
                return None, 0.0
            winner, top1, top2 = vote_stats(completed)
            return winner, beta_confidence(top1, top2)

        def spawn():
            answer, _, done = q.branch()
            branches.append(Branch(answer, done))
            if done:
                completed[answer] = completed.get(answer, 0) + 1

        while len(branches) < k["n_init"] and q.can_branch:
            spawn()
        if not branches:
            return None
        ema, history = 0.0, []
        for step in range(MAX_STEPS):
            winner, conf = pool()
            warm = step >= k["warm_up"]
            ema = (1 - k["alpha"]) * ema + k["alpha"] * conf
            history.append(ema)
            if len(history) > k["ema_history"]:
                del history[0]
            alive = [s for s, b in enumerate(branches) if not (b.finished or b.abandoned)]
            if warm and winner is not None:
                for s in alive:
                    b = branches[s]
                    b.disagree = 0 if b.latest == winner else b.disagree + 1
                stragglers = [s for s in alive if branches[s].disagree >= k["abandon_patience"]]
                stragglers.sort(key=lambda s: -branches[s].disagree)
                for s in stragglers[: max(0, len(alive) - 2)]:
                    branches[s].abandoned = True
                    q.prune(s)
                alive = [s for s in alive if not branches[s].abandoned]
            alive.sort(key=lambda s: -branches[s].probes)
            for s in alive:
                b = branches[s]
                aligned = warm and winner is not None and b.latest == winner
                for _ in range(k["burst_aligned"] if aligned else 1):
                    b.latest, done = q.advance(s)
                    b.probes += 1
                    if done:
                        b.finished = True
                        completed[b.latest] = completed.get(b.latest, 0) + 1
                        break
            winner, conf = pool()
            ema = (1 - k["alpha"]) * ema + k["alpha"] * conf
            history[-1] = ema
            delta = history[-1] - history[0] if len(history) >= 2 else 0.0
            if (
                warm
                and sum(completed.values()) >= k["min_complete"]
                and ema >= k["conf_thresh"]
                and delta >= -k["delta_slack"]
            ):
                return winner
            if all(b.finished or b.abandoned for b in branches):
                break
            if (
                len(branches) < k["max_branch_use"]
                and delta <= k["trend_thresh"]
                and step >= max(1, k["warm_up"] // 2)
                and ema < k["conf_thresh"]
            ):
                for _ in range(k["widen_burst"]):
                    if len(branches) >= k["max_branch_use"] or not q.can_branch:
                        break
                    spawn()
        winner, _ = pool()
        if winner is None:
            return majority(b.latest for b in branches if not b.abandoned)
        return winner
