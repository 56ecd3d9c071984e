"""The rules a candidate controller must follow, checked by code (not only asked for).

Source rules (`source_problems`, static, on the AST): the controller computes with a short
list of modules and reaches the episode only through the question handle's public methods:
no other imports, no `open`/`eval`/`exec`/`__import__`, no private or dunder attribute of
anything but `self`, no private names handed to functions (`getattr(q, "_episode")`), no
frame attributes (`gi_frame`, `f_back`, ...), which lead to the episode behind the handle.

Knob rules (`knob_style`, on the class as the sandbox describes it; `config_problems`, on the
config keys it read): the constructor takes `beta` (or an AutoTTS `config` dict that carries
only `beta`) and nothing else, so every other setting must derive from beta; `--free-knobs`
lifts the "nothing else" part (the paper's ablation).

These rules are a first line: they keep honest candidates to the handle and to one knob. What
a candidate can know does not depend on them: its process holds only what its own actions
revealed (`tts_gym.sandbox`).
"""

from __future__ import annotations

import ast
import re
from typing import Any, Literal

from tts_gym.sandbox import LoadedClass

ALLOWED_MODULES = frozenset(
    {
        "__future__",
        "abc",
        "bisect",
        "collections",
        "copy",
        "dataclasses",
        "decimal",
        "enum",
        "fractions",
        "functools",
        "heapq",
        "itertools",
        "math",
        "numpy",
        "operator",
        "random",
        "statistics",
        "typing",
    }
)
"""Top-level modules a controller may import (pure computation)."""

VOTING_MODULE = "tts_gym.engine.voting"
VOTING_NAMES = frozenset({"beta_confidence", "count_votes", "leader", "majority", "vote_stats"})
"""tts-gym's voting helpers, importable as `from tts_gym.engine.voting import ...`."""

BANNED_CALLS = frozenset(
    {
        "__import__",
        "breakpoint",
        "compile",
        "delattr",
        "eval",
        "exec",
        "exit",
        "globals",
        "input",
        "locals",
        "open",
        "quit",
        "setattr",
        "vars",
    }
)
_SAFE_DUNDERS = frozenset({"__init__", "__name__", "__doc__"})
_FRAME_ATTRIBUTES = frozenset(
    {
        "ag_frame",
        "cr_frame",
        "f_back",
        "f_builtins",
        "f_globals",
        "f_locals",
        "gi_frame",
        "tb_frame",
        "tb_next",
    }
)
"""Public attributes that lead to interpreter frames, hence to the episode behind the handle."""
_FORMAT_PRIVATE = re.compile(r"\{[^{}]*\._")

KnobStyle = Literal["beta", "config"]


