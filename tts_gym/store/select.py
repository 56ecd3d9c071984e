"""The one door from store specs (names, groups, paths) to stores, and the held-out rule.

Everything that turns specs into stores comes through here: the env, the evaluation harness,
RL training and discovery. A store is identified by its content, twice over: a file whose
sha256 is a catalog store's *is* that store, whatever its path or name; and a store that holds
a held-out question (by its fingerprint: normalised text and gold answer, see
`fingerprints`) shares in the held-out set, whatever else changed (serialisation, order,
a branch, a subset). A caller that must not read held-out stores (training, a discovery
search) names its activity in `refuse_held_out`; such a store is then refused with one
sentence: by name before any file is opened, by sha256 before it is parsed, by its questions
as soon as it is. The same store given twice (by name and by path, or two copies) is
selected once.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tts_gym.errors import StoreError
from tts_gym.store.catalog import (
    CATALOG,
    CatalogEntry,
    expand_store_names,
    held_out_shares,
    identify,
)
from tts_gym.store.files import sha256_file
from tts_gym.store.fingerprints import store_fingerprints
from tts_gym.store.paths import catalog_path, resolve_store
from tts_gym.store.replay import ReplayStore, check_store_size, load_store

Specs = str | os.PathLike | ReplayStore | Sequence[str | os.PathLike | ReplayStore]


@dataclass(frozen=True)
class StoreRef:
    """A spec resolved to a file and identified by its content; nothing parsed yet."""

    spec: str
    path: Path
    named: CatalogEntry | None  # the catalog store the spec names (by name or data-folder path)
    sha256: str = ""  # of the file's bytes; empty until hashed

    @property
    def entry(self) -> CatalogEntry | None:
        """The catalog store this file is: by content, else the one the spec names."""
        return identify(self.sha256, self.named)

    @property
    def name(self) -> str:
        return self.entry.name if self.entry is not None else self.spec


def identify_stores(
    specs: Specs,
    data_dir: str | os.PathLike | None = None,
    *,
    refuse_held_out: str | None = None,
) -> list[StoreRef]:
    """Resolve and hash every spec (groups expanded; loaded stores are skipped).

    `refuse_held_out` names the activity that must not read held-out stores (`"training"`):
    a spec naming one (or its data-folder path) is refused before any file is opened, a file
    whose content is one as soon as it is hashed, and a file that is no catalog store as soon
    as it is parsed and found to hold a held-out question. A file given twice is listed once.
    """
    specs = [spec for spec in _expand(specs) if not isinstance(spec, ReplayStore)]
    if refuse_held_out:  # by name first: a held-out store need not even be in the data folder
        named = [StoreRef(spec, Path(spec), CATALOG.get(spec.lower())) for spec in specs]
        refuse_held_out_stores(named, refuse_held_out)
    refs = []
    for spec in specs:
        path, named = resolve_store(spec, data_dir)
        refs.append(StoreRef(spec, path, named or _catalog_file(path, data_dir)))
    if refuse_held_out:
        refuse_held_out_stores(refs, refuse_held_out)
    hashed: dict[str, StoreRef] = {}
    for ref in refs:
        check_store_size(ref.path, ref.path.stat().st_size)
        ref = dataclasses.replace(ref, sha256=sha256_file(ref.path))
        if refuse_held_out:
            refuse_held_out_stores([ref], refuse_held_out)
            if identify(ref.sha256) is None:  # unknown content: read its questions
                _refuse_held_out_questions(load_store(ref.path), ref.spec, refuse_held_out)
        hashed.setdefault(ref.sha256, ref)
    return list(hashed.values())


def select_stores(
    specs: Specs,
    data_dir: str | os.PathLike | None = None,
    *,
    refuse_held_out: str | None = None,
) -> list[ReplayStore]:
    """Turn names, groups (`search`, `held-out`, `all`) and paths into loaded stores.

    Loaded `ReplayStore`s in `specs` pass through (checked like the others). With
    `refuse_held_out` (the activity, e.g. `"training"`), every held-out store is refused with
    one sentence, see `identify_stores`. Stores of the same content are selected once.
    """
    expanded = _expand(specs)
    if refuse_held_out:
        loaded = [s for s in expanded if isinstance(s, ReplayStore)]
        refuse_held_out_stores(loaded, refuse_held_out)
        identify_stores(expanded, data_dir, refuse_held_out=refuse_held_out)
    stores = [s if isinstance(s, ReplayStore) else load_store(s, data_dir) for s in expanded]
    if refuse_held_out:
        refuse_held_out_stores(stores, refuse_held_out)  # the same content, unless a file changed
    return _once(stores)


def refuse_held_out_stores(stores: Iterable[StoreRef | ReplayStore], activity: str) -> None:
    """Raise one sentence naming the first held-out store among `stores`, if there is one.

    A store is held out when its content is a held-out catalog store, or when it was named
    (or loaded) as one; a loaded store also when it holds a held-out question.
    """
    for store in stores:
        by_content = identify(store.sha256)
        if by_content is not None and by_content.role == "held-out":
            raise _refusal(_spec(store), by_content, activity, by_content=True)
        named = store.named if isinstance(store, StoreRef) else CATALOG.get(store.name)
        if named is not None and named.role == "held-out":
            raise _refusal(_spec(store), named, activity, by_content=False)
        if isinstance(store, ReplayStore):
            _refuse_held_out_questions(store, _spec(store), activity)


def shared_questions(these: Iterable[ReplayStore], those: Iterable[ReplayStore]) -> dict[str, int]:
    """Per store of `those` that shares questions with any of `these`: how many it shares."""
    seen = frozenset().union(*(store_fingerprints(store.questions) for store in these))
    shared = {store.name: len(store_fingerprints(store.questions) & seen) for store in those}
    return {name: n for name, n in shared.items() if n}


def _refuse_held_out_questions(store: ReplayStore, spec: str, activity: str) -> None:
    shares = held_out_shares(store_fingerprints(store.questions))
    if shares:
        benchmark, n = max(shares.items(), key=lambda item: item[1])
        raise StoreError(
            f"'{spec}' shares {n} of its {store.n_questions} question"
            f"{'s' if store.n_questions != 1 else ''} with the held-out {benchmark} stores "
            f"(autotts/<model>/{benchmark}): {activity} never reads held-out stores."
        )


def _once(stores: list[ReplayStore]) -> list[ReplayStore]:
    """Each content once (the first spec that named it wins); unhashed stores all kept."""
    seen: set[str] = set()
    kept = []
    for store in stores:
        if store.sha256 and store.sha256 in seen:
            continue
        seen.add(store.sha256)
        kept.append(store)
    return kept


def _expand(specs: Specs) -> list[str | ReplayStore]:
    """Groups expanded, repeated names dropped (stores compare by identity, not content)."""
    if isinstance(specs, (str, os.PathLike, ReplayStore)):
        specs = [specs]
    expanded: list[str | ReplayStore] = []
    seen: set[str] = set()
    for spec in specs:
        if isinstance(spec, ReplayStore):
            expanded.append(spec)
            continue
        for name in expand_store_names([os.fspath(spec)]):
            if name not in seen:
                seen.add(name)
                expanded.append(name)
    if not expanded:
        raise StoreError("no stores given; name at least one store, group or file.")
    return expanded


def _catalog_file(path: Path, data_dir: str | os.PathLike | None) -> CatalogEntry | None:
    """The catalog store whose place in the data folder `path` is, if any."""
    resolved = path.resolve()
    for entry in CATALOG.values():
        if catalog_path(entry, data_dir).resolve() == resolved:
            return entry
    return None


def _spec(store: StoreRef | ReplayStore) -> str:
    return store.spec if isinstance(store, StoreRef) else store.name


def _refusal(spec: str, entry: CatalogEntry, activity: str, *, by_content: bool) -> StoreError:
    if spec.lower() == entry.name:
        subject = f"store '{entry.name}' is held out"
    else:
        how = " (same sha256)" if by_content else ""
        subject = f"'{spec}' is the held-out store '{entry.name}'{how}"
    return StoreError(f"{subject}: {activity} never reads held-out stores.")
