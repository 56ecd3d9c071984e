"""Turn a policy spec (`NAME`, `SCHEME:REST`, `module:Class`, `path.py:Class`) into a controller.

Schemes are added by packages above the core through the `tts_gym.policy_schemes` entry-point
group (`sb3:DIR/model.zip` comes from the RL agents), so nothing here imports them. Every
failure is a `PolicyLoadError` with one sentence naming the spec: the CLI shows it instead of
a traceback, and the discovery loop records it as the round's result.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from tts_gym.control.builtin import (
    AdaptiveConsistency,
    ConfidenceMomentum,
    EarlyStoppingConsistency,
    ParallelProbe,
    SelfConsistency,
    SelfConsistencySAC,
)
from tts_gym.control.errors import PolicyLoadError
from tts_gym.control.protocols import policy_kind
from tts_gym.errors import brief, first_line

BUILTINS: dict[str, Callable[..., Any]] = {
    "sc": SelfConsistency,
    "asc": AdaptiveConsistency,
    "esc": EarlyStoppingConsistency,
    "parallel-probe": ParallelProbe,
    "cmc": ConfidenceMomentum,
    "sac": SelfConsistencySAC,
}
"""Built-in controllers by lower-case name; config keys are their constructor's arguments."""


SCHEME_GROUP = "tts_gym.policy_schemes"
"""Entry-point group of policy schemes: `name = "module:loader"`, where
`loader(rest, config) -> controller` handles the spec `name:rest`."""


def load_policy(spec: str, config: Mapping[str, Any] | None = None) -> Any:
    """A controller for `spec`, constructed with `config` as keyword arguments."""
    config = dict(config or {})
    scheme = _scheme(spec)
    if scheme is not None:
        return _load_scheme(spec, scheme, config)
    factory = BUILTINS.get(spec.lower())
    if factory is None and ":" in spec:
        source, _, attribute = spec.rpartition(":")
        module = _import_file(spec, source) if _is_path(source) else _import_module(spec, source)
        try:
            factory = getattr(module, attribute)
        except AttributeError:
            raise PolicyLoadError(f"policy '{spec}': {source} defines no '{attribute}'.") from None
    elif factory is None:
        known = ", ".join(BUILTINS)
        raise PolicyLoadError(
            f"unknown policy '{spec}'; use a built-in ({known}), module:Class or path.py:Class."
        )
    policy = _construct(spec, factory, config)
    if policy_kind(policy) is None:
        raise PolicyLoadError(
            f"policy '{spec}' has none of the methods solve(q), run(episode) or act(obs, info)."
        )
    return policy


def schemes() -> dict[str, Any]:
    """The registered policy schemes by name (entry points, not yet loaded)."""
    return {point.name: point for point in entry_points(group=SCHEME_GROUP)}


def _scheme(spec: str) -> Any:
    name, sep, _ = spec.partition(":")
    return schemes().get(name) if sep else None


def _load_scheme(spec: str, point: Any, config: dict[str, Any]) -> Any:
    try:
        loader = point.load()
    except ImportError as error:
        raise PolicyLoadError(
            f"policy '{spec}': the '{point.name}' scheme cannot be loaded ({error}); "
            "is its extra installed?"
        ) from None
    return loader(spec.partition(":")[2], config)


def parse_config(items: Iterable[str]) -> dict[str, Any]:
    """`["beta=0.5", "name=x"]` -> `{"beta": 0.5, "name": "x"}` (Python literals, else strings)."""
    config: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise PolicyLoadError(f"config '{item}' is not of the form key=value.")
        config[key.strip()] = parse_value(raw.strip())
    return config


def parse_value(raw: str) -> Any:
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw


def _is_path(source: str) -> bool:
    return source.endswith(".py") or "/" in source or "\\" in source


def _import_module(spec: str, name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name and name.startswith(error.name):
            raise PolicyLoadError(f"policy '{spec}': no module named '{name}'.") from None
        raise PolicyLoadError(f"policy '{spec}': importing {name} failed ({error}).") from None
    except Exception as error:
        raise PolicyLoadError(f"policy '{spec}': importing {name} raised {brief(error)}.") from None


def _import_file(spec: str, source: str) -> Any:
    path = Path(source).expanduser().resolve()
    if not path.is_file():
        raise PolicyLoadError(f"policy '{spec}': there is no file {source}.")
    # a stable, unique module name so that classes defined in the file pickle and compare
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    try:
        return exec_file(path, f"tts_gym_policy_{path.stem}_{digest}")
    except SyntaxError as error:
        raise PolicyLoadError(
            f"policy '{spec}': {source} has a syntax error at line {error.lineno} ({error.msg})."
        ) from None
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # untrusted code: even SystemExit is a failed load
        raise PolicyLoadError(
            f"policy '{spec}': importing {source} raised {brief(error)}."
        ) from None


def exec_file(path: Path, module_name: str) -> ModuleType:
    """Run the Python file `path` as the module `module_name`: the one way files become code.

    The module is registered in `sys.modules` first (dataclasses and pickling look it up
    there) and removed again if running the file raises, which it lets through.
    """
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _construct(spec: str, factory: Any, config: dict[str, Any]) -> Any:
    if not inspect.isclass(factory):
        if config:
            raise PolicyLoadError(f"policy '{spec}' is an object, not a class; it takes no config.")
        return factory
    try:
        return factory(**config)
    except TypeError as error:
        settings = ", ".join(f"{key}={value!r}" for key, value in config.items()) or "no config"
        raise PolicyLoadError(
            f"policy '{spec}' cannot be constructed with {settings} ({error})."
        ) from None
    except ValueError as error:  # a setting out of range says so in its own sentence
        raise PolicyLoadError(f"policy '{spec}': {first_line(error).rstrip('.')}.") from None
    except Exception as error:
        raise PolicyLoadError(f"policy '{spec}': constructing it raised {brief(error)}.") from None
