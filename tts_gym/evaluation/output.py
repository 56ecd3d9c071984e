"""Files the harness writes: whole or not at all (`tts_gym.store.files.atomic_write`)."""

from __future__ import annotations

import os
from pathlib import Path

from tts_gym.store.files import atomic_write as _atomic_file


def atomic_write(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write `data` (text as UTF-8) to `path` through a temporary file renamed into place."""
    with _atomic_file(path) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)
