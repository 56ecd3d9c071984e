"""Reading back what a run left behind (configs, records, ledgers), checked.

A resumed run trusts files that a crash, a kill or a hand edit may have broken. Each reader
here turns every way such a file can be wrong (missing, not UTF-8, not JSON, a field of the
wrong type) into one `TTSGymError` sentence naming the file and what is wrong.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from tts_gym.errors import TTSGymError

T = TypeVar("T")


def read_json(path: str | os.PathLike, what: str = "file") -> Any:
    """The JSON value in `path`; `what` names the file's role in the error sentence."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise TTSGymError(f"the {what} {path} is missing.") from None
    except UnicodeDecodeError:
        raise TTSGymError(f"the {what} {path} is not UTF-8 text.") from None
    except OSError as error:
        raise TTSGymError(f"the {what} {path} cannot be read ({error.strerror}).") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise TTSGymError(
            f"the {what} {path} is not valid JSON ({error.msg} at line {error.lineno})."
        ) from None
    except RecursionError:
        raise TTSGymError(f"the {what} {path} is nested too deeply to be a {what}.") from None


def read_json_object(path: str | os.PathLike, what: str = "file") -> dict[str, Any]:
    """`read_json`, which must hold a JSON object."""
    value = read_json(path, what)
    if not isinstance(value, dict):
        raise TTSGymError(f"the {what} {path} holds {_kind(value)}, not a JSON object.")
    return value


def from_json(cls: type[T], data: Any, source: str) -> T:
    """An instance of the dataclass `cls` from a JSON object, each field checked by its type.

    Keys `cls` does not know are ignored (files of newer versions stay readable); missing
    keys take the field's default. `source` names the file in the error sentence.
    """
    if not isinstance(data, dict):
        raise TTSGymError(f"{source} holds {_kind(data)}, not a JSON object.")
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        if field.name not in data:
            continue
        value = data[field.name]
        if not _matches(value, hints[field.name]):
            raise TTSGymError(
                f"{source}: '{field.name}' is {_kind(value)} {json.dumps(value)[:40]}, "
                f"not {_describe(hints[field.name])}."
            )
        values[field.name] = tuple(value) if isinstance(value, list) else value
    try:
        return cls(**values)
    except TypeError as error:  # a required field is missing
        raise TTSGymError(f"{source}: {error}.") from None


def _matches(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if origin is typing.Literal:
        return value in args
    if origin in (tuple, list):
        item = args[0] if args else Any
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(json.dumps(arg) for arg in args)
    if origin in (tuple, list):
        return f"a list of {_PLURAL.get(args[0], 'values')}" if args else "a list"
    if hint is type(None):
        return "null"
    return _SINGULAR.get(hint, getattr(hint, "__name__", str(hint)))


_SINGULAR = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
_PLURAL = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}


def _kind(value: Any) -> str:
    for kind, name in (
        (bool, "a boolean"),
        (dict, "an object"),
        (list, "a list"),
        (str, "a string"),
    ):
        if isinstance(value, kind):
            return name
    if value is None:
        return "null"
    return "a number" if isinstance(value, (int, float)) else type(value).__name__
