"""The envs' arguments, declared once, and the checks at their door.

`EnvConfig` is the declaration: each field is one argument of `TTSControl-v0` (and of its
vector and macro forms) with its type, default, bounds and doc (`argument(...)`). Both envs
take their keyword arguments through `EnvConfig.checked`, read them back as attributes
(`ConfiguredEnv`), show them in their signature and docstring (`document`), and docs/env.md
shows the table `markdown_table()` writes (a test holds the two equal).

One rule at every door (constructor arguments, `reset` seeds and options, actions): integers
are Python or numpy integers (not bools, not floats, even integral ones), numbers are finite
and within their stated range, and anything else is refused with one sentence:
`EnvArgumentError` (a `ValueError`) for arguments, seeds and options, `TypeError` for an action
that is not an integer.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, Field, dataclass, field, fields
from numbers import Real
from typing import Any

import numpy as np

from tts_gym.errors import IllegalActionError, TTSGymError
from tts_gym.store import Question, ReplayStore, select_stores
from tts_gym.store.replay import CONFIDENCE_STATISTICS


class EnvArgumentError(TTSGymError, ValueError):
    """An env argument, seed or reset option that is out of range or of the wrong kind."""


MAX_BRANCHES = 512
"""The most slots an env may have: the observation and the vote-confidence table grow with it
(the table takes 0.4 s to build at 512, 2 s at 1024), and no store has more branches."""
MAX_SLOTS = 2**22
"""The most `num_envs * max_branches` of a vector env (about 600 MB of state)."""
MAX_TOKENS = 10**15
"""Bound of token counts (budget, probe cost): sums of them stay exact in int64 and float64."""
MAX_PENALTY = 1e9
"""Bound of the penalties (per million tokens): rewards stay finite floats."""


def is_integer(value: Any) -> bool:
    """A Python or numpy integer (not a bool)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _show(value: Any) -> str:
    """`repr`, shortened: a huge argument still makes a one-line message."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


# ---- rules: what an argument may be ----------------------------------------------------------
@dataclass(frozen=True)
class Integer:
    low: int
    high: int
    optional: bool = False  # None allowed

    def describe(self) -> str:
        digits = len(str(self.high)) - 1
        power = self.high >= 10**6 and self.high == 10**digits
        text = f"an integer in {self.low}..{f'10**{digits}' if power else self.high}"
        return f"None or {text}" if self.optional else text

    def check(self, name: str, value: Any) -> int | None:
        if value is None and self.optional:
            return None
        if not is_integer(value) or not self.low <= value <= self.high:
            raise EnvArgumentError(f"{name} must be {self.describe()}, got {_show(value)}.")
        return int(value)


@dataclass(frozen=True)
class Number:
    low: float
    high: float

    def describe(self) -> str:
        return f"a finite number in [{self.low:g}, {self.high:g}]"

    def check(self, name: str, value: Any) -> float:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
            raise EnvArgumentError(f"{name} must be {self.describe()}, got {_show(value)}.")
        try:
            number = float(value)
        except OverflowError:  # an int beyond float's range (10**400)
            number = math.inf
        if not (math.isfinite(number) and self.low <= number <= self.high):
            raise EnvArgumentError(f"{name} must be {self.describe()}, got {_show(value)}.")
        return number


@dataclass(frozen=True)
class Flag:
    def describe(self) -> str:
        return "True or False"

    def check(self, name: str, value: Any) -> bool:
        if not isinstance(value, (bool, np.bool_)):
            raise EnvArgumentError(f"{name} must be True or False, got {_show(value)}.")
        return bool(value)


@dataclass(frozen=True)
class Choice:
    values: tuple[Any, ...]

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)

    def check(self, name: str, value: Any) -> Any:
        if not any(value is v or (isinstance(value, str) and value == v) for v in self.values):
            raise EnvArgumentError(f"{name} must be {self.describe()}, got {_show(value)}.")
        return value


_STORE_KINDS = (str, os.PathLike, ReplayStore)


@dataclass(frozen=True)
class Stores:
    def describe(self) -> str:
        return "a store name, group or path, or a non-empty list of them (or loaded stores)"

    def check(self, name: str, value: Any) -> tuple[Any, ...]:
        items = (value,) if isinstance(value, _STORE_KINDS) else value
        if (
            not isinstance(items, (list, tuple))
            or not items
            or not all(isinstance(item, _STORE_KINDS) for item in items)
        ):
            raise EnvArgumentError(f"{name} must be {self.describe()}, got {_show(value)}.")
        return tuple(items)


@dataclass(frozen=True)
class Folder:
    def describe(self) -> str:
        return "None or a folder path"

    def check(self, name: str, value: Any) -> str | None:
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise EnvArgumentError(f"{name} must be {self.describe()}, got {_show(value)}.")
        return None if value is None else os.fspath(value)


Rule = Integer | Number | Flag | Choice | Stores | Folder
ENGINES = ("compiled", "python")
RENDER_MODES = ("ansi", "rgb_array", "human")
ILLEGAL_ACTIONS = ("ignore", "raise")


def argument(default: Any, rule: Rule, doc: str, *, attribute: bool = True) -> Any:
    """One declared argument: a dataclass field carrying its rule and doc. `attribute`: the
    env reads it back as `env.<name>` (`ConfiguredEnv`)."""
    return field(default=default, metadata={"rule": rule, "doc": doc, "attribute": attribute})


@dataclass(frozen=True)
class EnvConfig:
    """Every argument of `TTSControl-v0`, checked: the one declaration both envs read."""

    stores: tuple[Any, ...] = argument(
        ("search",), Stores(),
        "catalog names (`autotts/qwen3-8b/aime24`), groups (`search`: the four AIME24 stores; "
        "`held-out`; `all`), file paths, or loaded stores",
        attribute=False,
    )  # fmt: skip
    max_branches: int = argument(
        64, Integer(1, MAX_BRANCHES), "slots: how many branches an episode may open"
    )
    token_penalty: float = argument(
        0.5, Number(0.0, MAX_PENALTY), "reward per million tokens spent"
    )
    probe_cost: int = argument(
        0, Integer(0, MAX_TOKENS),
        "tokens a PROBE costs (meaningful with `reveal_on_continue=False`)",
    )  # fmt: skip
    reveal_on_continue: bool = argument(
        True, Flag(), "advancing a branch also reveals its new answer (the paper's MDP)"
    )
    budget: int | None = argument(
        None, Integer(1, MAX_TOKENS, optional=True),
        "tokens; once spent, only actions that cost nothing stay legal (ANSWER, SUBMIT, "
        "PRUNE, and PROBE when free)",
    )  # fmt: skip
    data_dir: str | None = argument(
        None, Folder(),
        "folder holding catalog stores (default `$TTS_GYM_DATA`, else the user cache)",
        attribute=False,
    )  # fmt: skip
    render_mode: str | None = argument(
        None, Choice((None, *RENDER_MODES)),
        "`ansi` (text), `rgb_array` (a picture of the episode) or `human` (that picture in a "
        "window)",
        attribute=False,
    )  # fmt: skip
    engine: str = argument(
        "compiled", Choice(ENGINES),
        "`compiled` (the batch core, fast) or `python` (the readable reference; same results)",
    )  # fmt: skip
    latency_penalty: float = argument(
        0.0, Number(0.0, MAX_PENALTY), "reward per million sequential tokens"
    )
    max_parallel: int | None = argument(
        None, Integer(1, MAX_BRANCHES, optional=True),
        "branches a wave runs at once (None: no cap); a wider wave runs as sub-waves in slot "
        "order",
    )  # fmt: skip
    confidence: str = argument(
        "group", Choice(tuple(CONFIDENCE_STATISTICS)),
        "which per-segment confidence of the store a slot's `confidence` feature carries "
        "(higher = more confident; docs/collect.md)",
    )  # fmt: skip
    illegal_actions: str = argument(
        "ignore", Choice(ILLEGAL_ACTIONS),
        "a masked action: `ignore` (nothing happens, reward 0, `info['illegal']`; what "
        "Gymnasium asks of any action in the space) or `raise` (`IllegalActionError` saying "
        "why)",
    )  # fmt: skip

    @classmethod
    def checked(cls, arguments: Mapping[str, Any], where: str = "TTSControl-v0") -> EnvConfig:
        """The config of `arguments` (missing ones take their default); one sentence for an
        unknown name or a value outside its rule, before anything is loaded or allocated."""
        declared = {f.name: f for f in fields(cls)}
        unknown = sorted(set(arguments) - set(declared))
        if unknown:
            raise EnvArgumentError(
                f"{where} takes no argument {unknown[0]!r}; its arguments: {', '.join(declared)}."
            )
        return cls(
            **{
                name: f.metadata["rule"].check(name, arguments.get(name, f.default))
                for name, f in declared.items()
            }
        )

    def settings(self) -> dict[str, Any]:
        """The arguments that rebuild this config (for vector envs built from it)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def declared() -> tuple[Field, ...]:
    return fields(EnvConfig)


