"""File helpers shared by download and generation: a store file is either whole or absent."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

CHUNK_BYTES = 1 << 20


@contextmanager
def atomic_write(dest: str | os.PathLike) -> Iterator[BinaryIO]:
    """Write `dest` through a temporary file beside it, renamed into place only on success.

    Readers never see a half-written store, and any exception (Ctrl-C included) deletes the
    temporary file and the folders made for it, so a failed write leaves the disk as it was.
    """
    dest = Path(dest)
    made = [folder for folder in (dest.parent, *dest.parent.parents) if not folder.exists()]
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
    # os.open with 0o666 (not mkstemp's 0o600) so the store gets the usual umask permissions.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(tmp, flags, 0o666), "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        for folder in made:  # deepest first; stop at one that something else has filled
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of a file, read in chunks (stores are a few MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
