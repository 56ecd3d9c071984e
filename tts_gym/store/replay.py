"""Replay stores in memory: validated, with answers interned to small integers per question.

The interchange format is the AutoTTS JSON (see `traces/FORMAT.md`). In memory every
question keeps plain tuples of ints rather than numpy arrays: the engine reads one element at
a time in Python, where tuple indexing is several times faster than numpy scalar access.

A store file is untrusted input, read safely: its size is capped before a byte is parsed
(`$TTS_GYM_MAX_STORE_MB`), orjson bounds the nesting depth, integers are bounded so that
token sums cannot overflow the compiled core's int64, and every rule breaks with one sentence
naming the file, the question and the field. `tts-gym validate` and every loader share this
code, so they say the same thing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from tts_gym.errors import StoreError
from tts_gym.store.catalog import CatalogEntry, identify
from tts_gym.store.paths import resolve_store

ERR = "ERR"
CONFIDENCE_KEY = "segment_confidence"
"""Optional per-question key (ignored by AutoTTS readers): per branch, one float per probe."""
CONFIDENCE_STATISTICS = {
    "group": CONFIDENCE_KEY,
    "lowest": "segment_lowest_confidence",
    "bottom10": "segment_bottom10_confidence",
    "tail": "segment_tail_confidence",
}
"""The per-segment confidence statistics a store may carry (DeepConf's, see docs/collect.md),
by name -> store key, each shaped like `segment_confidence`; for every one, higher means more
confident. `Question.confidence` is the one the env observes: "group" unless
`ReplayStore.with_confidence` picked another."""

MAX_STORE_MB_ENV_VAR = "TTS_GYM_MAX_STORE_MB"
DEFAULT_MAX_STORE_MB = 128
"""About 40 times the largest published store (3.1 MB): room for ~1,200 questions of 128
branches. Parsing takes ~10-13 bytes of memory per byte of a real store and up to ~40 for a
hostile one (tiny nested lists), so the cap also bounds what a file can cost."""

MAX_TOKENS = 2**31 - 1
"""Bound on `branch_tokens` and `probe_freq`. Any one value fits int32 and a sum over 2**32
branches fits int64 (the compiled core's token counters); every partial cost `k * probe_freq`
stays below 2**32, and every token count stays an exact float64 (rewards, tokens / 1e6)."""

_MB = 1 << 20


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
    # every statistic of CONFIDENCE_STATISTICS the file holds, by name (`confidence` is one)
    confidences: dict[str, tuple[tuple[float, ...], ...]] = field(
        default_factory=dict, compare=False, repr=False
    )
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

    def __repr__(self) -> str:  # not every branch's probes
        return (
            f"Question(index={self.index}, branches={self.n_branches}, "
            f"answers={len(self.answers)}, gold={self.gold!r}, probe_freq={self.probe_freq})"
        )


@dataclass(frozen=True)
class ReplayStore:
    """A loaded store. `sha256` (of the file's bytes) is its identity: two stores are the same
    store when their content is, whatever their paths; `name` and `role` come from the
    catalog entry that content (else the name it was loaded by) belongs to."""

    name: str
    path: Path
    questions: tuple[Question, ...]
    model: str = ""
    benchmark: str = ""
    role: str = ""
    sha256: str = ""

    @property
    def n_questions(self) -> int:
        return len(self.questions)

    @property
    def has_confidence(self) -> bool:
        return any(q.confidence is not None for q in self.questions)

    @property
    def max_branches(self) -> int:
        return max(q.n_branches for q in self.questions)

    def with_confidence(self, statistic: str) -> ReplayStore:
        """The same store with `statistic` (a name of `CONFIDENCE_STATISTICS`) as each
        question's `confidence`. Questions without any confidence keep none; a question that
        has confidence but not this statistic is an error (a store collected before it)."""
        if statistic not in CONFIDENCE_STATISTICS:
            raise ValueError(
                f"unknown confidence statistic {statistic!r}; "
                f"use one of {', '.join(CONFIDENCE_STATISTICS)}."
            )
        questions = []
        for q in self.questions:
            if q.confidences and statistic not in q.confidences:
                raise StoreError(
                    f"{self.name}: question {q.index} has no '{CONFIDENCE_STATISTICS[statistic]}' "
                    "(collected by an older tts-gym collect); choose another confidence."
                )
            chosen = q.confidences.get(statistic)
            questions.append(
                q if chosen is q.confidence else dataclasses.replace(q, confidence=chosen)
            )
        if all(new is old for new, old in zip(questions, self.questions, strict=True)):
            return self
        return dataclasses.replace(self, questions=tuple(questions))

    def __repr__(self) -> str:  # not every question
        return (
            f"ReplayStore(name={self.name!r}, questions={self.n_questions}, "
            f"path={str(self.path)!r})"
        )

    def without_gold(self) -> ReplayStore:
        """The same store with no gold answer and no question text: what a policy is handed."""
        if all(q.gold == "" and q.text == "" for q in self.questions):
            return self
        return dataclasses.replace(
            self,
            questions=tuple(dataclasses.replace(q, gold="", text="") for q in self.questions),
        )


def load_store(spec: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> ReplayStore:
    """Load a store by catalog name (`autotts/qwen3-8b/aime24`) or by path; cached per file.

    Loading never refuses a held-out store: `tts_gym.store.select_stores` applies that rule.
    """
    path, entry = resolve_store(spec, data_dir)
    stat = path.stat()
    check_store_size(path, stat.st_size)
    return _load_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size, entry)


def max_store_bytes() -> int:
    """The size cap: `$TTS_GYM_MAX_STORE_MB` megabytes (2**20 bytes), else the default."""
    value = os.environ.get(MAX_STORE_MB_ENV_VAR, "").strip()
    if not value:
        return DEFAULT_MAX_STORE_MB * _MB
    try:
        megabytes = float(value)
    except ValueError:
        megabytes = math.nan
    if not 0 < megabytes < math.inf:
        raise StoreError(
            f"${MAX_STORE_MB_ENV_VAR} must be a positive number of megabytes, got {value!r}."
        )
    return max(1, int(megabytes * _MB))


def check_store_size(path: str | os.PathLike, size: int) -> None:
    """Refuse a file over the size cap before anything reads it."""
    cap = max_store_bytes()
    if size > cap:
        raise StoreError(
            f"{path} is {size / _MB:.1f} MB, over the {cap / _MB:g} MB limit for a store; "
            f"split it or raise the limit with ${MAX_STORE_MB_ENV_VAR}."
        )


@lru_cache(maxsize=32)
def _load_cached(path: str, _mtime: int, _size: int, entry: CatalogEntry | None) -> ReplayStore:
    return read_store(Path(path), entry)


def read_store(file: Path, entry: CatalogEntry | None = None) -> ReplayStore:
    """Read, hash, parse and validate one file (uncached); `entry`: the catalog name it was
    asked for, which its content overrides."""
    data = _read_capped(file)
    sha256 = hashlib.sha256(data).hexdigest()
    questions = parse_questions(_parse_json(data, file), file)
    entry = identify(sha256, entry)
    if entry is None:
        return ReplayStore(file.stem, file, questions, sha256=sha256)
    return ReplayStore(
        entry.name, file, questions, entry.model, entry.benchmark, entry.role, sha256
    )


def _read_capped(file: Path) -> bytes:
    """The file's bytes, never more than the cap (a file may grow after it was measured)."""
    cap = max_store_bytes()
    try:
        with open(file, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            check_store_size(file, size)
            data = handle.read(size + 1)  # not read(cap): that would allocate the whole cap
            if len(data) > size:
                data += handle.read(cap + 1 - len(data))
    except OSError as error:
        raise StoreError(f"{file}: cannot be read ({error.strerror or error}).") from None
    check_store_size(file, len(data))
    return data


def _parse_json(data: bytes, file: Path) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        if "depth" in error.msg or "recursion" in error.msg.lower():
            raise StoreError(
                f"{file}: not a store (nested more than 1,024 levels deep at line "
                f"{error.lineno}, column {error.colno}; a store needs 5)."
            ) from None
        raise StoreError(
            f"{file}: not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})."
        ) from None


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
        raise fail("question", f"must be a string, got {describe(item['question'])}")
    if not isinstance(item["gold_answer"], str):
        raise fail("gold_answer", f"must be a string, got {describe(item['gold_answer'])}")
    probe_freq = item["probe_freq"]
    problem = _integer_problem(probe_freq, 1)
    if problem:
        raise fail("probe_freq", problem)
    branches = item["each_branch"]
    if not isinstance(branches, list):
        raise fail("each_branch", f"must be a list, got {describe(branches)}")
    if not branches:
        raise fail("each_branch", "is an empty list")

    # Interning checks types only where an answer is new: a string equal to a known key is a
    # string, so the common case (a known answer) costs one dict lookup.
    ids: dict[str, int] = {}
    known = ids.__getitem__
    probes, tokens, finals = [], [], []
    for b, branch in enumerate(branches):
        if type(branch) is not list or len(branch) != 3:
            raise fail(f"each_branch[{b}]", "must be [probe_list, branch_tokens, final_answer]")
        probe_list, length, final = branch
        if type(probe_list) is not list:
            raise fail(
                f"each_branch[{b}][0]",
                f"(probe_list) must be a list of strings, got {describe(probe_list)}",
            )
        try:
            row = tuple(map(known, probe_list))
        except (KeyError, TypeError):  # a new answer (or not a string at all)
            for k, answer in enumerate(probe_list):
                if type(answer) is not str:
                    raise fail(
                        f"each_branch[{b}][0][{k}]",
                        f"must be a string answer, got {describe(answer)}",
                    ) from None
                ids.setdefault(answer, len(ids))
            row = tuple(map(known, probe_list))
        if type(length) is not int or not 0 <= length <= MAX_TOKENS:
            raise fail(f"each_branch[{b}][1]", f"(branch_tokens) {_integer_problem(length, 0)}")
        allowed = -(-length // probe_freq)  # ceil(branch_tokens / probe_freq)
        if len(row) > allowed:
            raise fail(
                f"each_branch[{b}][0]",
                f"(probe_list) has {len(row)} probes, more than the {allowed} that "
                f"{length} tokens allow at one probe per {probe_freq}",
            )
        if type(final) is not str:
            raise fail(
                f"each_branch[{b}][2]", f"(final_answer) must be a string, got {describe(final)}"
            )
        probes.append(row)
        tokens.append(length)
        finals.append(ids.setdefault(final, len(ids)))

    confidences = {
        name: _parse_confidence(item[key], key, probes, fail)
        for name, key in CONFIDENCE_STATISTICS.items()
        if key in item
    }
    return Question(
        index=index,
        text=item["question"],
        gold=item["gold_answer"],
        probe_freq=probe_freq,
        answers=tuple(ids),
        probes=tuple(probes),
        tokens=tuple(tokens),
        finals=tuple(finals),
        confidence=confidences.get("group"),
        confidences=confidences,
    )


def _parse_confidence(
    raw: Any, key: str, probes: list[tuple[int, ...]], fail
) -> tuple[tuple[float, ...], ...]:
    if not isinstance(raw, list) or len(raw) != len(probes):
        raise fail(key, f"must be a list with one entry per branch ({len(probes)})")
    parsed = []
    for b, (values, branch_probes) in enumerate(zip(raw, probes, strict=True)):
        row = None
        if type(values) is list and len(values) == len(branch_probes):
            row = _finite_floats(values)
        if row is None:
            raise fail(
                f"{key}[{b}]",
                f"must be a list of {len(branch_probes)} finite numbers (one per probe)",
            )
        parsed.append(row)
    return tuple(parsed)


def _finite_floats(values: list[Any]) -> tuple[float, ...] | None:
    if not all(type(v) is float or type(v) is int for v in values):
        return None
    try:
        row = tuple(map(float, values))
    except OverflowError:  # an integer beyond float range
        return None
    return row if all(map(math.isfinite, row)) else None


def _integer_problem(value: Any, low: int) -> str:
    """What is wrong with a token count (`low` 0) or an interval (`low` 1); '' if nothing."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        kind = "positive" if low > 0 else "non-negative"
        return f"must be a {kind} integer, got {describe(value)}"
    if value > MAX_TOKENS:
        return f"must be at most {MAX_TOKENS} (2**31 - 1), got {describe(value)}"
    return ""


def describe(value: Any) -> str:
    """A short JSON-flavoured description of a bad value: bounded whatever its size or depth."""
    if value is None or isinstance(value, bool):
        return orjson.dumps(value).decode()
    if isinstance(value, int):
        return (
            repr(value) if value.bit_length() <= 128 else f"an integer of {value.bit_length()} bits"
        )
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return repr(value[:40]) + ("..." if len(value) > 40 else "")
    if isinstance(value, list):
        return f"a list of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        return f"an object of {len(value)} key{'' if len(value) == 1 else 's'}"
    return type(value).__name__
