"""The catalog of known replay stores: the one source of truth for a store's identity.

A store name is `<collection>/<model>/<benchmark>`, lower case (e.g. `autotts/qwen3-8b/aime24`).
Inside a data folder it lives at `<collection>/<Model>/<benchmark>.json` (the model keeps its
published capitalisation), which is also the layout of the published repository.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from tts_gym.errors import StoreError

Role = Literal["search", "held-out"]

AUTOTTS_COMMIT = "3cd98d12c7cb999afc5c21381f22ea5811ac6c05"
AUTOTTS_URL = (
    "https://raw.githubusercontent.com/zhengkid/AutoTTS/"
    f"{AUTOTTS_COMMIT}/efficient_reasoning_controller/test_environment/{{model}}/{{benchmark}}.json"
)


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    collection: str
    model: str
    benchmark: str
    role: Role
    url: str
    sha256: str

    @property
    def relative_path(self) -> str:
        return f"{self.collection}/{self.model}/{self.benchmark}.json"


_AUTOTTS_SHA256 = {
    ("Qwen3-0.6B", "aime24"): "6b4297405b494c84afb05b337af315c617513eb2580ed327ca7040b760988a7d",
    ("Qwen3-0.6B", "aime25"): "33f65695ecc78fb777f53bead2128ba1249772b3608c6a22bd4e674488d453e0",
    ("Qwen3-0.6B", "hmmt25"): "7e7c574aaedcd05b36b801c11e3bdd7e2cfd3b7309a2376967cc1e8bc01ebebc",
    ("Qwen3-1.7B", "aime24"): "5d6c9a63e26c7cf60181c53b67adc7017db146bf2ff1e3b9784673cb97313ad1",
    ("Qwen3-1.7B", "aime25"): "77bfb8e8589d0c0da3ccb6d5852c37bf23273e047664a5086d492896a5ae2496",
    ("Qwen3-1.7B", "hmmt25"): "87d158ecdc3551e375891d19917ce02f8fdcadd778afe99ad2ae179f872fb298",
    ("Qwen3-4B", "aime24"): "d99ce8711c60605b7555a7fc6e66cc5ae0abe7ce6b36bf4e712802d26aa7ffdd",
    ("Qwen3-4B", "aime25"): "977f56022b0cd225bd0233aff1f7b39740c45ec79693475ada8c766ee4097a3f",
    ("Qwen3-4B", "hmmt25"): "4bc0b51765a0fc5a3d9a462b1ff317b70577d478c5cb5e06f20fe9d5b73b4b1c",
    ("Qwen3-8B", "aime24"): "be725bdacc64712088d5c947b9b869471ad659c8465c3e5b6e9ff5191bfd0128",
    ("Qwen3-8B", "aime25"): "969bba7bb0276f66d421d069e078e20a9b3ff4a59977393a2733a97ca6e4566c",
    ("Qwen3-8B", "hmmt25"): "561efa74e3dd4ca79b67463c7c5d449762824b4534bdc7267b19d9af29d2a9a9",
}
_AUTOTTS_ROLES: dict[str, Role] = {"aime24": "search", "aime25": "held-out", "hmmt25": "held-out"}

CATALOG: dict[str, CatalogEntry] = {
    f"autotts/{model.lower()}/{benchmark}": CatalogEntry(
        name=f"autotts/{model.lower()}/{benchmark}",
        collection="autotts",
        model=model,
        benchmark=benchmark,
        role=_AUTOTTS_ROLES[benchmark],
        url=AUTOTTS_URL.format(model=model, benchmark=benchmark),
        sha256=sha,
    )
    for (model, benchmark), sha in _AUTOTTS_SHA256.items()
}

# Named groups usable wherever a list of stores is expected.
GROUPS: dict[str, tuple[str, ...]] = {
    "all": tuple(CATALOG),
    "search": tuple(name for name, entry in CATALOG.items() if entry.role == "search"),
    "held-out": tuple(name for name, entry in CATALOG.items() if entry.role == "held-out"),
}


_BY_SHA256 = {entry.sha256: entry for entry in CATALOG.values()}


def identify(sha256: str, named: CatalogEntry | None = None) -> CatalogEntry | None:
    """The catalog store a file is: by content when its sha256 is pinned here, else by name.

    Content wins, so a catalog store copied under another name or path is still that store.
    """
    return _BY_SHA256.get(sha256, named)


def catalog_entry(name: str) -> CatalogEntry:
    try:
        return CATALOG[name.lower()]
    except KeyError:
        raise unknown_store_error(name) from None


def close_store_names(name: str) -> list[str]:
    """Catalog names that look like a mistyped `name` (best first)."""
    return difflib.get_close_matches(name.lower(), list(CATALOG), n=2, cutoff=0.75)


def unknown_store_error(name: str) -> StoreError:
    """The one-sentence error for a name not in the catalog, with the likely intended name."""
    close = " or ".join(f"'{match}'" for match in close_store_names(name))
    hint = f" (did you mean {close}?)" if close else ""
    return StoreError(f"unknown store name '{name}'{hint}; `tts-gym stores` lists the known ones.")


def expand_store_names(specs: list[str] | tuple[str, ...]) -> list[str]:
    """Expand group names (`all`, `search`, `held-out`) in a list of store names or paths."""
    expanded: list[str] = []
    for spec in specs:
        expanded.extend(GROUPS.get(spec, (spec,)))
    return list(dict.fromkeys(expanded))