class ConfiguredEnv:
    """An env's `EnvConfig` fields as its read-only attributes (`env.max_branches`, ...):
    `config` is their one home, so what the env reports is what it plays."""

    config: EnvConfig


for _field in declared():
    if _field.metadata["attribute"]:
        setattr(
            ConfiguredEnv,
            _field.name,
            property(lambda self, name=_field.name: getattr(self.config, name)),
        )


def document(
    init: Callable[..., None], leading: Sequence[inspect.Parameter] = ()
) -> Callable[..., None]:
    """Give an `__init__(self, ..., **arguments)` the declared arguments as its signature
    (what `help()`, IDEs and `inspect.signature` show), after any `leading` parameters."""
    keyword = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default)
        for f in declared()
    ]
    self = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    init.__signature__ = inspect.Signature([self, *leading, *keyword])  # type: ignore[attr-defined]
    return init


def args_section(indent: str = "        ") -> str:
    """The declared arguments as a docstring's `Args:` entries."""
    lines = []
    for f in declared():
        default = "" if f.default is MISSING else f" (default {f.default!r})"
        lines.append(
            f"{indent}{f.name}: {f.metadata['doc']}; {f.metadata['rule'].describe()}{default}."
        )
    return "\n".join(lines)


def markdown_table() -> str:
    """The declared arguments as docs/env.md's table."""
    rows = ["| argument | default | allowed | meaning |", "|---|---|---|---|"]
    for f in declared():
        rule = f.metadata["rule"].describe()
        rows.append(f"| `{f.name}` | `{f.default!r}` | {rule} | {f.metadata['doc']} |")
    return "\n".join(rows)


