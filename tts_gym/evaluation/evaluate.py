"""`evaluate(policy, stores, protocol=...)`: any controller(s) on any stores, scored.

Every (store, controller) pair is one `Cell`. With `engine="compiled"` (the default) the
built-in controllers run compiled, one call per controller for all the stores; every other
controller (from files, modules, the AutoTTS handle, RL policies), traced runs and
`engine="python"` run on `Episode` in one pool of worker processes. Both engines give the same
answers and tokens episode by episode. Results are deterministic: the protocol fixes the
orders and the bootstrap is seeded.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from tts_gym.control.loading import load_policy
from tts_gym.control.outcomes import Outcomes
from tts_gym.control.protocols import policy_config, policy_name
from tts_gym.errors import TTSGymError
from tts_gym.evaluation.parallel import Job, available_cores, run_jobs, trusted
from tts_gym.evaluation.protocols import Protocol, get_protocol
from tts_gym.evaluation.score import score
from tts_gym.evaluation.stats import PairedComparison, bootstrap_ci, paired_difference
from tts_gym.memory import require_memory
from tts_gym.store.replay import ReplayStore
from tts_gym.store.select import select_stores

ENGINES = ("compiled", "python")
"""`compiled`: built-ins on the compiled core; `python`: everything on `Episode`."""
DEFAULT_ENGINE = "compiled"
POLICY_TIMEOUT = 600.0
"""Default time limit (seconds per store) of a controller that is not a built-in."""
Timeout = float | Literal["auto"] | None
"""Seconds per store; "auto": none for the built-ins, `POLICY_TIMEOUT` for any other
controller; None: no limit."""


def mean_k(tokens: np.ndarray) -> float:
    """Mean over episodes of a [question, order] token array, in thousands."""
    return float(tokens.mean()) / 1000.0


def per_question_k(tokens: np.ndarray) -> np.ndarray:
    """Mean over orders of a [question, order] token array, in thousands: the unit that
    intervals and paired comparisons resample."""
    return tokens.mean(axis=1) / 1000.0


@dataclass
class Cell:
    """One controller setting on one store: accuracy, both cost axes (total and sequential
    tokens, docs/design.md), and the per-episode arrays."""

    store: ReplayStore
    method: str
    protocol: Protocol
    outcomes: Outcomes
    correct: np.ndarray  # bool [n_questions, n_orders]
    config: dict[str, Any] = field(default_factory=dict)
    series: str = ""  # points of one sweep share a series (one line in the plot)
    acc_ci: tuple[float, float] | None = None  # percent
    tokens_k_ci: tuple[float, float] | None = None  # thousands
    seq_tokens_k_ci: tuple[float, float] | None = None  # thousands

    @property
    def model(self) -> str:
        return self.store.model or self.store.path.parent.name

    @property
    def benchmark(self) -> str:
        return self.store.benchmark or self.store.name

    @property
    def acc(self) -> float:
        """Accuracy in percent: the mean over orders of the fraction of questions correct."""
        return 100.0 * float(self.correct.mean())

    @property
    def tokens_k(self) -> float:
        """Mean tokens per question, in thousands."""
        return mean_k(self.outcomes.tokens)

    @property
    def seq_tokens_k(self) -> float:
        """Mean sequential tokens per question (the latency proxy), in thousands."""
        return mean_k(self.outcomes.seq_tokens)

    @property
    def n_episodes(self) -> int:
        return int(self.correct.size)

    def __repr__(self) -> str:  # not the store and the per-episode arrays
        return (
            f"Cell(store={self.store.name!r}, method={self.method!r}, acc={self.acc:.2f}, "
            f"tokens_k={self.tokens_k:.1f}, seq_tokens_k={self.seq_tokens_k:.1f}, "
            f"episodes={self.n_episodes})"
        )

    def row(self) -> dict[str, Any]:
        """The CSV/JSON row; the first six columns are fixed by the CLI contract."""
        acc_lo, acc_hi = self.acc_ci or (None, None)
        tok_lo, tok_hi = self.tokens_k_ci or (None, None)
        seq_lo, seq_hi = self.seq_tokens_k_ci or (None, None)
        return {
            "model": self.model,
            "benchmark": self.benchmark,
            "method": self.method,
            "acc": self.acc,
            "tokens_k": self.tokens_k,
            "seq_tokens_k": self.seq_tokens_k,
            "acc_lo": acc_lo,
            "acc_hi": acc_hi,
            "tokens_k_lo": tok_lo,
            "tokens_k_hi": tok_hi,
            "seq_tokens_k_lo": seq_lo,
            "seq_tokens_k_hi": seq_hi,
            "store": self.store.name,
            "config": format_config(self.config),
            "protocol": self.protocol.name,
            "n_questions": self.correct.shape[0],
            "n_orders": self.correct.shape[1],
        }


def evaluate(
    policy: Any | Sequence[Any],
    stores: str | os.PathLike | ReplayStore | Sequence[str | os.PathLike | ReplayStore],
    protocol: str | Protocol = "default",
    *,
    config: Mapping[str, Any] | None = None,
    n_orders: int | None = None,
    seed: int = 0,
    jobs: int | None = None,
    trace: bool = False,
    progress: bool = False,
    data_dir: str | os.PathLike | None = None,
    engine: str = DEFAULT_ENGINE,
    timeout: Timeout = "auto",
) -> list[Cell]:
    """Score controller(s) on store(s); one `Cell` per (store, controller), store-major.

    `policy`: a controller of any kind (`run`, `solve` or `act`), a spec string for
    `load_policy` (with `config`), or a list of them. `protocol`: "autotts" (the paper's 100
    orders, no intervals) or "default" (seeded numpy orders, bootstrap 95% intervals over
    questions). `jobs`: worker processes for the controllers that run on `Episode`, threads
    for the compiled ones (default: every available core). `engine`: "compiled" (built-ins
    run compiled) or "python" (everything on `Episode`, the reference). `timeout`: seconds per
    store for each controller that plays on `Episode` (its workers' time on that store, added
    up); "auto": none for the built-ins, `POLICY_TIMEOUT` (600) for any other controller.
    """
    policies = [policy] if _is_single(policy) else list(policy)
    settings = [_setting(p, config) for p in policies]
    return evaluate_settings(
        settings,
        stores,
        protocol,
        n_orders=n_orders,
        seed=seed,
        jobs=jobs,
        trace=trace,
        progress=progress,
        data_dir=data_dir,
        engine=engine,
        timeout=timeout,
    )


@dataclass(frozen=True)
class Setting:
    """A controller with the label, config and series it is reported under."""

    policy: Any
    method: str
    config: Mapping[str, Any] = field(default_factory=dict)
    series: str = ""


def evaluate_settings(
    settings: Sequence[Setting],
    stores: str | os.PathLike | ReplayStore | Sequence[str | os.PathLike | ReplayStore],
    protocol: str | Protocol = "default",
    *,
    n_orders: int | None = None,
    seed: int = 0,
    jobs: int | None = None,
    trace: bool = False,
    progress: bool = False,
    data_dir: str | os.PathLike | None = None,
    engine: str = DEFAULT_ENGINE,
    timeout: Timeout = "auto",
) -> list[Cell]:
    """`evaluate` for labelled settings (what sweeps and the CLI build)."""
    if engine not in ENGINES:
        raise TTSGymError(f"unknown engine '{engine}'; use one of {', '.join(ENGINES)}.")
    _check_timeout(timeout)
    protocol = get_protocol(protocol, n_orders, seed)
    loaded = resolve_stores(stores, data_dir)
    _check_memory(protocol, loaded, len(settings))
    compiled = [engine == "compiled" and not trace and _compiles(s.policy) for s in settings]
    runs: dict[tuple[int, int], Outcomes] = {}  # (store, setting) -> outcomes
    on_episode = [(s, i) for s in range(len(loaded)) for i, fast in enumerate(compiled) if not fast]
    jobs_list = [
        Job(
            settings[i].policy, loaded[s], protocol, trace, _time_limit(settings[i].policy, timeout)
        )
        for s, i in on_episode
    ]
    runs.update(zip(on_episode, run_jobs(jobs_list, jobs, progress=progress), strict=True))
    fast = [i for i, fast in enumerate(compiled) if fast]
    if fast:
        from tts_gym.evaluation.compiled import run_compiled  # numba: only when it runs

        threads = jobs or available_cores()
        played = run_compiled([settings[i].policy for i in fast], loaded, protocol, threads)
        for i, per_store in zip(fast, played, strict=True):
            runs.update(((s, i), outcomes) for s, outcomes in enumerate(per_store))
    cells = []
    for s, store in enumerate(loaded):
        for i, setting in enumerate(settings):
            result = runs[s, i]
            cell = Cell(
                store=store,
                method=setting.method,
                protocol=protocol,
                outcomes=result,
                correct=score(result, store),
                config=dict(setting.config),
                series=setting.series or setting.method,
            )
            if protocol.reports_intervals:
                _add_intervals(cell, seed)
            cells.append(cell)
    return cells


def sweep_settings(
    spec: str, config: Mapping[str, Any], key: str, values: Iterable[Any]
) -> list[Setting]:
    """One setting per value of `key` (e.g. beta), all in one series named after the spec."""
    settings = []
    for value in values:
        setting_config = {**config, key: value}
        policy = load_policy(spec, setting_config)
        name = policy_name(policy)
        label = name if str(value) in name else f"{name} [{key}={value}]"
        settings.append(Setting(policy, label, setting_config, series=spec))
    return settings


def compare(a: Cell, b: Cell, n_boot: int = 2000, seed: int = 0) -> PairedComparison:
    """B − A on the same store and orders, with bootstrap intervals over questions."""
    if a.store.name != b.store.name or a.protocol != b.protocol:
        raise ValueError("a paired comparison needs two cells on the same store and protocol.")
    acc, tokens, seq_tokens = paired_difference(_measures(a), _measures(b), n_boot, seed)
    return PairedComparison(a.store.name, a.method, b.method, *acc, *tokens, *seq_tokens)


def _measures(cell: Cell) -> np.ndarray:
    """Per question: accuracy (points), tokens and sequential tokens (thousands)."""
    outcomes = cell.outcomes
    return np.stack(
        [
            100.0 * cell.correct.mean(axis=1),
            per_question_k(outcomes.tokens),
            per_question_k(outcomes.seq_tokens),
        ],
        axis=1,
    )


def compare_against(
    reference: str, ours: Sequence[Cell], others: Sequence[Cell] = ()
) -> list[PairedComparison]:
    """Each of `ours` against the cell of method `reference` on its store: a cell of that name
    among `others` (the baselines) first, else among `ours` (a setting of the policy itself)."""
    by_store: dict[str, Cell] = {}
    for cell in (*others, *ours):
        if cell.method == reference:
            by_store.setdefault(cell.store.name, cell)
    if not by_store:
        known = ", ".join(dict.fromkeys(cell.method for cell in (*ours, *others)))
        raise TTSGymError(f"'{reference}' is not one of the methods ({known}).")
    missing = sorted({cell.store.name for cell in ours} - set(by_store))
    if missing:
        raise TTSGymError(f"'{reference}' was not evaluated on {', '.join(missing)}.")
    return [compare(by_store[cell.store.name], cell) for cell in ours]


def resolve_stores(
    stores: str | os.PathLike | ReplayStore | Sequence[str | os.PathLike | ReplayStore],
    data_dir: str | os.PathLike | None = None,
) -> list[ReplayStore]:
    """Load names, group names (`all`, `search`, `held-out`) and paths; pass stores through."""
    return select_stores(stores, data_dir)


def format_config(config: Mapping[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in config.items())


def _setting(policy: Any, config: Mapping[str, Any] | None) -> Setting:
    if isinstance(policy, str):
        policy = load_policy(policy, config)
    elif config:
        raise ValueError("config applies to policy specs (strings), not to controller objects.")
    name = policy_name(policy)
    return Setting(policy, name, policy_config(policy))


def _check_timeout(timeout: Timeout) -> None:
    if timeout is None or isinstance(timeout, str) and timeout == "auto":
        return
    number = isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
    if not number or not 0 < timeout < math.inf:
        raise TTSGymError(
            f"timeout {timeout!r} is not a positive number of seconds, 'auto' or None."
        )


def _check_memory(protocol: Protocol, stores: Sequence[ReplayStore], n_settings: int) -> None:
    """Refuse, before any order is drawn, orders that cannot fit in memory: each (question,
    order) holds its branch order (a list of Python ints, then int32 padded to the widest
    question for the compiled engine) and, per setting, an answer, two token counts and a
    score."""
    questions = sum(store.n_questions for store in stores)
    branches = max((store.max_branches for store in stores), default=0)
    listed = sum(q.n_branches for store in stores for q in store.questions)
    per_order = questions * (branches * 4 + n_settings * 40) + listed * 16
    require_memory(
        per_order * protocol.n_orders,
        f"{protocol.n_orders:,} orders of {questions:,} questions of up to {branches:,} branches",
        each=per_order,
        unit="orders",
    )


def _time_limit(policy: Any, timeout: Timeout) -> float | None:
    if timeout != "auto":
        return timeout
    return None if trusted(policy) else POLICY_TIMEOUT


def _compiles(policy: Any) -> bool:
    """Whether `policy` runs compiled; a built-in that cannot says why (it still runs)."""
    from tts_gym.control.builtin.compiled import COMPILED_TYPES, why_not_compiled

    reason = why_not_compiled(policy)
    if reason is not None and type(policy) in COMPILED_TYPES:
        warnings.warn(f"{policy_name(policy)} runs on the Python engine: {reason}.", stacklevel=2)
    return reason is None


def _is_single(policy: Any) -> bool:
    return isinstance(policy, str) or not isinstance(policy, (list, tuple))


def _add_intervals(cell: Cell, seed: int) -> None:
    cell.acc_ci = bootstrap_ci(100.0 * cell.correct.mean(axis=1), seed=seed)
    cell.tokens_k_ci = bootstrap_ci(per_question_k(cell.outcomes.tokens), seed=seed)
    cell.seq_tokens_k_ci = bootstrap_ci(per_question_k(cell.outcomes.seq_tokens), seed=seed)
