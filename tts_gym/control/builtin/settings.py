"""The built-ins' constructor arguments, checked where they are declared.

`--config n=2.5` must not play an "SC@2.5": every field says what it accepts (`setting`),
and `check_settings` (each built-in's `__post_init__`) refuses anything else in one
sentence, so the CLI, the Python API and a sweep's knobs meet the same rule.
"""

from __future__ import annotations

import dataclasses
import math
from numbers import Integral, Real
from typing import Any

LOW, HIGH = "low", "high"


def setting(default: Any, low: float | None = None, high: float | None = None) -> Any:
    """A dataclass field with the closed range [`low`, `high`] its values must lie in."""
    return dataclasses.field(default=default, metadata={LOW: low, HIGH: high})


def check_settings(controller: Any) -> None:
    """Raise `ValueError` naming the first field whose value has the wrong kind or range."""
    for field in dataclasses.fields(controller):
        value = getattr(controller, field.name)
        kind = field.type if isinstance(field.type, str) else field.type.__name__
        number = not isinstance(value, bool)  # True is an Integral, never a setting
        if kind == "int":
            ok, wanted = number and isinstance(value, Integral), "a whole number"
        elif kind == "float":
            ok = number and isinstance(value, Real) and math.isfinite(value)
            wanted = "a finite number"
        elif kind == "str":
            ok, wanted = isinstance(value, str), "a string"
        else:
            continue
        low, high = field.metadata.get(LOW), field.metadata.get(HIGH)
        if ok and ((low is not None and value < low) or (high is not None and value > high)):
            ok = False
        if not ok:
            bounds = _bounds(low, high)
            raise ValueError(
                f"{type(controller).__name__}'s {field.name} must be {wanted}{bounds} "
                f"(got {value!r})."
            )


def _bounds(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f" from {low:g} to {high:g}"
    if low is not None:
        return f" of at least {low:g}"
    return f" of at most {high:g}" if high is not None else ""
