"""Spread (controller, store) jobs over supervised worker processes; results as a serial run's.

Each job is cut into small question ranges (tasks) so that the cores finish together. Workers
are forked, so they inherit the jobs (stores and controllers are never pickled, and a
controller class loaded from a file works too); each runs in its own process group, takes one
task at a time from its pipe and sends back each question as it starts, then the task's
answers and token counts, or its error. The parent reassembles them in job and question order.

The parent watches the pipes and the processes together, so nothing can hang it: a worker
that exits (`os._exit`), is killed, or whose policy raises `SystemExit` fails the task it
held; a job that runs past its time limit is stopped; the first failure ends the run with one
sentence (a `PolicyError`) naming the policy, the store and the question. However the run
ends (results, an error, Ctrl-C), every worker's process group is killed, and a worker also
dies with the parent (`kill -9` of the command).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from tqdm import tqdm

from tts_gym.control.errors import PolicyError
from tts_gym.control.outcomes import Orders, Outcomes
from tts_gym.control.play import play
from tts_gym.control.protocols import policy_name
from tts_gym.errors import brief
from tts_gym.sandbox.confine import die_with_parent
from tts_gym.store.replay import ReplayStore

QUESTIONS_PER_TASK = 3
TASKS_AHEAD = 2
"""Tasks sent to a worker at a time: it starts the next without waiting for the parent."""
STOP_GRACE_SECONDS = 2.0
"""How long finished workers get to exit on their own (flushing what they printed)."""


@dataclass(frozen=True)
class Job:
    """One policy on one store; `timeout`: seconds for the whole store (None: no limit).

    The time is the workers' wall time on the job's question ranges, added up, so the limit
    does not depend on how many workers share the job.
    """

    policy: Any
    store: ReplayStore
    orders: Orders
    trace: bool = False
    timeout: float | None = None


@dataclass(frozen=True)
class Task:
    job: int
    questions: range


_JOBS: Sequence[Job] = ()  # what forked workers inherit


def trusted(policy: Any) -> bool:
    """Whether `policy` is one of the built-ins (which neither hang nor exit; a subclass
    from elsewhere is not)."""
    return type(policy).__module__.startswith("tts_gym.control.builtin.")


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_jobs(
    jobs: Sequence[Job], n_jobs: int | None = None, *, progress: bool = False
) -> list[Outcomes]:
    """`play` for every job, over `n_jobs` worker processes (default: every core).

    Jobs play in supervised workers, even with `n_jobs=1`, unless one worker would do and
    every job is a built-in without a time limit (then in the calling process), or `fork`
    does not exist (then in the calling process, with no limits enforced).
    """
    tasks = [
        Task(j, range(start, min(start + QUESTIONS_PER_TASK, job.store.n_questions)))
        for j, job in enumerate(jobs)
        for start in range(0, job.store.n_questions, QUESTIONS_PER_TASK)
    ]
    n_workers = min(n_jobs or available_cores(), len(tasks))
    supervise = any(job.timeout is not None or not trusted(job.policy) for job in jobs)
    parts: list[dict[int, Outcomes]] = [{} for _ in jobs]
    global _JOBS
    _JOBS = jobs
    try:
        if "fork" not in multiprocessing.get_all_start_methods() or (
            n_workers <= 1 and not supervise
        ):
            _collect(((task, _play(task)) for task in tasks), parts, len(tasks), progress)
        else:
            with _Workers(n_workers) as workers:
                _collect(workers.run(tasks), parts, len(tasks), progress)
    finally:
        _JOBS = ()
    return [Outcomes.concat([job_parts[k] for k in sorted(job_parts)]) for job_parts in parts]


def _play(task: Task, report: Callable[[int], None] | None = None) -> Outcomes:
    """Play one task; a policy's `SystemExit` becomes a sentence like any exception's."""
    job = _JOBS[task.job]
    question = task.questions.start

    def started(index: int) -> None:
        nonlocal question
        question = index
        if report is not None:
            report(index)

    try:
        return play(
            job.policy,
            job.store,
            job.orders,
            questions=task.questions,
            trace=job.trace,
            on_question=started,
        )
    except SystemExit as error:
        raise PolicyError(
            f"policy '{policy_name(job.policy)}' raised {brief(error)} "
            f"(on question {question} of {job.store.name})."
        ) from None


def _collect(
    results: Iterator[tuple[Task, Outcomes]],
    parts: list[dict[int, Outcomes]],
    n_tasks: int,
    progress: bool,
) -> None:
    # no tqdm object at all without a bar: its monitor thread would outlive it into later forks
    if progress:
        results = tqdm(results, total=n_tasks, unit="task", leave=False)
    for task, outcomes in results:
        parts[task.job][task.questions.start] = outcomes


# ---------------------------------------------------------------- the worker (child) side


def _serve(conn: Connection, parent: int) -> None:
    """A worker's life: tasks in, (kind, value) messages out, until told to stop."""
    die_with_parent()
    if os.getppid() != parent:  # the parent died before that took effect
        os._exit(1)
    os.setpgid(0, 0)  # its own group: Ctrl-C at a terminal reaches the parent alone
    while (task := conn.recv()) is not None:
        try:
            message = ("done", _play(task, lambda index: conn.send(("question", index))))
        except BaseException as error:  # the task failed; the worker serves on until stopped
            message = ("error", _portable(error, task))
        conn.send(message)


