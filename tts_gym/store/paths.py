"""Where stores live: an explicit folder, else `$TTS_GYM_DATA`, else the user cache folder."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from tts_gym.errors import StoreError
from tts_gym.store.catalog import CATALOG, CatalogEntry, close_store_names, unknown_store_error

DATA_ENV_VAR = "TTS_GYM_DATA"


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    if explicit is not None:
        return Path(explicit)
    from_env = os.environ.get(DATA_ENV_VAR)
    if from_env:
        return Path(from_env)
    return Path(platformdirs.user_cache_dir("tts-gym"))


def catalog_path(entry: CatalogEntry, folder: str | os.PathLike | None = None) -> Path:
    return data_dir(folder) / entry.relative_path


def resolve_store(
    spec: str | os.PathLike, folder: str | os.PathLike | None = None
) -> tuple[Path, CatalogEntry | None]:
    """Turn a catalog name or a file path into an existing file (and its catalog entry)."""
    entry = CATALOG.get(str(spec).lower())
    if entry is not None:
        path = catalog_path(entry, folder)
        if not path.is_file():
            raise StoreError(
                f"store '{entry.name}' is not in the data folder {data_dir(folder)}; "
                f"get it with `tts-gym fetch {entry.name}` (or set ${DATA_ENV_VAR})."
            )
        return path, entry
    path = Path(spec)
    if path.is_file():
        return path, None
    collections = tuple(f"{e.collection}/" for e in CATALOG.values())
    if str(spec).startswith(collections) or close_store_names(str(spec)):
        raise unknown_store_error(str(spec))
    raise StoreError(f"no store file at '{spec}' and no catalog store of that name.")
