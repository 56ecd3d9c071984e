"""CMC, the Confidence Momentum Controller discovered by AutoTTS: one knob, beta.

Every setting derives from beta through `cmc_schedule`, the single source of truth for the
controller's knobs (docs/evaluation.md). It widens while the momentum of the finished
branches' Beta-majority confidence is flat, deepens aligned branches faster, abandons
branches that keep disagreeing, and stops once confidence is high and not falling.
"""

from __future__ import annotations

from dataclasses import dataclass

from tts_gym.control.builtin.settings import check_settings, setting
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
    """CMC(beta) as AutoTTS published it.

    Waves (docs/design.md): actions whose choice does not depend on each other's results share a
    wave, which gives three kinds, in this order:
    - the start: the `n_init` branches are opened in one wave (each opening depends only on
      the order not having run out);
    - each step's depth round is one wave: the branches it advances, and whether each is
      aligned (a burst of up to `burst_aligned` intervals) or not (one), are fixed by the
      pool and the latest answers at the round's start, and a burst stops only on its own
      branch finishing; so the round is a set of branch-local chains and lasts as long as
      the branch that generated most in it;
    - a step's widening (up to `widen_burst` openings) is one wave: it is chosen from the
      round's results, and the openings do not depend on each other.
    The round and the widening cannot share a wave (widening needs the round's confidence),
    nor can the widening and the next round (that round's abandoning and alignment need the
    new branches' answers). Abandoning takes no time.
    """

    beta: float = setting(0.5, low=0.0, high=1.0)
    __post_init__ = check_settings  # settings.py: --config n=2.5 is refused, not played

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
        alive: list[int] = []  # neither finished nor abandoned, in opening order
        completed: dict[int, int] = {}  # votes of finished branches, in order of finishing
        pool: tuple[int | None, float] = (None, 0.0)  # winner and confidence of `completed`

        def complete(answer: int) -> None:
            nonlocal pool
            completed[answer] = completed.get(answer, 0) + 1
            winner, top1, top2 = vote_stats(completed)
            pool = winner, beta_confidence(top1, top2)

        def spawn() -> None:
            answer, slot, done = episode.open()
            latest.append(answer)
            finished.append(done)
            abandoned.append(False)
            probes.append(0)
            disagree.append(0)
            if done:
                complete(answer)
            else:
                alive.append(slot)

        with episode.wave():
            while len(latest) < knobs.n_init and episode.can_open:
                spawn()
        if not latest:
            return NO_ANSWER

        advance, wave = episode.advance, episode.wave
        alpha, patience = knobs.alpha, knobs.abandon_patience
        burst, min_complete = knobs.burst_aligned, knobs.min_complete
        ema = 0.0
        history: list[float] = []
        for step in range(MAX_STEPS):
            winner, conf = pool
            warm = step >= knobs.warm_up
            ema = (1 - alpha) * ema + alpha * conf
            history.append(ema)
            if len(history) > knobs.ema_history:
                del history[0]

            aligned_to = winner if warm else None  # None: no branch counts as aligned
            if aligned_to is not None:
                stragglers = []
                for s in alive:
                    disagree[s] = 0 if latest[s] == winner else disagree[s] + 1
                    if disagree[s] >= patience:
                        stragglers.append(s)
                if stragglers:
                    stragglers.sort(key=disagree.__getitem__, reverse=True)
                    dropped = stragglers[: max(0, len(alive) - 2)]
                    for s in dropped:
                        abandoned[s] = True
                        episode.prune(s)
                    if dropped:
                        alive = [s for s in alive if not abandoned[s]]

            # deepest first; a stable sort in reverse keeps ties in opening order
            any_finished = False
            with wave():
                for s in sorted(alive, key=probes.__getitem__, reverse=True):
                    answer, done = advance(s)
                    steps = 1
                    if latest[s] == aligned_to:  # aligned: a burst, unless the branch finishes
                        while steps < burst and not done:
                            answer, done = advance(s)
                            steps += 1
                    probes[s] += steps
                    latest[s] = answer
                    if done:
                        finished[s] = any_finished = True
                        complete(answer)
            if any_finished:
                alive = [s for s in alive if not finished[s]]

            winner, conf = pool
            ema = (1 - alpha) * ema + alpha * conf
            history[-1] = ema
            delta = history[-1] - history[0] if len(history) >= 2 else 0.0
            if (
                warm
                and sum(completed.values()) >= min_complete
                and ema >= knobs.conf_thresh
                and delta >= -knobs.delta_slack
            ):
                return winner
            if not alive:
                break
            if (
                len(latest) < knobs.max_branch_use
                and delta <= knobs.trend_thresh
                and step >= max(1, knobs.warm_up // 2)
                and ema < knobs.conf_thresh
            ):
                with wave():
                    for _ in range(knobs.widen_burst):
                        if len(latest) >= knobs.max_branch_use or not episode.can_open:
                            break
                        spawn()

        winner, _ = pool
        if winner is None:
            fallback = majority(latest[s] for s in range(len(latest)) if not abandoned[s])
            return NO_ANSWER if fallback is None else fallback
        return winner