def _portable(error: BaseException, task: Task) -> BaseException:
    """The error as the parent can raise it: itself when it pickles, else a sentence."""
    if not isinstance(error, Exception):  # KeyboardInterrupt or the like, from the policy
        job = _JOBS[task.job]
        return PolicyError(
            f"policy '{policy_name(job.policy)}' raised {brief(error)} "
            f"(on questions {_span(task.questions)} of {job.store.name})."
        )
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{brief(error)} (in an evaluation worker)")
    return error


# ---------------------------------------------------------------- the parent side


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    tasks: deque[Task] = field(default_factory=deque)  # sent, unfinished; the first under way
    started: float = 0.0  # time.monotonic() when the task under way began
    question: int | None = None  # the question under way, as the worker last reported
    reaped: bool = False

    @property
    def task(self) -> Task | None:
        """The task under way."""
        return self.tasks[0] if self.tasks else None


class _Workers:
    """Forked workers that the parent supervises; all killed (process groups) on exit."""

    def __init__(self, n_workers: int) -> None:
        self.n_workers = n_workers
        self.workers: list[_Worker] = []

    def __enter__(self) -> _Workers:
        context = multiprocessing.get_context("fork")
        try:
            for _ in range(self.n_workers):
                parent_end, child_end = context.Pipe()
                args = (child_end, os.getpid())
                process = context.Process(target=_serve, args=args, daemon=True)
                process.start()
                with contextlib.suppress(OSError):  # the child may have done it, or died
                    os.setpgid(process.pid, process.pid)
                child_end.close()  # so that the parent reads EOF once the worker is gone
                self.workers.append(_Worker(process, parent_end))
        except BaseException as error:  # Ctrl-C while starting: stop those already started
            self.__exit__(type(error))
            raise
        return self

    def __exit__(self, error_type: type | None, *_: Any) -> None:
        if error_type is None:  # every task is done: let the workers exit and flush
            for worker in self.workers:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
            sentinels = [worker.process.sentinel for worker in self.workers]
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            while sentinels and (left := deadline - time.monotonic()) > 0:
                for ready in wait(sentinels, timeout=left):
                    sentinels.remove(ready)
        for worker in self.workers:
            _stop(worker)
            worker.conn.close()

    def run(self, tasks: Sequence[Task]) -> Iterator[tuple[Task, Outcomes]]:
        """Each task's outcomes as they arrive; raises the first failure, as a sentence."""
        pending = deque(tasks)
        spent: dict[int, float] = defaultdict(float)  # job -> seconds of its finished tasks
        for ahead in range(1, TASKS_AHEAD + 1):  # one task each first, then one ahead each
            for worker in self.workers:
                self._assign(worker, pending, ahead)
        while busy := [worker for worker in self.workers if worker.task is not None]:
            waits = [worker.conn for worker in busy]
            waits += [worker.process.sentinel for worker in self.workers]
            ready = set(wait(waits, timeout=self._time_left(spent)))
            for worker in self.workers:
                for kind, value in _receive(worker.conn):
                    if kind == "question":
                        worker.question = value
                    elif kind == "error":
                        raise value
                    else:  # done; the next task sent, if any, is under way from now
                        task, now = worker.tasks.popleft(), time.monotonic()
                        spent[task.job] += now - worker.started
                        worker.started, worker.question = now, None
                        yield task, value
                if worker.process.sentinel in ready:
                    raise PolicyError(self._death(worker))
                self._assign(worker, pending, TASKS_AHEAD)
            self._check_limits(spent)

    def _assign(self, worker: _Worker, pending: deque[Task], ahead: int) -> None:
        """Send the worker pending tasks until it holds `ahead` of them."""
        while pending and len(worker.tasks) < ahead:
            if not worker.tasks:
                worker.started, worker.question = time.monotonic(), None
            worker.tasks.append(pending.popleft())
            with contextlib.suppress(OSError):  # a worker that just died: its sentinel tells
                worker.conn.send(worker.tasks[-1])

    def _usage(self, spent: dict[int, float]) -> dict[int, tuple[float, list[_Worker]]]:
        """Per limited job under way: seconds used so far and the workers playing it."""
        now = time.monotonic()
        usage: dict[int, tuple[float, list[_Worker]]] = {}
        for worker in self.workers:
            task = worker.task
            if task is None or _JOBS[task.job].timeout is None:
                continue
            used, playing = usage.get(task.job, (spent[task.job], []))
            usage[task.job] = (used + now - worker.started, [*playing, worker])
        return usage

    def _time_left(self, spent: dict[int, float]) -> float | None:
        """Seconds until the first job under way runs out of time (None: none is limited)."""
        lefts = [
            (_JOBS[job].timeout - used) / len(playing)
            for job, (used, playing) in self._usage(spent).items()
        ]
        return max(0.0, min(lefts)) if lefts else None

    def _check_limits(self, spent: dict[int, float]) -> None:
        for job, (used, playing) in self._usage(spent).items():
            limit = _JOBS[job].timeout
            if used > limit:
                worker = min(playing, key=lambda worker: worker.started)  # the longest at it
                raise PolicyError(
                    f"policy '{policy_name(_JOBS[job].policy)}' did not finish "
                    f"{_JOBS[job].store.name} within its time limit of {limit:g} s (stopped "
                    f"on {_under_way(worker, store=False)}; --timeout sets the limit)."
                )

    def _death(self, worker: _Worker) -> str:
        _stop(worker)
        code = worker.process.exitcode
        if code is not None and code < 0:
            how = f"was killed by {signal.Signals(-code).name}"
        else:
            how = f"exited with status {code}"
        if worker.task is None:
            return f"an evaluation worker process {how} between tasks."
        name = policy_name(_JOBS[worker.task.job].policy)
        return f"the worker process playing policy '{name}' {how} (on {_under_way(worker)})."


def _receive(conn: Connection) -> list[tuple[str, Any]]:
    """Every message waiting on `conn` (none once the worker is gone)."""
    messages = []
    with contextlib.suppress(EOFError, OSError):
        while conn.poll():
            messages.append(conn.recv())
    return messages


def _under_way(worker: _Worker, store: bool = True) -> str:
    """`question 4 of STORE` (or the task's range when the policy plays it in one batch)."""
    task = worker.task
    where = f" of {_JOBS[task.job].store.name}" if store else ""
    if worker.question is None:
        return f"questions {_span(task.questions)}{where}"
    return f"question {worker.question}{where}"


def _span(questions: range) -> str:
    return f"{questions.start}-{questions.stop - 1}"


def _stop(worker: _Worker) -> None:
    """Kill the worker's process group, then reap the worker (once: its pid is free after)."""
    if worker.reaped:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(worker.process.pid, signal.SIGKILL)  # before reaping: the group id is ours
    worker.process.join()
    worker.reaped = True
