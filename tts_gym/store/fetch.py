"""Download catalog stores into the data folder: checksummed, atomic, with a progress bar.

A store is streamed into a partial file beside its destination while its sha256 is computed,
checked against the catalog (and against Content-Length), and only then renamed into place, so
the data folder holds either the verified store or nothing. Partial files left by a fetch that
was killed outright are removed by the next fetch of that store (`files.atomic_write`). No
dependency beyond the standard library and tqdm.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from tts_gym.errors import StoreError
from tts_gym.store.catalog import CatalogEntry, catalog_entry, expand_store_names
from tts_gym.store.files import (
    CHUNK_BYTES,
    WriteError,
    atomic_write,
    remove_stale_partials,
    sha256_file,
    write_failure,
)
from tts_gym.store.paths import DATA_ENV_VAR, catalog_path

MIRROR_ENV_VAR = "TTS_GYM_MIRROR"
MIRROR_SCHEMES = ("http", "https", "file")
DEFAULT_TIMEOUT_S = 60.0
_USER_AGENT = "tts-gym (https://github.com/zhengkid/AutoTTS replay stores)"
# errors of the local disk rather than the network (those without a file name)
_DISK_ERRNOS = {
    getattr(errno, name)
    for name in ("EROFS", "EACCES", "EPERM", "ENOSPC", "EDQUOT", "EFBIG", "EISDIR", "ENOTDIR")
    if hasattr(errno, name)
}


def fetch(
    names: Iterable[str],
    data_dir: str | os.PathLike | None = None,
    mirror: str | None = None,
    progress: bool = True,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> list[Path]:
    """Download catalog stores (names or the groups `search`, `held-out`, `all`).

    `mirror` (else `$TTS_GYM_MIRROR`) is a base URL serving the data-folder layout
    (`autotts/Qwen3-8B/aime24.json`); it replaces the catalog address. A store already present
    with the catalog checksum is skipped. `timeout` bounds every socket wait, in seconds.
    With `progress`, a byte progress bar and one status line per store go to stderr.
    Returns the stores' paths; raises `StoreError` with one sentence on any failure.
    """
    entries = [catalog_entry(name) for name in expand_store_names(list(names))]
    mirror = mirror or os.environ.get(MIRROR_ENV_VAR) or None
    if mirror is not None:
        check_mirror(mirror)
    paths = []
    for entry in entries:
        dest = catalog_path(entry, data_dir)
        url = f"{mirror.rstrip('/')}/{entry.relative_path}" if mirror else entry.url
        removed = remove_stale_partials(dest)
        if removed:
            _say(
                progress, f"{entry.name}: removed {len(removed)} partial file(s) of killed fetches."
            )
        if dest.is_file():
            if _checksum(dest) == entry.sha256:
                _say(progress, f"{entry.name}: already present at {dest} (checksum ok).")
                paths.append(dest)
                continue
            _say(progress, f"{entry.name}: {dest} differs from the catalog; downloading it again.")
        _download(entry, url, dest, progress, timeout)
        _say(progress, f"{entry.name}: saved to {dest}.")
        paths.append(dest)
    return paths


def check_mirror(url: str) -> str:
    """`url` if it can be a mirror's base address (http, https or file), else `StoreError`."""
    scheme = urllib.parse.urlsplit(url.strip()).scheme.lower()
    if scheme not in MIRROR_SCHEMES:
        raise StoreError(
            f"the mirror {url!r} is not an http://, https:// or file:// address (from "
            f"--mirror or ${MIRROR_ENV_VAR})."
        )
    return url.strip()


def _download(entry: CatalogEntry, url: str, dest: Path, progress: bool, timeout: float) -> None:
    what = f"download of {entry.name} from {url}"
    received, expected = 0, None
    try:
        with atomic_write(dest) as out:
            request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                expected = _content_length(response)
                digest = hashlib.sha256()
                with tqdm(
                    total=expected,
                    desc=entry.name,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    file=sys.stderr,
                    disable=not progress,
                    leave=False,
                ) as bar:
                    # read1: whatever has arrived, so a stall or a cut is counted to the byte
                    read = getattr(response, "read1", response.read)
                    while chunk := read(CHUNK_BYTES):
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
            if expected is not None and received != expected:
                raise StoreError(f"{what} was cut off after {_of(received, expected)}")
            if digest.hexdigest() != entry.sha256:
                raise StoreError(
                    f"{what} does not match the catalog checksum (sha256 {digest.hexdigest()}, "
                    f"expected {entry.sha256}): the server sent other data; nothing was written."
                )
    except StoreError:
        raise
    except WriteError as error:
        raise StoreError(_cannot_write(entry, error.failed_at.parent, error.reason)) from None
    except urllib.error.HTTPError as error:
        raise StoreError(
            f"{what} failed with HTTP {error.code} {error.reason}; nothing was written."
        ) from None
    except urllib.error.URLError as error:
        raise StoreError(
            f"{what} could not start ({error.reason}); nothing was written. Check the address "
            f"and the network; offline, fetch from a mirror (--mirror URL or ${MIRROR_ENV_VAR}, "
            f"file:// works) or copy the stores into the data folder (--data-dir or "
            f"${DATA_ENV_VAR})."
        ) from None
    except TimeoutError:
        raise StoreError(
            f"{what} stalled (no data for {timeout:g} s) after {_of(received, expected)}"
        ) from None
    except (http.client.HTTPException, ConnectionError) as error:
        raise StoreError(
            f"{what} was cut off ({error or type(error).__name__}) after {_of(received, expected)}"
        ) from None
    except OSError as error:
        if error.filename is not None or error.errno in _DISK_ERRNOS:
            folder = Path(error.filename).parent if error.filename is not None else dest.parent
            raise StoreError(_cannot_write(entry, folder, write_failure(error))) from None
        raise StoreError(
            f"{what} failed ({error.strerror or error}) after {_of(received, expected)}"
        ) from None
    except KeyboardInterrupt:
        raise StoreError(f"{what} was interrupted after {_of(received, expected)}") from None


def _cannot_write(entry: CatalogEntry, folder: Path, reason: str) -> str:
    return (
        f"cannot write {entry.name} into {folder} ({reason}); nothing was written, make that "
        f"folder writable or choose another data folder with --data-dir or ${DATA_ENV_VAR}."
    )


def _checksum(path: Path) -> str:
    try:
        return sha256_file(path)
    except OSError as error:
        raise StoreError(
            f"cannot read {path} ({error.strerror or error}) to check it against the catalog."
        ) from None


def _content_length(response: http.client.HTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value is not None and value.isdigit() else None


def _of(received: int, expected: int | None) -> str:
    """The common tail of an interrupted-download sentence."""
    total = f"{expected}" if expected is not None else "an unknown number of"
    return f"{received} of {total} bytes; nothing was written, run the command again."


def _say(enabled: bool, line: str) -> None:
    if enabled:
        tqdm.write(line, file=sys.stderr)