def source_problems(source: str, filename: str = "controller.py") -> list[str]:
    """Every rule the source breaks, one sentence each (a syntax error is the only one then)."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as error:
        return [f"{filename} has a syntax error at line {error.lineno}: {error.msg}."]
    except (ValueError, RecursionError, MemoryError) as error:
        return [f"{filename} cannot be parsed ({type(error).__name__})."]
    problems: dict[str, str] = {}  # each problem once, at its first line
    for node in ast.walk(tree):
        problem = _node_problem(node)
        if problem and problem not in problems:
            problems[problem] = f"line {node.lineno}: {problem}"
    return list(problems.values())


def _node_problem(node: ast.AST) -> str | None:
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.split(".")[0] not in ALLOWED_MODULES:
                return _import_problem(alias.name)
    elif isinstance(node, ast.ImportFrom):
        module = node.module or ""
        if node.level:
            return "relative imports are not allowed (the controller is a single file)."
        if module in (VOTING_MODULE, "tts_gym.engine"):
            extra = sorted({a.name for a in node.names} - VOTING_NAMES)
            if extra:
                return f"imports {', '.join(extra)} from {module}; only {_voting()} are allowed."
        elif module.split(".")[0] not in ALLOWED_MODULES:
            return _import_problem(module)
    elif isinstance(node, ast.Name) and node.id in BANNED_CALLS:
        return f"uses {node.id}(), which controllers may not use."
    elif isinstance(node, ast.Name) and node.id == "__builtins__":
        return "uses __builtins__, which controllers may not use."
    elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
        if node.attr not in _SAFE_DUNDERS and not _is_self(node.value):
            return (
                f"reads the private attribute '{node.attr}' of something other than self; "
                "use only the question handle's public methods."
            )
    elif isinstance(node, ast.Attribute) and node.attr in _FRAME_ATTRIBUTES:
        return f"reads '{node.attr}', which leads to the interpreter's frames."
    elif isinstance(node, ast.Call):
        for arg in node.args:
            if isinstance(arg, ast.Constant) and _is_private_path(arg.value):
                return f"passes the private name '{arg.value}' to a function."
    elif (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and _FORMAT_PRIVATE.search(node.value)
    ):
        return "has a format string that reads a private attribute."
    return None


def _import_problem(module: str) -> str:
    allowed = ", ".join(sorted(ALLOWED_MODULES - {"__future__"}))
    return (
        f"imports '{module}', which controllers may not use "
        f"(allowed: {allowed}, and {_voting()} from {VOTING_MODULE})."
    )


def _voting() -> str:
    return ", ".join(sorted(VOTING_NAMES))


def _is_private_path(value: object) -> bool:
    """'_episode' or 'a._b': a private attribute name as a string (getattr, attrgetter)."""
    if not isinstance(value, str):
        return False
    parts = value.split(".")
    return all(part.isidentifier() for part in parts) and any(p.startswith("_") for p in parts)


def _is_self(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id in ("self", "cls")
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"
    )


def knob_style(loaded: LoadedClass, free_knobs: bool) -> tuple[KnobStyle | None, list[str]]:
    """How to pass beta to the class (`beta=` or `config={"beta": ...}`), and the knob problems.

    `loaded` is what the sandbox reported about the class it loaded: these rules keep honest
    candidates to one knob (they are constructed with beta only, whatever they declare).
    """
    name = loaded.name
    if not loaded.is_class:
        return None, [f"{name} is not a class."]
    if "solve" not in loaded.methods:
        return None, [f"{name} has no solve(q) method."]
    if "run" in loaded.methods or "act" in loaded.methods:
        return None, [
            f"{name} defines run() or act(), which the harness would call instead of solve(q); "
            "rename that method."
        ]
    if loaded.parameters is None:
        return None, [f"the constructor of {name} has no readable signature."]
    parameters = {p.name: p for p in loaded.parameters}
    if "beta" in parameters:
        style: KnobStyle = "beta"
    elif "config" in parameters:
        style = "config"
    else:
        return None, [
            f"{name}'s constructor takes no 'beta' (nor an AutoTTS 'config' dict); "
            "the controller must take its one knob as beta=..."
        ]
    parameters.pop(style)
    if style == "beta":
        parameters.pop("config", None)  # AutoTTS's convention; never passed, its reads checked
    problems = []
    variadic = ("VAR_POSITIONAL", "VAR_KEYWORD")
    for parameter in parameters.values():
        required = not parameter.has_default and parameter.kind not in variadic
        if free_knobs and not required:
            continue
        if free_knobs:
            problems.append(f"{name}'s constructor requires '{parameter.name}' besides beta.")
        elif parameter.kind in variadic:
            problems.append(
                f"{name}'s constructor accepts *{parameter.name}, i.e. free knobs besides beta; "
                "derive every setting from beta."
            )
        else:
            problems.append(
                f"{name}'s constructor takes a second knob '{parameter.name}' besides beta; "
                "derive every setting from beta."
            )
    return style, problems


def construction(style: KnobStyle, beta: float) -> dict[str, Any]:
    """The keyword arguments that construct the controller at `beta`."""
    return {"beta": beta} if style == "beta" else {"config": {"beta": beta}}


def config_problems(read: set[str], free_knobs: bool) -> list[str]:
    """A config key other than beta that the controller read is a second knob."""
    if free_knobs:
        return []
    return [
        f"the controller reads config['{key}'], a second knob besides beta; "
        "derive every setting from beta."
        for key in sorted(read - {"beta"})
    ]
