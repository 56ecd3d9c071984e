"""Files, whole or absent when written, checked when read back: the one place that does either.

Every file tts-gym writes (stores, run folders, reports, traces, plots) goes through
`atomic_write` (or `write_file` / `write_json` on top of it). A write goes through a partial
file `.<name>.<8 hex>.part` beside its destination. While a process writes one it holds an
exclusive lock on it (`flock`; on Windows an open file cannot be deleted), so a partial file
that nobody holds is stale: left by a writer that was killed (`kill -9`, a power cut). The
next write to the same destination removes such leftovers, and never touches the partial
file of a write still under way.

Run folders are used by one process at a time: `lock_folder` holds their `.lock`.

Files a run reads back (configs, records, ledgers: what `--resume` trusts) go through
`read_json` and `from_json`, which turn every way such a file can be broken (missing, not
UTF-8, not JSON, a field of the wrong type) into one `TTSGymError` sentence naming the file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import re
import secrets
import types
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO, TypeVar

from tts_gym.errors import TTSGymError

try:
    import fcntl
except ImportError:  # Windows: open files cannot be deleted, which is lock enough
    fcntl = None

CHUNK_BYTES = 1 << 20
T = TypeVar("T")


class WriteError(TTSGymError):
    """A file that could not be written (a folder in its place, a file in its path, a full or
    read-only disk, no permission). Nothing of it was written."""

    def __init__(self, path: str | os.PathLike, error: OSError) -> None:
        self.path = Path(path)
        self.failed_at = Path(error.filename) if error.filename else self.path  # a folder made
        self.reason = write_failure(error)
        super().__init__(f"cannot write {self.path}: {self.reason}; nothing was written.")


_WRITE_FAILURES = {
    errno.ENOSPC: "the disk is full",
    errno.EROFS: "the disk is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EISDIR: "it is a folder",
    errno.ENOTDIR: "a part of its path is a file, not a folder",
    errno.EEXIST: "a part of its path is a file, not a folder",  # mkdir where a file is
    errno.ENAMETOOLONG: "its name is too long",
    errno.EFBIG: "it is larger than the disk allows",
}
if hasattr(errno, "EDQUOT"):  # not on Windows
    _WRITE_FAILURES[errno.EDQUOT] = "the disk quota is used up"
_DISK_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EFBIG, errno.EROFS, errno.EIO, getattr(errno, "EDQUOT", errno.ENOSPC)}
)
"""Errors that a write into the partial file itself can meet (the caller's own errors,
a network's included, pass through as they are)."""


def write_failure(error: OSError) -> str:
    """Why a write failed, in words (`the disk is full`)."""
    return _WRITE_FAILURES.get(error.errno, error.strerror or str(error) or type(error).__name__)


@contextmanager
def atomic_write(dest: str | os.PathLike) -> Iterator[BinaryIO]:
    """Write `dest` through a locked partial file beside it, renamed into place on success.

    Readers never see a half-written store, and any exception (Ctrl-C included) deletes the
    partial file and the folders made for it, so a failed write leaves the disk as it was.
    Stale partial files of `dest` (from killed writers) are removed first. The disk's own
    failures (a folder in the way, a full or read-only disk) raise `WriteError`.
    """
    dest = Path(dest)
    made = [folder for folder in (dest.parent, *dest.parent.parents) if not folder.exists()]
    tmp = None
    try:
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_partials(dest)
            tmp, fd = _create_partial(dest)
        except OSError as error:
            raise WriteError(dest, error) from None
        handle = os.fdopen(fd, "wb")
        try:
            try:
                yield handle
            except OSError as error:  # the caller's code: only the disk's errors are ours
                if error.errno in _DISK_ERRNOS:
                    raise WriteError(dest, error) from None
                raise
            try:
                handle.flush()
                os.fsync(handle.fileno())
                if fcntl is not None:
                    os.replace(tmp, dest)  # still locked: no cleaner takes the file before this
            except OSError as error:
                raise WriteError(dest, error) from None
        finally:
            with contextlib.suppress(OSError):  # after a failed flush, closing fails too
                handle.close()
        if fcntl is None:
            try:
                os.replace(tmp, dest)  # Windows renames only closed files
            except OSError as error:
                raise WriteError(dest, error) from None
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        for folder in made:  # deepest first; stop at one that something else has filled
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def write_file(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write `data` (text as UTF-8) to `path` atomically; returns the path."""
    with atomic_write(path) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def write_json(path: str | os.PathLike, value: Any, *, indent: int | None = 2) -> Path:
    """Write `value` as JSON (UTF-8, no NaN) atomically; compact with `indent=None`."""
    text = json.dumps(value, indent=indent, ensure_ascii=False, allow_nan=False)
    return write_file(path, text + "\n" if indent is not None else text)


def remove_stale_partials(dest: str | os.PathLike) -> list[Path]:
    """Delete the partial files of `dest` that no live writer holds; return what was removed.

    Only names of `atomic_write`'s own pattern are considered. Best effort: a folder that
    cannot be listed or written is left alone (the write itself will say so).
    """
    dest = Path(dest)
    own = re.compile(rf"\.{re.escape(dest.name)}\.[0-9a-f]{{8}}\.part")
    removed = []
    try:
        candidates = [p for p in dest.parent.iterdir() if own.fullmatch(p.name)]
    except OSError:
        return removed
    for path in candidates:
        with contextlib.suppress(OSError):
            if _remove_if_unheld(path):
                removed.append(path)
    return removed


LOCK_FILE = ".lock"
"""The file in a run folder that the process using the folder holds locked (`lock_folder`)."""


def lock_folder(folder: str | os.PathLike) -> IO[bytes]:
    """Hold `folder/.lock` (an exclusive `flock`) until the returned file is closed (or the
    process ends: the OS releases it, so a killed run leaves no stale lock). A run folder
    (training, discovery) is used by one process at a time; a second gets one sentence.

    The lock file is created if missing (with the folder). Use as `with lock_folder(f):`.
    """
    path = Path(folder) / LOCK_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "ab")  # noqa: SIM115 - the caller holds it
    except IsADirectoryError:
        raise TTSGymError(
            f"{path} is a folder, not a lock file; remove it (no run uses it)."
        ) from None
    except OSError as error:
        raise WriteError(path, error) from None
    if fcntl is not None:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise TTSGymError(f"another tts-gym process is using {folder}.") from None
        except OSError:  # a file system without locks: nothing can tell, go on unlocked
            pass
    return handle


def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of a file, read in chunks (stores are a few MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _create_partial(dest: Path) -> tuple[Path, int]:
    """A new partial file for `dest`, created and locked (`O_EXCL`: never someone else's)."""
    # os.open with 0o666 (not mkstemp's 0o600) so the store gets the usual umask permissions.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
        fd = os.open(tmp, flags, 0o666)
        if fcntl is None:
            return tmp, fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # a file system without locks: write unlocked, as nothing can tell
            return tmp, fd
        if os.fstat(fd).st_nlink:  # not removed as stale between its creation and the lock
            return tmp, fd
        os.close(fd)


def _remove_if_unheld(path: Path) -> bool:
    if fcntl is None:
        path.unlink()  # fails while a writer has it open
        return True
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # a write under way (or no locks here: then nothing is stale)
        path.unlink()
        return True
    finally:
        os.close(fd)


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
