"""Files a command writes, checked at the door: never an input, never twice, writable.

A command declares which of its arguments name files it reads (`add_inputs`: stores, a
policy file, a questions file) and which name files or folders it writes (`add_output`,
`add_output_folder`). Before any work starts, `check_outputs` refuses, in one sentence:

- an output that is one of the inputs (`validate s.json --format json -o s.json`, `eval
  --traces` over the store it plays): compared as files, not strings, so `./s.json`, a
  symbolic link to it or a hard link of it are the same file;
- two outputs of one command on the same file (`eval -o r.csv --plot r.csv`);
- an output that cannot be written at all: a folder where a file goes (or a file where a
  folder goes), a path under a file, a read-only disk, a folder without write permission.

Errors that only writing can find (a full disk) are `WriteError`s of the one writer
(`tts_gym.store.files`), one sentence too, and leave nothing half-written.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tts_gym.errors import TTSGymError
from tts_gym.store.catalog import CATALOG, expand_store_names
from tts_gym.store.paths import catalog_path

FILE_ROLES = "file_roles"
"""The namespace attribute (a parser default) mapping argument names to their `Role`."""

Kind = Literal["stores", "policy", "input", "output", "folder"]


@dataclass(frozen=True)
class Role:
    """What an argument's value names. `files`: for an output folder, the files the command
    writes in it (they, not the folder, are compared with the inputs)."""

    kind: Kind
    shown: str  # how the argument is named in a sentence: "-o", "--traces", "STORE"
    files: tuple[str, ...] = ()


def add_output(parser: argparse.ArgumentParser, *flags: str, **kwargs: Any) -> argparse.Action:
    """`parser.add_argument(*flags, **kwargs)` for a file the command writes."""
    return _declare(parser, "output", parser.add_argument(*flags, **kwargs))


def add_output_folder(
    parser: argparse.ArgumentParser, *flags: str, files: tuple[str, ...], **kwargs: Any
) -> argparse.Action:
    """An argument naming a folder the command writes `files` (and perhaps more) into."""
    return _declare(parser, "folder", parser.add_argument(*flags, **kwargs), files)


def add_inputs(parser: argparse.ArgumentParser, kind: Kind, *dests: str) -> None:
    """Declare already added arguments `dests` as inputs of `kind` (stores, policy, input)."""
    for action in parser._actions:  # argparse keeps no public index of its actions
        if action.dest in dests:
            _declare(parser, kind, action)


def _declare(
    parser: argparse.ArgumentParser, kind: Kind, action: argparse.Action, files: tuple = ()
) -> argparse.Action:
    shown = min(action.option_strings, key=len) if action.option_strings else action.metavar
    roles = {**(parser.get_default(FILE_ROLES) or {}), action.dest: Role(kind, shown, files)}
    parser.set_defaults(**{FILE_ROLES: roles})
    return action


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse, in one sentence, outputs that would replace an input, clash or cannot be
    written (see the module docstring). Nothing is read or created."""
    roles: dict[str, Role] = getattr(args, FILE_ROLES, None) or {}
    inputs, outputs = [], []
    for dest, role in roles.items():
        value = getattr(args, dest, None)
        if value is None or value == []:
            continue
        if role.kind in ("output", "folder"):
            outputs.extend(_written(role, Path(value)))
            _check_writable(role, Path(value))
        else:
            inputs.extend((role, path) for path in _read(role, value, args))
    for i, (role, path) in enumerate(outputs):
        for other, other_path in outputs[:i]:
            if _same_file(path, other_path):
                raise TTSGymError(
                    f"{other.shown} {other_path} and {role.shown} {path} name the same file; "
                    "give each output its own."
                )
        for source, source_path in inputs:
            if _same_file(path, source_path):
                named_alike = os.path.abspath(path) == os.path.abspath(source_path)
                same = "would replace" if named_alike else "is the same file as"
                raise TTSGymError(
                    f"{role.shown} {path} {same} {_input_name(source)} {source_path} that the "
                    "command reads; write it to another file."
                )


def _written(role: Role, path: Path) -> Iterator[tuple[Role, Path]]:
    if role.kind == "output":
        yield role, path
    for name in role.files:
        yield role, path / name


def _read(role: Role, value: Any, args: argparse.Namespace) -> Iterator[Path]:
    if role.kind == "stores":
        specs = [value] if isinstance(value, str) else list(value)
        for spec in expand_store_names(specs):
            entry = CATALOG.get(spec.lower())
            yield catalog_path(entry, getattr(args, "data_dir", None)) if entry else Path(spec)
    elif role.kind == "policy":  # path.py:Class, or a scheme's file (sb3:DIR/model.zip)
        spec = str(value)
        candidates = {spec.rpartition(":")[0], spec.partition(":")[2]} - {""}
        yield from (path for path in map(Path, candidates) if path.is_file())
    else:
        yield Path(value)


def _input_name(role: Role) -> str:
    return {"stores": "the store", "policy": "the policy file"}.get(role.kind, "the input")


def _same_file(a: Path, b: Path) -> bool:
    """Whether `a` and `b` are one file: the same inode when both exist (hard and symbolic
    links included), else the same absolute path once links are followed."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        pass
    except ValueError:  # a NUL byte: no file at all
        return False
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError, ValueError):  # a loop of links, a NUL byte
        return False


def _check_writable(role: Role, path: Path) -> None:
    if "\0" in str(path):
        raise TTSGymError(f"{role.shown} {path} holds a NUL character, which no file name can.")
    if role.kind == "output" and path.is_dir():
        raise TTSGymError(f"{role.shown} {path} is a folder; name a file to write.")
    if role.kind == "folder" and path.exists() and not path.is_dir():
        raise TTSGymError(f"{role.shown} {path} is a file, not a folder.")
    folder = _nearest_existing(path if role.kind == "folder" else path.parent)
    if not folder.is_dir():
        raise TTSGymError(f"{role.shown} {path} cannot be written: {folder} is a file.")
    if _read_only(folder):
        raise TTSGymError(f"{role.shown} {path} cannot be written: {folder} is read-only.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise TTSGymError(
            f"{role.shown} {path} cannot be written: no permission to write in {folder}."
        )


def _nearest_existing(path: Path) -> Path:
    """`path` or its closest ancestor that exists (`.` and `/` always do)."""
    return next(p for p in (path, *path.parents) if p.exists() or p.is_symlink())


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs (Windows): writing will tell
        return False
