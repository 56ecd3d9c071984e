"""File helpers shared by download and generation: a store file is either whole or absent.

A write goes through a partial file `.<name>.<8 hex>.part` beside its destination. While a
process writes one it holds an exclusive lock on it (`flock`; on Windows an open file cannot
be deleted), so a partial file that nobody holds is stale: left by a writer that was killed
(`kill -9`, a power cut). The next write to the same destination removes such leftovers, and
never touches the partial file of a write still under way.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # Windows: open files cannot be deleted, which is lock enough
    fcntl = None

CHUNK_BYTES = 1 << 20


@contextmanager
def atomic_write(dest: str | os.PathLike) -> Iterator[BinaryIO]:
    """Write `dest` through a locked partial file beside it, renamed into place on success.

    Readers never see a half-written store, and any exception (Ctrl-C included) deletes the
    partial file and the folders made for it, so a failed write leaves the disk as it was.
    Stale partial files of `dest` (from killed writers) are removed first.
    """
    dest = Path(dest)
    made = [folder for folder in (dest.parent, *dest.parent.parents) if not folder.exists()]
    tmp = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(dest)
        tmp, fd = _create_partial(dest)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            if fcntl is not None:
                os.replace(tmp, dest)  # still locked: no cleaner takes the file before this
        if fcntl is None:
            os.replace(tmp, dest)  # Windows renames only closed files
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        for folder in made:  # deepest first; stop at one that something else has filled
            try:
                folder.rmdir()
            except OSError:
                break
        raise


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
