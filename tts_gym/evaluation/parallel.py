"""Spread (controller, store) jobs over cores, with results identical to a serial run.

Each job is cut into small question ranges (tasks) so that the cores finish together; forked
workers inherit the jobs (stores and controllers are never pickled, so a controller class
loaded from a file works too) and send back only answers and token counts, which are
reassembled in job and question order.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from tts_gym.control.outcomes import Orders, Outcomes
from tts_gym.control.play import play
from tts_gym.store.replay import ReplayStore

QUESTIONS_PER_TASK = 3


@dataclass(frozen=True)
class Job:
    policy: Any
    store: ReplayStore
    orders: Orders
    trace: bool = False


_JOBS: Sequence[Job] = ()  # what forked workers inherit


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_jobs(
    jobs: Sequence[Job], n_jobs: int | None = None, *, progress: bool = False
) -> list[Outcomes]:
    """`play` for every job, over `n_jobs` processes (default: every available core)."""
    tasks = [
        (j, range(start, min(start + QUESTIONS_PER_TASK, job.store.n_questions)))
        for j, job in enumerate(jobs)
        for start in range(0, job.store.n_questions, QUESTIONS_PER_TASK)
    ]
    n_jobs = min(n_jobs or available_cores(), len(tasks))
    parts: list[dict[int, Outcomes]] = [{} for _ in jobs]
    global _JOBS
    _JOBS = jobs
    try:
        if n_jobs > 1 and "fork" in multiprocessing.get_all_start_methods():
            with multiprocessing.get_context("fork").Pool(n_jobs) as pool:
                results = pool.imap_unordered(_run_task, tasks)
                _collect(results, parts, len(tasks), progress)
        else:
            _collect(map(_run_task, tasks), parts, len(tasks), progress)
    finally:
        _JOBS = ()
    return [Outcomes.concat([job_parts[k] for k in sorted(job_parts)]) for job_parts in parts]


def _run_task(task: tuple[int, range]) -> tuple[int, int, Outcomes]:
    j, questions = task
    job = _JOBS[j]
    outcomes = play(job.policy, job.store, job.orders, questions=questions, trace=job.trace)
    return j, questions.start, outcomes


def _collect(
    results: Iterator[tuple[int, int, Outcomes]],
    parts: list[dict[int, Outcomes]],
    n_tasks: int,
    progress: bool,
) -> None:
    # no tqdm object at all without a bar: its monitor thread would outlive it into later forks
    if progress:
        results = tqdm(results, total=n_tasks, unit="task", leave=False)
    for j, start, outcomes in results:
        parts[j][start] = outcomes
