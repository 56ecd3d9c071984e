"""Store loading: validation sentences, answer interning, the catalog and the data folder."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tts_gym.errors import StoreError
from tts_gym.store import CATALOG, GROUPS, data_dir, expand_store_names, load_store
from tts_gym.store.files import sha256_file
from tts_gym.store.replay import CONFIDENCE_KEY
from tts_gym.store.synthetic import generate_store, write_store


def corrupt(tmp_path: Path, change: Callable[[dict], object]) -> Path:
    """A small synthetic store whose question 1 is broken by `change`."""
    store = generate_store(3, 4, seed=0, confidence=True)
    change(store[1])
    return write_store(store, tmp_path / "bad.json")


def setter(key: str, value: object) -> Callable[[dict], None]:
    return lambda q: q.__setitem__(key, value)


def branch_setter(branch: int, slot: int, value: object) -> Callable[[dict], None]:
    return lambda q: q["each_branch"][branch].__setitem__(slot, value)


MALFORMED = {
    "missing question": (lambda q: q.pop("question"), "question", "is missing"),
    "missing gold_answer": (lambda q: q.pop("gold_answer"), "gold_answer", "is missing"),
    "missing probe_freq": (lambda q: q.pop("probe_freq"), "probe_freq", "is missing"),
    "missing each_branch": (lambda q: q.pop("each_branch"), "each_branch", "is missing"),
    "question not a string": (setter("question", 3), "question", "must be a string"),
    "gold not a string": (setter("gold_answer", 17), "gold_answer", "must be a string"),
    "each_branch not a list": (setter("each_branch", {}), "each_branch", "must be a list"),
    "empty branch list": (setter("each_branch", []), "each_branch", "is an empty list"),
    "zero probe_freq": (setter("probe_freq", 0), "probe_freq", "positive integer"),
    "negative probe_freq": (setter("probe_freq", -500), "probe_freq", "positive integer"),
    "float probe_freq": (setter("probe_freq", 500.0), "probe_freq", "positive integer"),
    "bool probe_freq": (setter("probe_freq", True), "probe_freq", "positive integer"),
    "branch not a triple": (
        lambda q: q["each_branch"].__setitem__(2, [[], 5]),
        "each_branch[2]",
        "[probe_list, branch_tokens, final_answer]",
    ),
    "probe_list not a list": (branch_setter(1, 0, "7"), "each_branch[1][0]", "list of strings"),
    "negative tokens": (branch_setter(2, 1, -1), "each_branch[2][1]", "non-negative integer"),
    "float tokens": (branch_setter(2, 1, 1.5), "each_branch[2][1]", "non-negative integer"),
    "non-string probe answer": (
        lambda q: q["each_branch"][3][0].__setitem__(0, 7),
        "each_branch[3][0][0]",
        "must be a string",
    ),
    "non-string final answer": (branch_setter(0, 2, None), "each_branch[0][2]", "must be a string"),
    "confidence per branch": (
        lambda q: q[CONFIDENCE_KEY].pop(),
        CONFIDENCE_KEY,
        "one entry per branch",
    ),
    "confidence per probe": (
        lambda q: q[CONFIDENCE_KEY][1].append(0.5),
        f"{CONFIDENCE_KEY}[1]",
        "one per probe",
    ),
}


@pytest.mark.parametrize("change, field, problem", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_store_names_file_question_and_field(
    tmp_path: Path, change: Callable[[dict], object], field: str, problem: str
) -> None:
    path = corrupt(tmp_path, change)
    with pytest.raises(StoreError) as caught:
        load_store(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: question 1: field '{field}' ")
    assert problem in message
    assert "\n" not in message and message.endswith(".")


def test_not_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "page.json"
    path.write_text("<html>not found</html>")
    with pytest.raises(StoreError, match=re.escape(f"{path}: not valid JSON")):
        load_store(path)


@pytest.mark.parametrize("raw", [{}, [], "x", [[1, 2]]])
def test_wrong_top_level_shape(tmp_path: Path, raw: object) -> None:
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(StoreError, match=re.escape(str(path))):
        load_store(path)


def test_missing_file_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store file at '.*nothing.json'"):
        load_store(tmp_path / "nothing.json")
    with pytest.raises(StoreError, match="unknown store name 'autotts/qwen3-9b/aime24' .*mean"):
        load_store("autotts/qwen3-9b/aime24")
    with pytest.raises(StoreError, match="did you mean 'autotts/qwen3-8b/aime24'"):
        load_store("qwen3-8b/aime24")


def test_missing_catalog_store_says_how_to_fetch_it(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=re.escape("`tts-gym fetch autotts/qwen3-8b/aime24`")):
        load_store("autotts/qwen3-8b/aime24", data_dir=tmp_path)


def test_answers_are_interned_in_order_of_first_appearance(tmp_path: Path) -> None:
    raw = generate_store(4, 6, seed=9, all_err_questions=1, zero_probe_share=0.2)
    store = load_store(write_store(raw, tmp_path / "s.json"))
    for question, item in zip(store.questions, raw, strict=True):
        seen = [a for probes, _, final in item["each_branch"] for a in (*probes, final)]
        assert question.answers == tuple(dict.fromkeys(seen))
        for b, (probes, tokens, final) in enumerate(item["each_branch"]):
            assert [question.answers[i] for i in question.probes[b]] == probes
            assert question.answers[question.finals[b]] == final
            assert question.tokens[b] == tokens
        gold_seen = item["gold_answer"] in seen
        assert question.gold_id == (
            question.answers.index(item["gold_answer"]) if gold_seen else -1
        )


def test_real_store_loads_by_name_and_interns(shared_replay: Path) -> None:
    store = load_store("autotts/qwen3-8b/aime24", data_dir=shared_replay)
    assert (store.model, store.benchmark, store.role) == ("Qwen3-8B", "aime24", "search")
    assert store.n_questions == 30 and store.max_branches == 128 and not store.has_confidence
    raw = json.loads(store.path.read_text())
    for question, item in zip(store.questions, raw, strict=True):
        assert [question.answers[i] for i in question.finals] == item["final_answers_trace"]
        assert question.is_correct(item["gold_answer"])
    assert load_store("autotts/qwen3-8b/aime24", data_dir=shared_replay) is store  # cached


def test_catalog_has_the_twelve_pinned_stores(shared_replay: Path) -> None:
    source = (shared_replay / "autotts" / "SOURCE.md").read_text()
    published = dict(
        re.findall(r"^\| (Qwen3-[\d.]+B \| \w+) \| [\w-]+ \| ([0-9a-f]{64}) \|", source, re.M)
    )
    assert len(CATALOG) == len(published) == 12
    for name, entry in CATALOG.items():
        assert name == f"autotts/{entry.model.lower()}/{entry.benchmark}"
        assert published[f"{entry.model} | {entry.benchmark}"] == entry.sha256
        assert entry.url.endswith(entry.relative_path.removeprefix("autotts/"))
        assert "3cd98d12c7cb999afc5c21381f22ea5811ac6c05" in entry.url
        assert entry.role == ("search" if entry.benchmark == "aime24" else "held-out")
        assert sha256_file(shared_replay / entry.relative_path) == entry.sha256


def test_groups_expand_without_duplicates() -> None:
    assert len(GROUPS["search"]) == 4 and len(GROUPS["held-out"]) == 8
    names = expand_store_names(["autotts/qwen3-8b/aime24", "search", "held-out"])
    assert sorted(names) == sorted(CATALOG)


def test_data_folder_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTS_GYM_DATA", str(tmp_path / "env"))
    assert data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert data_dir() == tmp_path / "env"
    monkeypatch.delenv("TTS_GYM_DATA")
    assert data_dir().name == "tts-gym"
