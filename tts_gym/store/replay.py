"""Replay stores in memory: validated, with answers interned to small integers per question.

The interchange format is the AutoTTS JSON (see `traces/FORMAT.md`). In memory every
question keeps plain tuples of ints rather than numpy arrays: the engine reads one element at
a time in Python, where tuple indexing is several times faster than numpy scalar access.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from tts_gym.errors import StoreError
from tts_gym.store.catalog import CatalogEntry
from tts_gym.store.paths import resolve_store

ERR = "ERR"
CONFIDENCE_KEY = "segment_confidence"
"""Optional per-question key (ignored by AutoTTS readers): per branch, one float per probe."""


@dataclass(frozen=True)
class Question:
    """One question's cached branches. Answer ids index `answers`; ids follow first appearance."""

    index: int
    text: str
    gold: str
    probe_freq: int
    answers: tuple[str, ...]
    probes: tuple[tuple[int, ...], ...]  # per branch: answer id after 1, 2, ... intervals
    tokens: tuple[int, ...]  # per branch: whole length in tokens
    finals: tuple[int, ...]  # per branch: final answer id
    confidence: tuple[tuple[float, ...], ...] | None = None  # per branch, per probe
    gold_id: int = field(init=False)

    def __post_init__(self) -> None:
        try:
            gold_id = self.answers.index(self.gold)
        except ValueError:
            gold_id = -1
        object.__setattr__(self, "gold_id", gold_id)

    @property
    def n_branches(self) -> int:
        return len(self.tokens)

    def is_correct(self, answer: str | None) -> bool:
        return answer is not None and answer == self.gold


@dataclass(frozen=True)
class ReplayStore:
    name: str
    path: Path
    questions: tuple[Question, ...]
    model: str = ""
    benchmark: str = ""
    role: str = ""

    @property
    def n_questions(self) -> int:
        return len(self.questions)

    @property
    def has_confidence(self) -> bool:
        return any(q.confidence is not None for q in self.questions)

    @property
    def max_branches(self) -> int:
        return max(q.n_branches for q in self.questions)


def load_store(spec: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> ReplayStore:
    """Load a store by catalog name (`autotts/qwen3-8b/aime24`) or by path; cached per file."""
    path, entry = resolve_store(spec, data_dir)
    stat = path.stat()
    return _load_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size, entry)


@lru_cache(maxsize=32)
def _load_cached(path: str, _mtime: int, _size: int, entry: CatalogEntry | None) -> ReplayStore:
    file = Path(path)
    try:
        with open(file, encoding="utf-8") as handle:
            raw = json.load(handle)
    except json.JSONDecodeError as error:
        raise StoreError(f"{file}: not valid JSON ({error.msg} at line {error.lineno}).") from None
    except (OSError, UnicodeDecodeError) as error:
        raise StoreError(f"{file}: cannot be read ({error}).") from None
    questions = parse_questions(raw, file)
    if entry is not None:
        return ReplayStore(entry.name, file, questions, entry.model, entry.benchmark, entry.role)
    return ReplayStore(file.stem, file, questions)


def parse_questions(raw: Any, source: str | os.PathLike) -> tuple[Question, ...]:
    """Validate AutoTTS JSON already parsed into Python objects and intern its answers."""
    if not isinstance(raw, list) or not raw:
        raise StoreError(f"{source}: expected a non-empty JSON list of questions.")
    return tuple(_parse_question(item, index, source) for index, item in enumerate(raw))


def _parse_question(item: Any, index: int, source: str | os.PathLike) -> Question:
    def fail(field_name: str, problem: str) -> StoreError:
        return StoreError(f"{source}: question {index}: field '{field_name}' {problem}.")

    if not isinstance(item, dict):
        raise StoreError(f"{source}: question {index}: expected a JSON object.")
    for key in ("question", "gold_answer", "probe_freq", "each_branch"):
        if key not in item:
            raise fail(key, "is missing")
    if not isinstance(item["question"], str):
        raise fail("question", "must be a string")
    if not isinstance(item["gold_answer"], str):
        raise fail("gold_answer", "must be a string")
    probe_freq = item["probe_freq"]
    if not _is_int(probe_freq) or probe_freq <= 0:
        raise fail("probe_freq", f"must be a positive integer, got {probe_freq!r}")
    branches = item["each_branch"]
    if not isinstance(branches, list):
        raise fail("each_branch", "must be a list")
    if not branches:
        raise fail("each_branch", "is an empty list")

    ids: dict[str, int] = {}
    intern = ids.setdefault
    probes, tokens, finals = [], [], []
    for b, branch in enumerate(branches):
        where = f"each_branch[{b}]"
        if not isinstance(branch, list) or len(branch) != 3:
            raise fail(where, "must be [probe_list, branch_tokens, final_answer]")
        probe_list, length, final = branch
        if not isinstance(probe_list, list):
            raise fail(f"{where}[0]", "(probe_list) must be a list of strings")
        for k, answer in enumerate(probe_list):
            if not isinstance(answer, str):
                raise fail(f"{where}[0][{k}]", f"must be a string answer, got {answer!r}")
        if not _is_int(length) or length < 0:
            raise fail(
                f"{where}[1]", f"(branch_tokens) must be a non-negative integer, got {length!r}"
            )
        if not isinstance(final, str):
            raise fail(f"{where}[2]", f"(final_answer) must be a string, got {final!r}")
        probes.append(tuple(intern(a, len(ids)) for a in probe_list))
        tokens.append(length)
        finals.append(intern(final, len(ids)))

    confidence = None
    if CONFIDENCE_KEY in item:
        confidence = _parse_confidence(item[CONFIDENCE_KEY], probes, fail)
    return Question(
        index=index,
        text=item["question"],
        gold=item["gold_answer"],
        probe_freq=probe_freq,
        answers=tuple(ids),
        probes=tuple(probes),
        tokens=tuple(tokens),
        finals=tuple(finals),
        confidence=confidence,
    )


def _parse_confidence(
    raw: Any, probes: list[tuple[int, ...]], fail
) -> tuple[tuple[float, ...], ...]:
    if not isinstance(raw, list) or len(raw) != len(probes):
        raise fail(CONFIDENCE_KEY, f"must be a list with one entry per branch ({len(probes)})")
    parsed = []
    for b, (values, branch_probes) in enumerate(zip(raw, probes, strict=True)):
        if (
            not isinstance(values, list)
            or len(values) != len(branch_probes)
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        ):
            raise fail(
                f"{CONFIDENCE_KEY}[{b}]",
                f"must be a list of {len(branch_probes)} numbers (one per probe)",
            )
        parsed.append(tuple(float(v) for v in values))
    return tuple(parsed)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
