"""The store selector: specs to stores, identity by content, and the held-out rule."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import tts_gym.store.replay as replay
from tts_gym.errors import StoreError
from tts_gym.store import (
    CATALOG,
    GROUPS,
    identify_stores,
    load_store,
    select_stores,
)
from tts_gym.store.files import sha256_file
from tts_gym.store.synthetic import generate_store, write_store

HELD_OUT = "autotts/qwen3-4b/hmmt25"
SEARCH = "autotts/qwen3-4b/aime24"


@pytest.fixture
def no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any store is parsed (refusals must come first)."""

    def parse(*args: object) -> None:
        raise AssertionError("a store was parsed")

    monkeypatch.setattr(replay, "parse_questions", parse)


def copy_of(shared_replay: Path, name: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shared_replay / CATALOG[name].relative_path, dest)
    return dest


def test_names_groups_and_paths_become_stores(shared_replay: Path, tmp_path: Path) -> None:
    synthetic = write_store(generate_store(2, 3, seed=0), tmp_path / "mine.json")
    stores = select_stores(["search", SEARCH, str(synthetic)])  # SEARCH is in the group too
    assert [s.name for s in stores] == [*GROUPS["search"], "mine"]
    for store in stores[:-1]:
        assert store.sha256 == CATALOG[store.name].sha256 and store.role == "search"
    assert stores[-1].sha256 == sha256_file(synthetic) and stores[-1].role == ""
    assert select_stores(SEARCH)[0] is load_store(SEARCH)  # one spec, and the loader's cache


def test_a_renamed_copy_is_the_catalog_store(shared_replay: Path, tmp_path: Path) -> None:
    copy = copy_of(shared_replay, HELD_OUT, tmp_path / "elsewhere" / "my-store.json")
    (store,) = select_stores([str(copy)])
    assert (store.name, store.role, store.path) == (HELD_OUT, "held-out", copy)
    (ref,) = identify_stores(str(copy))
    assert (ref.name, ref.entry, ref.sha256) == (HELD_OUT, CATALOG[HELD_OUT], store.sha256)


REFUSED = {
    "by name": (lambda d, t: HELD_OUT, f"store '{HELD_OUT}' is held out: training never"),
    "by group": (lambda d, t: "held-out", "store 'autotts/qwen3-0.6b/aime25' is held out"),
    "by its data-folder path": (
        lambda d, t: str(d / CATALOG[HELD_OUT].relative_path),
        f"hmmt25.json' is the held-out store '{HELD_OUT}': training",
    ),
    "a renamed copy": (
        lambda d, t: str(copy_of(d, HELD_OUT, t / "innocent.json")),
        f"innocent.json' is the held-out store '{HELD_OUT}' (same sha256)",
    ),
}


@pytest.mark.parametrize("spec, expected", REFUSED.values(), ids=REFUSED.keys())
def test_held_out_stores_are_refused_before_parsing(
    shared_replay: Path, tmp_path: Path, no_parsing: None, spec, expected: str
) -> None:
    given = spec(shared_replay, tmp_path)
    for select in (select_stores, identify_stores):
        with pytest.raises(StoreError) as caught:
            select([SEARCH, given], refuse_held_out="training")
        message = str(caught.value)
        assert expected in message and message.endswith("never reads held-out stores.")
        assert "\n" not in message


def test_a_modified_held_out_store_at_its_place_is_still_held_out(
    shared_replay: Path, tmp_path: Path, no_parsing: None
) -> None:
    data = tmp_path / "data"
    place = copy_of(shared_replay, HELD_OUT, data / CATALOG[HELD_OUT].relative_path)
    place.write_bytes(place.read_bytes().replace(b'"probe_freq": 500', b'"probe_freq": 501', 1))
    for spec in (HELD_OUT, str(place)):
        with pytest.raises(StoreError, match=re.escape(f"store '{HELD_OUT}'")):
            identify_stores([spec], data, refuse_held_out="training")


def test_held_out_content_under_a_search_name_is_refused(
    shared_replay: Path, tmp_path: Path, no_parsing: None
) -> None:
    data = tmp_path / "data"
    copy_of(shared_replay, HELD_OUT, data / CATALOG[SEARCH].relative_path)
    with pytest.raises(StoreError, match=f"'{SEARCH}' is the held-out store '{HELD_OUT}'"):
        select_stores([SEARCH], data, refuse_held_out="training")


def test_a_held_out_name_is_refused_even_when_not_downloaded(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is held out"):
        identify_stores(["held-out"], tmp_path, refuse_held_out="training")


def test_loaded_held_out_stores_are_refused_too(shared_replay: Path) -> None:
    store = load_store(HELD_OUT)
    assert select_stores([store]) == [store]
    with pytest.raises(StoreError, match=f"store '{HELD_OUT}' is held out: a search never"):
        select_stores([store], refuse_held_out="a search")


def test_held_out_stores_load_when_allowed(shared_replay: Path) -> None:
    stores = select_stores(["held-out"])
    assert [s.name for s in stores] == list(GROUPS["held-out"])
    assert {s.role for s in stores} == {"held-out"}


def test_no_stores_is_one_sentence() -> None:
    with pytest.raises(StoreError, match="no stores given"):
        select_stores([])
