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

    @property
    def fingerprints(self) -> frozenset[str]:
        """Its questions' fingerprints, where the catalog carries them (held-out stores)."""
        return _HELD_OUT_QUESTIONS.get(self.benchmark, frozenset())


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
# The held-out questions by fingerprint (`tts_gym.store.fingerprints`, which computed this
# table from the published stores): every model's store of a benchmark holds the same ones.
_HELD_OUT_FINGERPRINTS: dict[str, tuple[str, ...]] = {
    "aime25": (
        "04be0189f4cd6b0b",
        "05daf646099a09c7",
        "1ecfb733cfd5667e",
        "2a5354d488443778",
        "4200830d52451f99",
        "5556b9b00a36b73c",
        "61c0bc6741e9f5d1",
        "727065684011aca0",
        "72fd202cd1f5a6f1",
        "8020377b0877485c",
        "873d31dd53ef69cc",
        "914879dc2fec86b6",
        "956d3b05daa1f139",
        "9a049a0af6719e91",
        "9fb7b60022fbeb3f",
        "a616b4cf3e58d2f7",
        "ad9c8e570f75239d",
        "ae4669590af0f34d",
        "ba0fe50d4cf42c44",
        "bfdfb75ae000cd31",
        "cf4130743604481f",
        "d4251b457f1fca01",
        "d97df78e46342124",
        "e55c0f83b7685c84",
        "ea8505bf36d32af7",
        "f33e93b6fdac8979",
        "f39d9cb8999c239f",
        "f52e14acd00a1d40",
        "fbad70f3472721a5",
        "fde33ec97bec379e",
    ),
    "hmmt25": (
        "05a1857ea24dd274",
        "0fccc5a4f3a571ed",
        "1bdfa5538058a1b7",
        "284fa4b5e013349a",
        "2de4f535071dcb35",
        "3542527346365bb5",
        "3ce36e2ead1a8eb0",
        "5d1b0787bfe90f82",
        "6841f42f288bdd8e",
        "6b89c5b403b9253c",
        "6cde7c0adaf3ba75",
        "6f786ee7f612e823",
        "72888284c22e1d92",
        "80b806c51816c0f2",
        "86fd05daa3c4521c",
        "8724c31df4ef6869",
        "8ecece282270e611",
        "94e72ec715dcad42",
        "955b8b0aaeb22247",
        "96a48fbdc5ac5191",
        "9edb0b08f5f49566",
        "a4acfbc1a411c9bd",
        "ae1d61c48349a159",
        "c063813a0151a700",
        "c6072b7071af91f8",
        "d342fd55a17780cf",
        "d79903a0e3691a1f",
        "df8e2632b51a8fad",
        "e44cbed796b1a34c",
        "ee3f85ce3ea45cbd",
    ),
}
_HELD_OUT_QUESTIONS = {name: frozenset(prints) for name, prints in _HELD_OUT_FINGERPRINTS.items()}
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


def held_out_shares(fingerprints: frozenset[str]) -> dict[str, int]:
    """Per held-out benchmark, how many of these question fingerprints it holds (if any)."""
    shares = {name: len(fingerprints & held) for name, held in _HELD_OUT_QUESTIONS.items()}
    return {name: n for name, n in shares.items() if n}


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
