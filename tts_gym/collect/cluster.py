"""Collection on a Ray cluster: a pool of actors, each owning one backend, fed batches of
questions by this process (the driver), which writes each finished question as its shard.

Ray is an optional extra (`pip install 'tts-gym[ray]'`), imported only here and only when a
run asks for it (`--ray`). A worker is a Ray actor holding a backend (vLLM with tensor
parallelism over the GPUs Ray gives it, or transformers), the tokenizer and the prompt
format; it checks on start that it would collect with exactly the driver's settings (same
chat template, same suffix ids), since a node with other model files or library versions
would write a different store. Entries travel back to the driver through Ray's object store,
so the nodes need no shared file system. A worker that dies (its process killed, its node
lost) has its batch put back in the queue, run by a replacement worker; a batch whose
workers die `MAX_ATTEMPTS` times stops the run with one sentence. An error the worker raises
itself (a model it cannot load) stops the run at once with that error's sentence.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tts_gym.collect.collector import CollectConfig, Finish, open_backend
from tts_gym.collect.errors import CollectError
from tts_gym.collect.hub import resolve_model
from tts_gym.collect.metadata import run_settings
from tts_gym.collect.prompt import PromptFormat, load_tokenizer
from tts_gym.collect.questions import QuestionItem
from tts_gym.collect.records import QuestionCollector
from tts_gym.errors import TTSGymError, first_line

MAX_ATTEMPTS = 3
"""Times a batch may lose its worker before the run stops (a question that kills workers)."""


@dataclass(frozen=True)
class ClusterConfig:
    """Where and how wide: `address` of the cluster (None: `$RAY_ADDRESS`, else a new local
    instance; "auto": the one running on this machine), `workers` actors (None: as many as
    the cluster's GPUs, or CPUs without GPUs per worker, allow), `gpus_per_worker` GPUs per
    actor (None: 1 for vllm, 0 for transformers); a vllm worker runs tensor parallel over
    its GPUs."""

    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float | None = None

    def check(self, config: CollectConfig) -> None:
        try:
            import ray  # noqa: F401 (here, and only here: the run asked for Ray)
        except ImportError:
            raise CollectError(
                "--ray needs Ray; install it with `pip install 'tts-gym[ray]'`."
            ) from None
        if self.workers is not None and self.workers < 1:
            raise CollectError(f"--workers must be at least 1, got {self.workers}.")
        gpus = self.gpus(config)
        if gpus < 0:
            raise CollectError(f"--gpus-per-worker must be non-negative, got {gpus}.")
        if config.backend == "vllm":
            if gpus < 1 or gpus != int(gpus):
                raise CollectError(
                    f"--gpus-per-worker must be a whole number of at least 1 for vllm (its "
                    f"tensor parallel size), got {gpus}."
                )
            if config.tensor_parallel_size not in (1, gpus):
                raise CollectError(
                    "with --ray, --gpus-per-worker sets each worker's tensor parallel size; "
                    f"drop --tensor-parallel-size {config.tensor_parallel_size}."
                )

    def gpus(self, config: CollectConfig) -> float:
        if self.gpus_per_worker is not None:
            return self.gpus_per_worker
        return 1.0 if config.backend == "vllm" else 0.0


class CollectWorker:
    """One Ray actor's state: the backend and what turns questions into store entries."""

    def __init__(self, config: CollectConfig, settings: dict[str, Any]) -> None:
        self.error: str | None = None
        try:
            model = resolve_model(config.model)
            tokenizer = load_tokenizer(model)
            fmt = PromptFormat.for_tokenizer(tokenizer)
            mine = run_settings(config, fmt, tokenizer)
            differ = [key for key, value in settings.items() if mine.get(key) != value]
            if differ:
                raise CollectError(
                    f"a Ray worker would collect with {differ[0]}={mine.get(differ[0])!r}, "
                    f"the driver with {settings[differ[0]]!r}; give every node the same model "
                    "files and library versions."
                )
            executor = (
                "mp" if config.backend == "vllm" and config.tensor_parallel_size > 1 else None
            )
            backend = open_backend(config, model, executor)
            self.collector = QuestionCollector(backend, tokenizer, fmt, config)
        except TTSGymError as error:
            self.error = str(error)

    def ready(self) -> str | None:
        """None once the backend is loaded, else the sentence saying why it is not."""
        return self.error

    def collect(self, batch: Sequence[tuple[int, QuestionItem]]) -> list[dict[str, Any]]:
        if self.error is not None:
            raise CollectError(self.error)
        return self.collector.collect(batch)


def _connect(ray: Any, address: str | None) -> bool:
    """Join (or start) the cluster unless this process already has; True if it joined here."""
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = address or "a new local instance"
        raise CollectError(
            f"cannot join the Ray cluster at {where} ({first_line(error)})."
        ) from None
    return True


class RayPool:
    """The workers, the queue of batches, and what happens when a worker dies.

    `open` joins the cluster and checks that the workers fit, before the run writes anything;
    `close` kills the workers and leaves the cluster (shutting it down if it started here).
    """

    def __init__(
        self,
        ray: Any,
        config: CollectConfig,
        cluster: ClusterConfig,
        settings: dict[str, Any],
        started: bool,
    ) -> None:
        self.ray, self.started = ray, started
        gpus = cluster.gpus(config)
        if config.backend == "vllm":
            config = dataclasses.replace(config, tensor_parallel_size=int(gpus))
        self.config, self.settings = config, settings
        have = ray.cluster_resources()
        cpus, all_gpus = int(have.get("CPU", 0)), have.get("GPU", 0)
        if gpus > all_gpus:
            raise CollectError(
                f"each worker needs {gpus:g} GPUs (--gpus-per-worker), the Ray cluster has "
                f"{all_gpus:g}."
            )
        fit = min(cpus, int(all_gpus // gpus)) if gpus else cpus
        self.workers = fit if cluster.workers is None else cluster.workers
        if not 1 <= self.workers <= fit:
            raise CollectError(
                f"the Ray cluster has {cpus} CPUs and {all_gpus:g} GPUs, room for {fit} "
                f"workers of 1 CPU and {gpus:g} GPUs each, not {self.workers}."
            )
        self.actor = ray.remote(num_cpus=1, num_gpus=gpus, max_restarts=0)(CollectWorker)
        self.live: list[Any] = []

    @classmethod
    def open(
        cls, config: CollectConfig, cluster: ClusterConfig, settings: dict[str, Any]
    ) -> RayPool:
        import ray

        started = _connect(ray, cluster.address)
        try:
            return cls(ray, config, cluster, settings, started)
        except BaseException:
            if started:
                ray.shutdown()
            raise

    def close(self) -> None:
        for worker in self.live:
            self.ray.kill(worker)
        self.live.clear()
        if self.started:
            self.ray.shutdown()

    def _start(self) -> Any:
        worker = self.actor.remote(self.config, self.settings)
        self.live.append(worker)
        return worker

    def run(self, todo: list[int], items: list[QuestionItem], finish: Finish) -> int:
        """Collect the questions `todo`, handing each finished one to `finish`; returns how
        many were run again after their worker died."""
        from ray.exceptions import RayActorError, RayTaskError

        ray, size = self.ray, self.config.batch_questions
        batches = deque(todo[start : start + size] for start in range(0, len(todo), size))
        idle = [self._start() for _ in range(min(self.workers, len(batches)))]
        try:
            errors = ray.get([worker.ready.remote() for worker in idle])
        except RayActorError as error:
            raise CollectError(f"a Ray worker died while starting ({first_line(error)}).") from None
        for error in errors:
            if error is not None:
                raise CollectError(error)
        losses: dict[int, int] = {}  # by a batch's first question
        running: dict[Any, tuple[Any, list[int]]] = {}
        retried = 0
        while batches or running:
            while idle and batches:
                worker, batch = idle.pop(), batches.popleft()
                work = [(index, items[index]) for index in batch]
                running[worker.collect.remote(work)] = (worker, batch)
            [ref], _ = ray.wait(list(running), num_returns=1)
            worker, batch = running.pop(ref)
            try:
                entries = ray.get(ref)
            except RayActorError:
                losses[batch[0]] = losses.get(batch[0], 0) + 1
                if losses[batch[0]] >= MAX_ATTEMPTS:
                    raise CollectError(
                        f"questions {batch} lost their Ray worker {MAX_ATTEMPTS} times; "
                        "see the workers' logs (/tmp/ray/session_latest/logs)."
                    ) from None
                retried += len(batch)
                batches.appendleft(batch)
                self.live.remove(worker)
                idle.append(self._start())
                continue
            except RayTaskError as error:
                raise CollectError(_worker_failure(error, batch)) from None
            for index, entry in zip(batch, entries, strict=True):
                finish(index, entry)
            idle.append(worker)
        return retried


def _worker_failure(error: Any, batch: list[int]) -> str:
    cause = getattr(error, "cause", None)
    if isinstance(cause, TTSGymError):
        return str(cause)
    return (
        f"a Ray worker failed on questions {batch}: "
        f"{type(cause).__name__ if cause else 'error'}: {first_line(cause or error)}."
    )
