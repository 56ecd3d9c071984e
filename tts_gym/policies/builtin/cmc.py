"""CMC, the Confidence Momentum Controller discovered by AutoTTS: one knob, beta.

Every setting derives from beta through `cmc_schedule`, the single source of truth for the
controller's knobs (BASELINES.md section 4). It widens while the momentum of the finished
branches' Beta-majority confidence is flat, deepens aligned branches faster, abandons
branches that keep disagreeing, and stops once confidence is high and not falling.
"""

from __future__ import annotations

from dataclasses import dataclass

from tts_gym.engine import NO_ANSWER, Episode, beta_confidence, majority, vote_stats

MAX_STEPS = 500


@dataclass(frozen=True)
class CMCSchedule:
    n_init: int
    max_branch_use: int
    warm_up: int
    abandon_patience: int
    ema_history: int
    alpha: float
    conf_thresh: float
    delta_slack: float
    burst_aligned: int
    widen_burst: int
    trend_thresh: float
    min_complete: int


def cmc_schedule(beta: float) -> CMCSchedule:
    b = min(1.0, max(0.0, float(beta)))
    return CMCSchedule(
        n_init=max(2, round(2 + 6 * b)),
        max_branch_use=min(64, round(4 + 60 * b)),
        warm_up=max(2, round(2 + 8 * b)),
        abandon_patience=max(3, round(3 + 9 * b)),
        ema_history=max(2, round(2 + 6 * b)),
        alpha=round(0.70 - 0.40 * b, 4),
        conf_thresh=round(0.85 + 0.12 * b, 4),
        delta_slack=round(0.04 - 0.03 * b, 4),
        burst_aligned=max(1, round(1 + 2 * b)),
        widen_burst=max(1, round(1 + 3 * b)),
        trend_thresh=round(0.04 - 0.03 * b, 4),
        min_complete=max(2, round(2 + 3 * b)),
    )


@dataclass(frozen=True)
class ConfidenceMomentum:
    beta: float = 0.5

    @property
    def name(self) -> str:
        return f"CMC(beta={self.beta})"

    def run(self, episode: Episode) -> int:
        knobs = cmc_schedule(self.beta)
        latest: list[int] = []
        finished: list[bool] = []
        abandoned: list[bool] = []
        probes: list[int] = []
        disagree: list[int] = []
        completed: dict[int, int] = {}  # votes of finished branches, in order of finishing

        def pool() -> tuple[int | None, float]:
            if not completed:
                return None, 0.0
            winner, top1, top2 = vote_stats(completed)
            return winner, beta_confidence(top1, top2)

        def spawn() -> None:
            answer, _, done = episode.open()
            latest.append(answer)
            finished.append(done)
            abandoned.append(False)
            probes.append(0)
            disagree.append(0)
            if done:
                completed[answer] = completed.get(answer, 0) + 1

        while len(latest) < knobs.n_init and episode.can_open:
            spawn()
        if not latest:
            return NO_ANSWER

        alpha, patience = knobs.alpha, knobs.abandon_patience
        ema = 0.0
        history: list[float] = []
        for step in range(MAX_STEPS):
            winner, conf = pool()
            warm = step >= knobs.warm_up
            ema = (1 - alpha) * ema + alpha * conf
            history.append(ema)
            if len(history) > knobs.ema_history:
                del history[0]

            alive = [s for s in range(len(latest)) if not (finished[s] or abandoned[s])]
            if warm and winner is not None:
                for s in alive:
                    disagree[s] = 0 if latest[s] == winner else disagree[s] + 1
                stragglers = [s for s in alive if disagree[s] >= patience]
                stragglers.sort(key=lambda s: -disagree[s])
                for s in stragglers[: max(0, len(alive) - 2)]:
                    abandoned[s] = True
                    episode.prune(s)
                alive = [s for s in alive if not abandoned[s]]

            alive.sort(key=lambda s: -probes[s])
            for s in alive:
                aligned = warm and winner is not None and latest[s] == winner
                for _ in range(knobs.burst_aligned if aligned else 1):
                    answer, done = episode.advance(s)
                    probes[s] += 1
                    latest[s] = answer
                    if done:
                        finished[s] = True
                        completed[answer] = completed.get(answer, 0) + 1
                        break

            winner, conf = pool()
            ema = (1 - alpha) * ema + alpha * conf
            history[-1] = ema
            delta = history[-1] - history[0] if len(history) >= 2 else 0.0
            if (
                warm
                and sum(completed.values()) >= knobs.min_complete
                and ema >= knobs.conf_thresh
                and delta >= -knobs.delta_slack
            ):
                return winner
            if all(finished[s] or abandoned[s] for s in range(len(latest))):
                break
            if (
                len(latest) < knobs.max_branch_use
                and delta <= knobs.trend_thresh
                and step >= max(1, knobs.warm_up // 2)
                and ema < knobs.conf_thresh
            ):
                for _ in range(knobs.widen_burst):
                    if len(latest) >= knobs.max_branch_use or not episode.can_open:
                        break
                    spawn()

        winner, _ = pool()
        if winner is None:
            fallback = majority(latest[s] for s in range(len(latest)) if not abandoned[s])
            return NO_ANSWER if fallback is None else fallback
        return winner
