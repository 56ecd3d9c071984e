"""Held-out known by its questions: fingerprints in the catalog, copies in any disguise refused.

A store is held out when it shares a question (normalised text and gold answer) with a
held-out store; the catalog carries those fingerprints, so the check never reads a held-out
store. The same store given twice is selected once.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.support import HELD_OUT_VARIANTS, held_out_variant
from tts_gym.errors import StoreError
from tts_gym.store import CATALOG, identify_stores, load_store, select_stores, shared_questions
from tts_gym.store.fingerprints import catalog_table, question_fingerprint
from tts_gym.store.synthetic import generate_store, write_store

SEARCH = "autotts/qwen3-8b/aime24"
HELD_OUT = [name for name, entry in CATALOG.items() if entry.role == "held-out"]
ONE_PER_BENCHMARK = ["autotts/qwen3-8b/aime25", "autotts/qwen3-0.6b/hmmt25"]
"""Every model's store of a benchmark holds the same questions (the first test checks it)."""


def test_the_catalog_carries_the_held_out_questions_of_the_published_stores(
    shared_replay: Path,
) -> None:
    table = catalog_table(str(shared_replay))
    assert set(table) == {"aime25", "hmmt25"}
    for name in HELD_OUT:
        entry = CATALOG[name]
        assert entry.fingerprints == frozenset(table[entry.benchmark])
        assert len(entry.fingerprints) == 30
    searched = frozenset().union(*(q for q in table.values()))
    for name in ("search",):
        for store in select_stores(name):
            assert not {question_fingerprint(q.text, q.gold) for q in store.questions} & searched


def test_normalisation_sees_through_layout_but_not_other_questions() -> None:
    text, gold = "Find  the sum of all\nbases $b>9$.", "70"
    same = question_fingerprint("find the sum of all bases $b>9$. ", " 70")
    assert question_fingerprint(text, gold) == same
    assert question_fingerprint("ｆｉｎｄ the sum of all bases $b>9$.", gold) == same  # NFKC
    assert question_fingerprint(text, "71") != same
    assert question_fingerprint(text + " Explain.", gold) != same


@pytest.mark.parametrize("variant", HELD_OUT_VARIANTS)
@pytest.mark.parametrize("name", ONE_PER_BENCHMARK)
def test_a_held_out_store_in_disguise_is_refused_with_one_sentence(
    shared_replay: Path, tmp_path: Path, name: str, variant: str
) -> None:
    source = shared_replay / CATALOG[name].relative_path
    copy = held_out_variant(source, variant, tmp_path / "innocent.json")
    shares = 20 if variant == "20-question subset" else 30
    benchmark = CATALOG[name].benchmark
    for select in (select_stores, identify_stores):
        with pytest.raises(StoreError) as caught:
            select([SEARCH, str(copy)], refuse_held_out="a discovery search")
        assert str(caught.value) == (
            f"'{copy}' shares {shares} of its {shares} questions with the held-out {benchmark} "
            f"stores (autotts/<model>/{benchmark}): a discovery search never reads held-out "
            "stores."
        )
    (loaded,) = select_stores([str(copy)])  # where held-out stores are allowed, it loads
    assert loaded.n_questions == shares


def test_one_held_out_question_among_others_is_enough(shared_replay: Path, tmp_path: Path) -> None:
    search = json.loads((shared_replay / CATALOG[SEARCH].relative_path).read_text())
    held = json.loads((shared_replay / CATALOG[HELD_OUT[0]].relative_path).read_text())
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps([*search, held[7]]))
    with pytest.raises(StoreError, match=re.escape("shares 1 of its 31 questions")):
        select_stores([str(mixed)], refuse_held_out="training")


def test_the_same_store_twice_is_selected_once(shared_replay: Path, tmp_path: Path) -> None:
    copy = tmp_path / "again.json"
    shutil.copyfile(shared_replay / CATALOG[SEARCH].relative_path, copy)
    synthetic = write_store(generate_store(2, 3, seed=0), tmp_path / "mine.json")
    twin = write_store(generate_store(2, 3, seed=0), tmp_path / "twin.json")
    specs = [SEARCH, str(shared_replay / CATALOG[SEARCH].relative_path), str(copy)]
    stores = select_stores([*specs, str(synthetic), str(twin)])
    assert [s.name for s in stores] == [SEARCH, "mine"]
    refs = identify_stores([*specs, str(synthetic), str(twin)], refuse_held_out="training")
    assert [r.name for r in refs] == [SEARCH, str(synthetic)]


def test_overlap_between_searched_and_held_out_stores_is_by_question(
    shared_replay: Path, tmp_path: Path
) -> None:
    source = shared_replay / CATALOG[SEARCH].relative_path
    disguised = held_out_variant(source, "20-question subset", tmp_path / "x.json")
    searched = select_stores([str(disguised)])
    assert shared_questions(searched, select_stores([SEARCH, HELD_OUT[0]])) == {SEARCH: 20}
    assert shared_questions(select_stores([str(disguised)]), [load_store(HELD_OUT[0])]) == {}
