"""`tts-gym eval --isolate`: a policy file played through the boundary, then scored as usual.

`isolated_settings` plays every setting of `path.py:Class` on every store in one sandboxed
run (the file is never imported by this process) and wraps each setting's recorded outcomes
in `PlayedInSandbox`, a policy whose `play` hands them to the harness. From there the
harness scores, tabulates, compares and plots them like any other policy's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tts_gym.control.outcomes import Orders, Outcomes
from tts_gym.errors import TTSGymError
from tts_gym.evaluation.evaluate import Setting, format_config, resolve_stores
from tts_gym.evaluation.protocols import Protocol
from tts_gym.sandbox import (
    ControllerSetting,
    Limits,
    require_core_layers,
    require_solve,
    run_isolated,
)
from tts_gym.store.replay import ReplayStore

EVAL_LIMITS = Limits.from_wall(3600.0, 4096)
"""An evaluation may be large: an hour of wall time, 4 GiB."""


class PlayedInSandbox:
    """Outcomes of one setting already played through the boundary, one per store. The
    boundary times a store's sweep as a whole; a range of its questions is given the sweep's
    seconds in proportion to its questions, so the ranges of a split sweep add up to it."""

    play_traces = True  # its outcomes carry traces when they were asked for

    def __init__(
        self,
        name: str,
        protocol: Protocol,
        outcomes: Mapping[str, Outcomes],
        isolation: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.protocol = protocol
        self.outcomes = dict(outcomes)
        self.isolation = dict(isolation or {})  # the sandbox's report of what held

    def play(
        self, store: ReplayStore, orders: Orders, *, questions: Sequence[int] | None = None
    ) -> Outcomes:
        if orders != self.protocol or store.name not in self.outcomes:
            raise ValueError(f"{self.name} was played in the sandbox on other episodes.")
        played = self.outcomes[store.name]
        rows = range(store.n_questions) if questions is None else questions
        traces = None if played.traces is None else [played.traces[q] for q in rows]
        return Outcomes(
            [played.answers[q] for q in rows],
            played.tokens[list(rows)],
            played.seq_tokens[list(rows)],
            traces,
            played.seconds * len(rows) / max(played.n_questions, 1),
        )


def isolated_settings(
    spec: str,
    configs: Sequence[Mapping[str, Any]],
    stores: Sequence[str | os.PathLike | ReplayStore],
    protocol: Protocol,
    *,
    sweep_key: str | None = None,
    trace: bool = False,
    data_dir: str | os.PathLike | None = None,
    limits: Limits = EVAL_LIMITS,
    allow_missing_layers: bool = False,
) -> list[Setting]:
    """Play `spec` (`path.py:Class`) with each config on `stores` through the boundary; where
    the sandbox's core layers are missing, refuse unless `allow_missing_layers`."""
    source, _, class_name = spec.rpartition(":")
    path = Path(source)
    if not source.endswith(".py") or not class_name.isidentifier():
        raise TTSGymError(f"--isolate plays a policy file: give it as path.py:Class, not '{spec}'.")
    if not path.is_file():
        raise TTSGymError(f"policy '{spec}': there is no file {source}.")
    require_core_layers(allow_missing_layers)
    loaded = resolve_stores(stores, data_dir)
    labels = [format_config(config) for config in configs]
    settings = [ControllerSetting(label, dict(c)) for label, c in zip(labels, configs, strict=True)]
    run = run_isolated(
        path.resolve(),
        class_name,
        loaded,
        protocol,
        require_solve(settings),
        trace_orders=None if trace else 0,
        limits=limits,
        allow_missing_layers=allow_missing_layers,
    )
    if not run.ok:
        raise TTSGymError(f"policy '{spec}' was rejected by the sandbox: {' '.join(run.problems)}")
    name = run.loaded.label or run.loaded.name
    result = []
    for k, config in enumerate(configs):
        method = f"{name} [{sweep_key}={config[sweep_key]}]" if sweep_key else name
        outcomes = {store.name: run.outcomes[(s, k)] for s, store in enumerate(loaded)}
        policy = PlayedInSandbox(method, protocol, outcomes, run.isolation)
        result.append(Setting(policy, method, dict(config), series=spec if sweep_key else ""))
    return result
