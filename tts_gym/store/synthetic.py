"""Synthetic replay stores in the AutoTTS JSON format, for tests and for edge cases.

The twelve real stores all look alike (30 questions, 128 branches, probe_freq 500, no
confidence). Code that reads stores must also cope with what they never show: a handful of
branches, branches too short for a single probe, questions where nothing could be read, and
per-probe confidence. `generate_store` makes such stores from a seed; see `traces/FORMAT.md`.

The model, per question:
- a *solve rate* in [0, 1] (how easy the question is): the probability that a branch's final
  answer is the gold answer; otherwise the branch ends at 'ERR' (rarely) or at one of a few
  wrong answers, popular ones more often (real stores show clusters of the same wrong answer);
- per branch, a thinking length (log-normal, longer for harder questions) plus a short
  answer part; `branch_tokens` is their sum and the probes cover the thinking part, so a
  branch has `ceil(thinking / probe_freq)` probes (at most `max_probes`), which is at most
  `ceil(branch_tokens / probe_freq)` and usually one or two fewer, as in the real stores;
- probed answers drift toward the final answer: each probe keeps the previous answer or
  redraws, and a redraw lands on the final answer with a probability that grows with the
  depth; early and middle probes are sometimes 'ERR'; the last probe is the final answer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tts_gym.store.replay import CONFIDENCE_KEY, ERR
from tts_gym.store.writer import write_store

__all__ = ["generate_store", "write_store"]  # write_store: the store writer, for its output


def generate_store(
    n_questions: int = 30,
    n_branches: int | tuple[int, int] = 128,
    *,
    seed: int = 0,
    probe_freq: int = 500,
    solve_rate: tuple[float, float] = (0.0, 1.0),
    tokens: tuple[int, int] = (1_000, 41_500),
    max_probes: int = 80,
    err_final: float = 0.02,
    err_probe: float = 0.1,
    zero_probe_share: float = 0.0,
    all_err_questions: int = 0,
    confidence: bool = False,
) -> list[dict[str, Any]]:
    """Generate a store as the list of question dicts that `json.dump` would write.

    n_branches: per question, fixed or drawn uniformly from an inclusive (low, high) range.
    solve_rate: range of the per-question probability that a branch ends at the gold answer.
    tokens: range of `branch_tokens` for branches that have probes.
    err_final: probability that a (non-zero-probe) branch ends at 'ERR'.
    err_probe: peak probability that a redrawn intermediate probe is 'ERR' (mid-branch).
    zero_probe_share: share of branches shorter than one interval, hence with no probe.
    all_err_questions: how many questions (chosen at random) have 'ERR' everywhere.
    confidence: add `segment_confidence` (per branch, one float in (0, 1) per probe).
    The same arguments give the same store.
    """
    if probe_freq <= 0 or n_questions <= 0 or not 0 <= all_err_questions <= n_questions:
        raise ValueError("need probe_freq > 0, n_questions > 0, 0 <= all_err_questions <= n")
    rng = np.random.default_rng(seed)
    low, high = (n_branches, n_branches) if isinstance(n_branches, int) else n_branches
    if not 1 <= low <= high:
        raise ValueError(f"n_branches must be >= 1, got {n_branches!r}")
    all_err = set(rng.choice(n_questions, size=all_err_questions, replace=False).tolist())
    questions = []
    for index in range(n_questions):
        rate = float(rng.uniform(*solve_rate))
        gold = str(int(rng.integers(0, 1000)))
        count = int(rng.integers(low, high + 1))
        wrong = _wrong_answers(rng, gold, rate)
        branches, scores = [], []
        for _ in range(count):
            probes, length, final, score = _branch(
                rng,
                gold=gold,
                wrong=wrong,
                rate=rate,
                probe_freq=probe_freq,
                tokens=tokens,
                max_probes=max_probes,
                err_final=1.0 if index in all_err else err_final,
                err_probe=err_probe,
                zero_probe=rng.random() < zero_probe_share,
            )
            branches.append([probes, length, final])
            scores.append(score)
        question = {
            "question": f"Synthetic question {index} (seed {seed}, solve rate {rate:.2f}).",
            "gold_answer": gold,
            "probe_freq": probe_freq,
            "final_answers_trace": [branch[2] for branch in branches],
            "each_branch": branches,
        }
        if confidence:
            question[CONFIDENCE_KEY] = scores
        questions.append(question)
    return questions


def _wrong_answers(rng: np.random.Generator, gold: str, rate: float) -> list[str]:
    """A question's wrong answers, more of them for harder questions (most popular first)."""
    count = 1 + int(rng.poisson(1 + 12 * (1 - rate)))
    drawn = [str(int(a)) for a in rng.integers(0, 1000, size=count)]
    return [a for a in dict.fromkeys(drawn) if a != gold] or [str((int(gold) + 1) % 1000)]


def _branch(
    rng: np.random.Generator,
    *,
    gold: str,
    wrong: list[str],
    rate: float,
    probe_freq: int,
    tokens: tuple[int, int],
    max_probes: int,
    err_final: float,
    err_probe: float,
    zero_probe: bool,
) -> tuple[list[str], int, str, list[float]]:
    """One branch: (probe_list, branch_tokens, final_answer, confidence per probe)."""
    if rng.random() < err_final:
        final = ERR
    elif rng.random() < rate:
        final = gold
    else:  # Zipf-like popularity: the first wrong answer is the most common one
        weights = 1.0 / np.arange(1, len(wrong) + 1)
        final = wrong[int(rng.choice(len(wrong), p=weights / weights.sum()))]
    if zero_probe:
        return [], int(rng.integers(1, probe_freq)), final, []

    # Harder questions think longer: median about 6k tokens when easy, 20k when hard.
    thinking = math.exp(rng.normal(math.log(6_000 + 14_000 * (1 - rate)), 0.6))
    answer_part = rng.exponential(700)
    length = int(np.clip(thinking + answer_part, tokens[0], tokens[1]))
    thinking = min(thinking, length)
    n_probes = max(1, min(max_probes, math.ceil(thinking / probe_freq)))

    candidates = [gold, *wrong]
    keep, converge, err = rng.random((3, n_probes)).tolist()
    pick = rng.integers(len(candidates), size=n_probes).tolist()
    noise = rng.normal(0.0, 0.08, size=n_probes).tolist()
    probes: list[str] = []
    confidence: list[float] = []
    for k in range(n_probes):
        depth = (k + 1) / n_probes
        if k == n_probes - 1:
            answer = final
        elif probes and probes[-1] != ERR and keep[k] < 0.7:
            answer = probes[-1]
        elif final == ERR or converge[k] < depth**2:
            answer = final
        elif err[k] < 4 * err_probe * depth * (1 - depth):
            answer = ERR
        else:
            answer = candidates[pick[k]]
        probes.append(answer)
        agrees = answer == final and answer != ERR
        base = 0.15 if answer == ERR else 0.4 + 0.5 * depth * agrees
        confidence.append(round(min(0.99, max(0.01, base + noise[k])), 4))
    return probes, length, final, confidence
