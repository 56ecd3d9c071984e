"""Controllers written the AutoTTS way: string answers, `collections.Counter`, and only the
question methods of the AutoTTS code base (`probe_new`, `probe_more`,
`get_new_branch_final_answer`), exhaustion signalled by `ValueError`.

They are independent re-implementations of BASELINES.md section 4 (they share no code with
`tts_gym.control.builtin`), so equal numbers check both the handle and the built-ins.
"""

from __future__ import annotations

from collections import Counter
from math import comb


def _beta_confidence(top1: int, top2: int) -> float:
    if top1 <= 0:
        return 0.0
    n = top1 + top2 + 1
    return sum(comb(n, k) for k in range(top1 + 1)) / 2**n


def _vote_stats(answers):
    if not answers:
        return None, 0, 0
    common = Counter(answers).most_common(2)
    return common[0][0], common[0][1], common[1][1] if len(common) > 1 else 0


def _majority(answers):
    return Counter(answers).most_common(1)[0][0] if answers else None


class SCMethod:
    NAME = "sc_autotts"

    def __init__(self, n: int = 64):
        self.n = n

    def solve(self, question):
        answers = []
        for _ in range(self.n):
            try:
                answers.append(question.get_new_branch_final_answer())
            except (IndexError, ValueError):
                break
        return _majority(answers)


class ASCMethod:
    NAME = "asc_autotts"

    def __init__(self, max_samples: int = 64, threshold: float = 0.95):
        self.max_samples, self.threshold = max_samples, threshold

    def solve(self, question):
        answers = []
        for _ in range(self.max_samples):
            try:
                answers.append(question.get_new_branch_final_answer())
            except (IndexError, ValueError):
                break
            if len(answers) >= 2:
                winner, top1, top2 = _vote_stats(answers)
                if _beta_confidence(top1, top2) > self.threshold:
                    return winner
        return _majority(answers)


class CMCMethod:
    """The Confidence Momentum Controller, transcribed from BASELINES.md section 4."""

    NAME = "cmc_autotts"

    def __init__(self, beta: float = 0.5):
        b = min(1.0, max(0.0, float(beta)))
        self.n_init = max(2, round(2 + 6 * b))
        self.max_branch_use = min(64, round(4 + 60 * b))
        self.warm_up = max(2, round(2 + 8 * b))
        self.abandon_patience = max(3, round(3 + 9 * b))
        self.t_ema = max(2, round(2 + 6 * b))
        self.alpha = round(0.70 - 0.40 * b, 4)
        self.conf_thresh = round(0.85 + 0.12 * b, 4)
        self.delta_slack = round(0.04 - 0.03 * b, 4)
        self.burst_aligned = max(1, round(1 + 2 * b))
        self.widen_burst = max(1, round(1 + 3 * b))
        self.trend_thresh = round(0.04 - 0.03 * b, 4)
        self.min_complete = max(2, round(2 + 3 * b))
        self.config = {"beta": beta}

    def solve(self, question):
        branches = []  # dicts: index, latest, finished, abandoned, probes, disagree
        completed = []

        def spawn():
            try:
                answer, index, finished = question.probe_new()
            except (IndexError, ValueError):
                return False
            branches.append(
                dict(
                    index=index,
                    latest=answer,
                    finished=finished,
                    abandoned=False,
                    probes=0,
                    disagree=0,
                )
            )
            if finished:
                completed.append(answer)
            return True

        def pool():
            if not completed:
                return None, 0.0
            winner, top1, top2 = _vote_stats(completed)
            return winner, _beta_confidence(top1, top2)

        for _ in range(self.n_init):
            if not spawn():
                break
        if not branches:
            return None
        ema, hist = 0.0, []
        for step in range(500):
            w, conf = pool()
            warm = step >= self.warm_up
            ema = (1 - self.alpha) * ema + self.alpha * conf
            hist.append(ema)
            hist = hist[-self.t_ema :]
            alive = [b for b in branches if not b["finished"] and not b["abandoned"]]
            if warm and w is not None:
                for b in alive:
                    b["disagree"] = 0 if b["latest"] == w else b["disagree"] + 1
                bad = sorted(
                    (b for b in alive if b["disagree"] >= self.abandon_patience),
                    key=lambda b: -b["disagree"],
                )
                for b in bad[: max(0, len(alive) - 2)]:
                    b["abandoned"] = True
            alive = [b for b in branches if not b["finished"] and not b["abandoned"]]
            for b in sorted(alive, key=lambda b: -b["probes"]):
                aligned = warm and w is not None and b["latest"] == w
                for _ in range(self.burst_aligned if aligned else 1):
                    answer, finished = question.probe_more(b["index"])
                    b["probes"] += 1
                    b["latest"] = answer
                    if finished:
                        b["finished"] = True
                        completed.append(answer)
                        break
            w, conf = pool()
            ema = (1 - self.alpha) * ema + self.alpha * conf
            hist[-1] = ema
            delta = hist[-1] - hist[0] if len(hist) >= 2 else 0.0
            if (
                warm
                and len(completed) >= self.min_complete
                and ema >= self.conf_thresh
                and delta >= -self.delta_slack
            ):
                return w
            if all(b["finished"] or b["abandoned"] for b in branches):
                break
            if (
                len(branches) < self.max_branch_use
                and delta <= self.trend_thresh
                and step >= max(1, self.warm_up // 2)
                and ema < self.conf_thresh
            ):
                for _ in range(self.widen_burst):
                    if len(branches) >= self.max_branch_use or not spawn():
                        break
        w, _ = pool()
        if w is None:
            return _majority([b["latest"] for b in branches if not b["abandoned"]])
        return w