# ---- seeds, options and actions -------------------------------------------------------------
def checked_seed(seed: Any, where: str = "seed") -> int | None:
    """A seed: None or an integer >= 0 (Python or numpy; floats and bools are refused)."""
    if seed is None:
        return None
    if not is_integer(seed) or seed < 0 or seed >= 2**128:
        raise EnvArgumentError(f"{where} must be None or an integer >= 0, got {_show(seed)}.")
    return int(seed)


def checked_options(options: Any, known: Sequence[str]) -> dict[str, Any]:
    """Reset options: None or a dict whose keys are among `known`."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise EnvArgumentError(f"options must be None or a dict, got {_show(options)}.")
    unknown = sorted(str(key) for key in options if key not in known)
    if unknown:
        raise EnvArgumentError(f"unknown reset options {unknown}; known: {list(known)}.")
    return dict(options)


def checked_action(action: Any, n: int) -> int:
    """The action as a Python int in 0..n-1; TypeError if it is not an integer (a Python or
    numpy integer, or a 0-d integer array)."""
    if type(action) is not int:
        if isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in "iu":
            action = action.item()
        elif not is_integer(action):
            raise TypeError(
                f"an action is an integer (Python or numpy), got {type(action).__name__} "
                f"{_show(action)}."
            )
        action = int(action)
    if not 0 <= action < n:
        raise IllegalActionError(f"action {action} is outside 0..{n - 1}.")
    return action


def checked_actions(actions: Any, num_envs: int, n: int) -> np.ndarray:
    """The actions of a vector env as an int64 array [num_envs] in 0..n-1; TypeError if they
    are not integers."""
    array = np.asarray(actions)
    if array.dtype.kind not in "iu":
        raise TypeError(
            f"actions are integers (an int array of shape [{num_envs}]), got dtype {array.dtype}."
        )
    if array.shape != (num_envs,):
        raise EnvArgumentError(
            f"actions must have shape ({num_envs},), one per sub-env, got {array.shape}."
        )
    outside = np.flatnonzero((array < 0) | (array >= n))
    if outside.size:
        i = int(outside[0])
        raise IllegalActionError(f"sub-env {i}: action {array[i]} is outside 0..{n - 1}.")
    return array.astype(np.int64, copy=False)


def load_env_stores(config: EnvConfig) -> tuple[ReplayStore, ...]:
    """The stores an env replays (catalog names, groups, paths or loaded stores), each
    observing the config's `confidence` statistic."""
    return tuple(
        store.with_confidence(config.confidence)
        for store in select_stores(list(config.stores), config.data_dir)
    )


# ---- episodes pinned by reset options -------------------------------------------------------
def store_index(stores: Sequence[ReplayStore], store: Any, where: str) -> int:
    if is_integer(store):
        if not 0 <= store < len(stores):
            raise EnvArgumentError(f"{where} = {store} is outside 0..{len(stores) - 1}.")
        return int(store)
    if isinstance(store, str):
        for index, candidate in enumerate(stores):
            if store in (candidate.name, str(candidate.path)):
                return index
    raise EnvArgumentError(f"{where} = {_show(store)} is not one of this env's stores.")


def pinned_question(store: ReplayStore, index: Any, where: str) -> Question:
    if not is_integer(index) or not 0 <= index < store.n_questions:
        raise EnvArgumentError(f"{where} = {_show(index)} is outside 0..{store.n_questions - 1}.")
    return store.questions[int(index)]


def pinned_order(order: Any, question: Question, where: str) -> np.ndarray:
    """A pinned branch order: distinct branch indices of `question`, at least one."""
    last = question.n_branches - 1
    try:
        array = np.asarray(order)
    except (ValueError, TypeError):  # ragged or otherwise not an array
        array = np.zeros(0)
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
