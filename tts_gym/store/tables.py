"""Stores as padded, read-only arrays: what the compiled batch core replays.

`StoreTables.build(stores)` concatenates the questions of one or more stores (global question
`g` is question `question_of[g]` of store `store_of[g]`; `offsets[s]` is the first global
question of store `s`) and pads every per-branch list to the longest one. Answer ids are the
per-question ids of `Question.answers`, so an id means the same thing in both engines. Built
once per store set; every array is marked read-only.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from tts_gym.memory import require_memory
from tts_gym.store.replay import ERR, ReplayStore

PAD = -1
"""Answer id in padding (beyond a branch's probes, beyond a question's branches)."""

_BUILT: OrderedDict[tuple[int, ...], tuple[tuple[ReplayStore, ...], StoreTables]] = OrderedDict()
_BUILT_SIZE = 16


@dataclass(frozen=True, eq=False)
class StoreTables:
    probes: np.ndarray  # int32 [Q, B, P]: answer id after 1, 2, ... intervals; PAD beyond
    n_probes: np.ndarray  # int32 [Q, B]
    lengths: np.ndarray  # int64 [Q, B]: branch tokens
    finals: np.ndarray  # int32 [Q, B]: final answer id
    n_branches: np.ndarray  # int32 [Q]
    probe_freq: np.ndarray  # int64 [Q]: tokens per interval
    n_answers: np.ndarray  # int32 [Q]: distinct answers of the question
    gold: np.ndarray  # int32 [Q]: id of the gold answer, PAD when no branch has it
    err: np.ndarray  # int32 [Q]: id of 'ERR', PAD when no branch has it
    confidence: np.ndarray  # float32 [Q, B, P] (segment confidence; [Q, 0, 0] without)
    has_confidence: np.ndarray  # bool [Q]
    store_of: np.ndarray  # int32 [Q]
    question_of: np.ndarray  # int32 [Q]
    offsets: np.ndarray  # int32 [S + 1]

    @property
    def n_questions(self) -> int:
        return int(self.n_branches.shape[0])

    def __repr__(self) -> str:  # not the arrays
        shape = "x".join(map(str, self.probes.shape))
        return f"StoreTables(stores={len(self.offsets) - 1}, probes={shape})"

    @property
    def max_branches(self) -> int:
        return int(self.probes.shape[1])

    @property
    def max_probes(self) -> int:
        return int(self.probes.shape[2])

    @property
    def max_answers(self) -> int:
        return int(self.n_answers.max(initial=0))

    def global_question(self, store: int, question: int) -> int:
        return int(self.offsets[store]) + question

    @classmethod
    def of(cls, stores: Sequence[ReplayStore]) -> StoreTables:
        """`build`, shared: the same store objects (`load_store` caches them) give the same
        tables, so many envs over one store set hold one copy."""
        key = tuple(id(store) for store in stores)
        cached = _BUILT.get(key)
        if cached is None:
            # the entry keeps the stores alive, so their ids cannot be reused while cached
            cached = _BUILT[key] = (tuple(stores), cls.build(stores))
            while len(_BUILT) > _BUILT_SIZE:
                _BUILT.popitem(last=False)
        _BUILT.move_to_end(key)
        return cached[1]

    def __setstate__(self, state: dict) -> None:
        # unpickled and deep-copied tables are read-only too (compiled code is typed on it)
        for name, array in state.items():
            array.flags.writeable = False
            object.__setattr__(self, name, array)

    @classmethod
    def build(cls, stores: Sequence[ReplayStore]) -> StoreTables:
        questions = [(s, q) for s, store in enumerate(stores) for q in store.questions]
        n = len(questions)
        max_b = max((q.n_branches for _, q in questions), default=0)
        max_p = max((len(p) for _, q in questions for p in q.probes), default=0)
        any_confidence = any(q.confidence is not None for _, q in questions)
        padded = n * max_b * max_p * (8 if any_confidence else 4)  # probes (+ confidence)
        require_memory(
            padded + n * max_b * 24,
            f"padding {n:,} questions to {max_b:,} branches of {max_p:,} probes "
            "(the longest of each in the stores)",
        )
        probes = np.full((n, max_b, max_p), PAD, dtype=np.int32)
        n_probes = np.zeros((n, max_b), dtype=np.int32)
        lengths = np.zeros((n, max_b), dtype=np.int64)
        finals = np.full((n, max_b), PAD, dtype=np.int32)
        confidence = np.zeros((n, max_b, max_p) if any_confidence else (n, 0, 0), np.float32)
        for g, (_, q) in enumerate(questions):
            for b, branch in enumerate(q.probes):
                probes[g, b, : len(branch)] = branch
                n_probes[g, b] = len(branch)
                if q.confidence is not None:
                    confidence[g, b, : len(branch)] = q.confidence[b]
            lengths[g, : q.n_branches] = q.tokens
            finals[g, : q.n_branches] = q.finals
        counts = [store.n_questions for store in stores]
        tables = cls(
            probes=probes,
            n_probes=n_probes,
            lengths=lengths,
            finals=finals,
            n_branches=np.array([q.n_branches for _, q in questions], dtype=np.int32),
            probe_freq=np.array([q.probe_freq for _, q in questions], dtype=np.int64),
            n_answers=np.array([len(q.answers) for _, q in questions], dtype=np.int32),
            gold=np.array([q.gold_id for _, q in questions], dtype=np.int32),
            err=np.array(
                [q.answers.index(ERR) if ERR in q.answers else PAD for _, q in questions],
                dtype=np.int32,
            ),
            confidence=confidence,
            has_confidence=np.array([q.confidence is not None for _, q in questions], dtype=bool),
            store_of=np.array([s for s, _ in questions], dtype=np.int32),
            question_of=np.array([q.index for _, q in questions], dtype=np.int32),
            offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int32),
        )
        for field in fields(tables):
            getattr(tables, field.name).flags.writeable = False
        return tables
