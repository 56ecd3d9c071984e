"""What a controller is: one protocol per kind, and how a controller is named and configured.

Users write one of three kinds; the harness turns any of them into one player (`play`):

- `Imperative`: `solve(q) -> answer string | None` against a question handle (tts-gym's
  vocabulary or AutoTTS's, `tts_gym.control.handle`); LLM-written controllers are this kind;
- `StepPolicy`: `reset()` when an episode begins, then `act(obs, info) -> action index` per
  step of `TTSControl-v0` (RL policies; `env_kwargs`, if present, are the env's arguments it
  needs, e.g. `max_branches`);
- `Batched`: `play(store, orders, questions=None) -> Outcomes` for controllers that play whole
  stores at once (trained networks that batch their forwards, outcomes played in the
  sandbox); a traced run steps it as its other kind unless its `play_traces` is true.

A fourth, `EngineController` (`run(episode) -> answer id` on `tts_gym.engine.Episode`), is
for trusted reference code written against the engine, the built-ins' Python versions: it
holds the episode itself, so it is never how untrusted code is run.

Which kind a controller is follows from its methods, in this order: `play` (when asked for
a batched run), `run`, `solve`, `act`. Names: `name`, else AutoTTS's `NAME`, else the class's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from tts_gym.control.errors import PolicyError

if TYPE_CHECKING:
    from tts_gym.control.handle import QuestionHandle
    from tts_gym.control.outcomes import Orders, Outcomes
    from tts_gym.engine import Episode
    from tts_gym.store import ReplayStore

PolicyKind = Literal["engine", "imperative", "step"]


@runtime_checkable
class Imperative(Protocol):
    def solve(self, q: QuestionHandle) -> str | None: ...


@runtime_checkable
class StepPolicy(Protocol):
    def reset(self) -> None: ...
    def act(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> int: ...


@runtime_checkable
class Batched(Protocol):
    def play(
        self, store: ReplayStore, orders: Orders, *, questions: Sequence[int] | None = None
    ) -> Outcomes: ...


@runtime_checkable
class EngineController(Protocol):
    def run(self, episode: Episode) -> int: ...


def policy_kind(policy: Any) -> PolicyKind | None:
    """How `policy` plays one episode (`run` before `solve` before `act`); None if it cannot."""
    for method, kind in (("run", "engine"), ("solve", "imperative"), ("act", "step")):
        if callable(getattr(policy, method, None)):
            return kind
    return None


def is_batched(policy: Any) -> bool:
    return callable(getattr(policy, "play", None))


def policy_name(policy: Any) -> str:
    """`name` (built-ins), else `NAME` (AutoTTS methods), else the class name."""
    for attribute in ("name", "NAME"):
        value = getattr(policy, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(policy).__name__


def policy_config(policy: Any) -> dict[str, Any]:
    """A controller's settings: dataclass fields (built-ins) or AutoTTS's `config` dict."""
    if dataclasses.is_dataclass(policy):
        fields = dataclasses.fields(policy)
        return {f.name: getattr(policy, f.name) for f in fields if f.init and f.name != "name"}
    config = getattr(policy, "config", None)
    return dict(config) if isinstance(config, Mapping) else {}


def check_answer(name: str, answer: Any) -> None:
    """An imperative controller answers with a string, or None for no answer."""
    if answer is not None and not isinstance(answer, str):
        raise PolicyError(
            f"policy '{name}' returned {answer!r} ({type(answer).__name__}) from solve(q), "
            "not an answer string or None"
        )
