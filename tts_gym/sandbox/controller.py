"""The controller as the sandbox describes it, and the settings it is played with.

`LoadedClass` is the sandbox's word about the class it loaded (checks on it are advisory:
the parent never trusts it for a result); `Configure` turns it into the settings to play.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tts_gym.sandbox import channel as ch
from tts_gym.sandbox.server import Rejection


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str  # inspect.Parameter kind name, e.g. "POSITIONAL_OR_KEYWORD", "VAR_KEYWORD"
    has_default: bool


@dataclass(frozen=True)
class LoadedClass:
    """What the sandbox says it loaded (the sandbox's word: checks on it are advisory)."""

    name: str
    is_class: bool
    methods: tuple[str, ...]
    parameters: tuple[Parameter, ...] | None
    label: str = ""  # its `name` (or AutoTTS `NAME`) attribute, as tables name it

    @classmethod
    def parse(cls, data: Any) -> LoadedClass:
        try:
            parameters = data["parameters"]
            n_parameters = data["n_parameters"]
            if not isinstance(n_parameters, int):
                raise TypeError("not a count")
            if n_parameters > ch.MAX_PARAMETERS:
                raise Rejection(
                    f"its constructor takes {n_parameters:,} parameters; the sandbox plays "
                    f"classes with at most {ch.MAX_PARAMETERS}."
                )
            loaded = cls(
                label=_text(data["label"]),
                name=_text(data["name"]),
                is_class=data["is_class"] is True,
                methods=tuple(_text(m) for m in data["methods"]),
                parameters=None
                if parameters is None
                else tuple(Parameter(_text(n), _text(k), d is True) for n, k, d in parameters),
            )
        except (KeyError, TypeError, ValueError):
            raise Rejection("it sent a malformed description of its class.") from None
        return loaded


@dataclass(frozen=True)
class ControllerSetting:
    """One way to construct the controller: keyword arguments (JSON) and a label for messages."""

    label: str
    kwargs: Mapping[str, Any]


Configure = Callable[[LoadedClass], Sequence[ControllerSetting]]
"""Turns the loaded class into the settings to play; raises `Rejection(*problems)` to refuse."""


def require_solve(settings: Sequence[ControllerSetting]) -> Configure:
    """The plain `Configure`: the class must have solve(q); play it with `settings`."""

    def configure(loaded: LoadedClass) -> Sequence[ControllerSetting]:
        if not loaded.is_class:
            raise Rejection(f"{loaded.name} is not a class.")
        if "solve" not in loaded.methods:
            raise Rejection(
                f"{loaded.name} has no solve(q) method: the sandbox runs controllers written "
                "against the question handle (tts-gym's or AutoTTS's). run(episode) would need "
                "the parent's episode itself and act(obs, info) observations of it, which the "
                "boundary does not hand out."
            )
        return settings

    return configure


def _text(value: Any) -> str:
    """A string field of a message from the sandbox (anything else is malformed)."""
    if not isinstance(value, str):
        raise TypeError("not a string")
    return ch.printable(value, 200)
