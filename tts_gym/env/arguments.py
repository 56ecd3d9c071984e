"""Checks shared by both envs: constructor arguments, actions, and episodes pinned by options.

Bad arguments raise `EnvArgumentError` (a `ValueError`) with one sentence; actions that are
not integers raise `TypeError` (Python or numpy integers only: `step(1.7)` and `step("1")`
are refused rather than rounded or parsed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from tts_gym.errors import IllegalActionError, TTSGymError
from tts_gym.store import Question, ReplayStore, select_stores
from tts_gym.store.replay import CONFIDENCE_STATISTICS


class EnvArgumentError(TTSGymError, ValueError):
    """An env argument (or reset option) that is out of range or of the wrong kind."""


ENGINES = ("compiled", "python")


def is_integer(value: Any) -> bool:
    """A Python or numpy integer (not a bool)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@dataclass(frozen=True)
class EnvConfig:
    """The checked arguments that define an env's MDP and reward (both envs)."""

    max_branches: int
    token_penalty: float
    probe_cost: int
    reveal_on_continue: bool
    budget: int | None
    latency_penalty: float = 0.0
    max_parallel: int | None = None

    @classmethod
    def checked(
        cls,
        max_branches: Any,
        token_penalty: Any,
        probe_cost: Any,
        reveal_on_continue: Any,
        budget: Any,
        latency_penalty: Any = 0.0,
        max_parallel: Any = None,
    ) -> EnvConfig:
        if not is_integer(max_branches) or max_branches < 1:
            raise EnvArgumentError(
                f"max_branches must be an integer of at least 1, got {max_branches!r}."
            )
        penalties = (("token_penalty", token_penalty), ("latency_penalty", latency_penalty))
        for name, penalty in penalties:
            if (
                not isinstance(penalty, Real)
                or isinstance(penalty, bool)
                or not math.isfinite(penalty)
                or penalty < 0
            ):
                raise EnvArgumentError(f"{name} must be a finite number >= 0, got {penalty!r}.")
        if max_parallel is not None and (not is_integer(max_parallel) or max_parallel < 1):
            raise EnvArgumentError(
                f"max_parallel must be None or an integer of at least 1, got {max_parallel!r}."
            )
        if not is_integer(probe_cost) or probe_cost < 0:
            raise EnvArgumentError(
                f"probe_cost must be a non-negative integer (tokens), got {probe_cost!r}."
            )
        if budget is not None and (not is_integer(budget) or budget <= 0):
            raise EnvArgumentError(
                f"budget must be None or a positive integer (tokens), got {budget!r}."
            )
        if not isinstance(reveal_on_continue, (bool, np.bool_)):
            raise EnvArgumentError(
                f"reveal_on_continue must be True or False, got {reveal_on_continue!r}."
            )
        return cls(
            int(max_branches),
            float(token_penalty),
            int(probe_cost),
            bool(reveal_on_continue),
            None if budget is None else int(budget),
            float(latency_penalty),
            None if max_parallel is None else int(max_parallel),
        )


class ConfiguredEnv:
    """An env's `EnvConfig` fields as its read-only attributes (`env.max_branches`, ...):
    `config` is their one home, so what the env reports is what it plays."""

    config: EnvConfig

    @property
    def max_branches(self) -> int:
        return self.config.max_branches

    @property
    def token_penalty(self) -> float:
        return self.config.token_penalty

    @property
    def probe_cost(self) -> int:
        return self.config.probe_cost

    @property
    def reveal_on_continue(self) -> bool:
        return self.config.reveal_on_continue

    @property
    def budget(self) -> int | None:
        return self.config.budget

    @property
    def latency_penalty(self) -> float:
        return self.config.latency_penalty

    @property
    def max_parallel(self) -> int | None:
        return self.config.max_parallel


def checked_action(action: Any, n: int) -> int:
    """The action as a Python int in 0..n-1; TypeError if it is not an integer (a Python or
    numpy integer, or a 0-d integer array)."""
    if type(action) is not int:
        if isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in "iu":
            action = action.item()
        elif isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
            raise TypeError(
                f"an action is an integer (Python or numpy), got {type(action).__name__} "
                f"{action!r}."
            )
        action = int(action)
    if not 0 <= action < n:
        raise IllegalActionError(f"action {action} is outside 0..{n - 1}.")
    return action


def checked_actions(actions: Any, num_envs: int, n: int) -> np.ndarray:
    """The actions of a vector env as an int64 array [num_envs]; TypeError if not integers."""
    array = np.asarray(actions)
    if array.dtype.kind not in "iu":
        raise TypeError(
            f"actions are integers (an int array of shape [{num_envs}]), got dtype {array.dtype}."
        )
    if array.shape != (num_envs,):
        raise EnvArgumentError(
            f"actions must have shape ({num_envs},), one per sub-env, got {array.shape}."
        )
    return array.astype(np.int64, copy=False)


def load_env_stores(
    stores: Sequence[str | ReplayStore] | str | ReplayStore,
    data_dir: str | None,
    confidence: str = "group",
) -> tuple[ReplayStore, ...]:
    """The stores an env replays (catalog names, groups, paths or loaded stores), each
    observing its `confidence` statistic (a name of `CONFIDENCE_STATISTICS`)."""
    if confidence not in CONFIDENCE_STATISTICS:
        raise EnvArgumentError(
            f"confidence must be one of {', '.join(CONFIDENCE_STATISTICS)}, got {confidence!r}."
        )
    return tuple(store.with_confidence(confidence) for store in select_stores(stores, data_dir))


# ---- episodes pinned by reset options -------------------------------------------------------
def store_index(stores: Sequence[ReplayStore], store: Any, where: str) -> int:
    if is_integer(store):
        if not 0 <= store < len(stores):
            raise EnvArgumentError(f"{where} = {store} is outside 0..{len(stores) - 1}.")
        return int(store)
    for index, candidate in enumerate(stores):
        if store in (candidate.name, str(candidate.path)):
            return index
    raise EnvArgumentError(f"{where} = {store!r} is not one of this env's stores.")


def pinned_question(store: ReplayStore, index: Any, where: str) -> Question:
    if not is_integer(index) or not 0 <= index < store.n_questions:
        raise EnvArgumentError(f"{where} = {index!r} is outside 0..{store.n_questions - 1}.")
    return store.questions[int(index)]


def pinned_order(order: Any, question: Question, where: str) -> np.ndarray:
    """A pinned branch order: distinct branch indices of `question`, at least one."""
    array = np.asarray(order)
    last = question.n_branches - 1
    if (
        array.ndim != 1
        or array.dtype.kind not in "iu"
        or not len(array)
        or array.min() < 0
        or array.max() > last
        or np.bincount(array).max() > 1
    ):
        raise EnvArgumentError(f"{where} must list distinct branch indices in 0..{last}.")
    return array.astype(np.int64, copy=False)
