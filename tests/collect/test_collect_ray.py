"""Collecting at scale: `--batch-questions`, a local Ray cluster, dead workers, a killed driver.

Every run here collects the same eight questions with the tiny model, and every one must
write, byte for byte, the store that one plain process writes (`reference`): batching, the
pool's scheduling, a `kill -9` of a busy worker and of the driver change when and where
questions run, never what is sampled. One local Ray instance serves the module (2 CPUs, so
two workers of one CPU each). Most of the time goes to starting it and to each worker
importing torch and transformers (about 5 CPU-seconds a worker), so the default suite runs
the two failure tests (each also a multi-worker or multi-process run) and the plain
two-worker run is `slow`.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.killing import kill_9_after_first_shard
from tests.support.tiny_lm import QUESTIONS, one_thread_env, write_questions
from tts_gym.collect import ClusterConfig, CollectConfig, CollectError, collect, shard_folder

MORE = [{"question": f"What is {a}+{b}?", "answer": str(a + b)} for a, b in ((1, 6), (5, 2))]
MORE += [{"question": f"Is {a} odd?", "answer": "7"} for a in (3, 7, 9)]
QUESTION_LIST = QUESTIONS + MORE  # eight


def _config(model: Path, **changes) -> CollectConfig:
    settings = dict(model=str(model), backend="transformers", n=3, interval=8, max_tokens=40)
    settings.update(probe_tokens=8, top_logprobs=5, confidence_window=12, tail_window=16, seed=7)
    return CollectConfig(**{**settings, **changes})


@pytest.fixture(scope="module")
def questions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_questions(tmp_path_factory.mktemp("q") / "eight.jsonl", QUESTION_LIST)


@pytest.fixture(scope="module")
def reference(tiny_model: Path, questions: Path, tmp_path_factory: pytest.TempPathFactory):
    """The store of one plain process, one question at a time."""
    import torch

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("reference") / "store.json"
    collect(questions, out, _config(tiny_model), progress=False)
    return out.read_bytes()


@pytest.fixture(scope="module")
def ray_address():
    """One local Ray instance for the module; collect joins it (it never starts its own)."""
    ray = pytest.importorskip("ray", reason="Ray tests need `pip install 'tts-gym[ray]'`")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def test_batched_questions_give_the_same_store(tiny_model, questions, reference, tmp_path):
    out = tmp_path / "batched.json"
    result = collect(questions, out, _config(tiny_model, batch_questions=4), progress=False)
    assert result.collected == 8 and out.read_bytes() == reference


@pytest.mark.slow
def test_two_ray_workers_give_the_same_store(
    tiny_model, questions, reference, ray_address, tmp_path
):
    out = tmp_path / "ray.json"
    cluster = ClusterConfig(workers=2)
    result = collect(questions, out, _config(tiny_model), cluster=cluster, progress=False)
    assert (result.collected, result.retried) == (8, 0)
    assert out.read_bytes() == reference and not shard_folder(out).exists()


def _busy_workers() -> list[int]:
    """Processes of Ray actors running a batch (Ray titles them `ray::Class.method`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"ray::CollectWorker.collect"):
                found.append(int(entry.name))
    return found


def test_a_killed_worker_has_its_questions_run_again(
    tiny_model, questions, reference, ray_address, tmp_path
):
    out = tmp_path / "ray.json"
    killed: list[int] = []

    def kill_one_busy_worker() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            busy = _busy_workers() if list(shard_folder(out).glob("q*.json")) else []
            if busy:
                os.kill(busy[0], signal.SIGKILL)  # kill -9, mid-batch
                killed.append(busy[0])
            time.sleep(0.02)

    watcher = threading.Thread(target=kill_one_busy_worker)
    watcher.start()
    try:
        cluster = ClusterConfig(workers=2)
        result = collect(questions, out, _config(tiny_model), cluster=cluster, progress=False)
    finally:
        watcher.join()
    assert killed, "no worker was ever seen busy"
    assert result.retried >= 1 and result.collected == 8
    assert out.read_bytes() == reference


def test_a_killed_driver_resumes_to_the_same_store(
    tiny_model, questions, reference, ray_address, tmp_path
):
    out = tmp_path / "ray.json"
    args = ["collect", "--model", str(tiny_model), "--questions", str(questions), "--out", str(out)]
    args += ["--backend", "transformers", "--n", "3", "--interval", "8", "--max-tokens", "40"]
    args += ["--probe-tokens", "8", "--top-logprobs", "5", "--confidence-window", "12"]
    args += ["--tail-window", "16", "--seed", "7", "--quiet"]
    finished = kill_9_after_first_shard(
        [*args, "--ray", ray_address, "--workers", "1"], out, one_thread_env()
    )
    assert 1 <= len(finished) < 8 and not out.exists()
    # the workers die with their driver; resuming without Ray skips the finished questions
    result = collect(questions, out, _config(tiny_model), resume=True, progress=False)
    assert result.collected == 8 - len(finished)
    assert out.read_bytes() == reference


def test_workers_that_cannot_start_stop_the_run_with_one_sentence(
    questions, ray_address, tmp_path, tiny_model
):
    cluster = ClusterConfig(workers=3)  # two CPUs
    with pytest.raises(CollectError, match="room for 2 workers"):
        collect(questions, tmp_path / "s.json", _config(tiny_model), cluster=cluster)
    gpu = ClusterConfig(workers=1, gpus_per_worker=1)
    with pytest.raises(CollectError, match="each worker needs 1 GPUs"):
        collect(questions, tmp_path / "s.json", _config(tiny_model), cluster=gpu)
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_without_ray_installed(tiny_model, questions, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails
    with pytest.raises(CollectError, match=r"--ray needs Ray; install it with `pip install"):
        collect(questions, tmp_path / "s.json", _config(tiny_model), cluster=ClusterConfig())
    assert list(tmp_path.iterdir()) == []
    # and a run without --ray never imports it
    result = collect(questions, tmp_path / "s.json", _config(tiny_model), progress=False)
    assert result.collected == 8


def test_gpus_per_worker_is_vllm_tensor_parallelism(tiny_model, questions, tmp_path) -> None:
    pytest.importorskip("ray", reason="Ray tests need `pip install 'tts-gym[ray]'`")
    for cluster, fragment in [
        (ClusterConfig(gpus_per_worker=0.5), "whole number of at least 1 for vllm"),
        (ClusterConfig(workers=0), "--workers must be at least 1"),
    ]:
        with pytest.raises(CollectError, match=fragment):
            collect(
                questions, tmp_path / "t.json", _config(tiny_model, backend="vllm"), cluster=cluster
            )
    with pytest.raises(CollectError, match="drop --tensor-parallel-size 2"):
        collect(
            questions,
            tmp_path / "t.json",
            _config(tiny_model, backend="vllm", tensor_parallel_size=2),
            cluster=ClusterConfig(gpus_per_worker=4),
        )
