"""What a loaded store contains, in a few numbers: what `tts-gym validate` prints."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tts_gym.store.replay import ERR, ReplayStore


@dataclass(frozen=True)
class StoreSummary:
    name: str
    path: str
    role: str | None  # 'search' or 'held-out' for a catalog store (by content or name)
    sha256: str  # of the file: the store's identity
    questions: int
    branches: int
    branches_min: int
    branches_max: int
    probe_freqs: tuple[int, ...]  # distinct intervals, usually one value
    probes_max: int
    tokens_min: int
    tokens_max: int
    tokens_mean: float
    err_final_share: float  # share of branches whose final answer is 'ERR'
    err_probe_share: float  # share of all probes that are 'ERR'
    branch_accuracy: float  # share of branches whose final answer is the gold answer
    empty_probe_branches: int  # branches shorter than one interval
    last_probe_differs: int  # branches whose last probe is not their final answer
    has_confidence: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (tuples become lists)."""
        data = asdict(self)
        data["probe_freqs"] = list(self.probe_freqs)
        return data


def summarize(store: ReplayStore) -> StoreSummary:
    """Count what a controller will meet in this store, and the oddities it may hide."""
    branches = [q.n_branches for q in store.questions]
    tokens = [t for q in store.questions for t in q.tokens]
    n_probes = err_probes = err_finals = correct = empty = differs = 0
    for q in store.questions:
        err = q.answers.index(ERR) if ERR in q.answers else -1
        err_finals += q.finals.count(err)
        correct += q.finals.count(q.gold_id) if q.gold_id >= 0 else 0
        for probes, final in zip(q.probes, q.finals, strict=True):
            n_probes += len(probes)
            err_probes += probes.count(err)
            empty += not probes
            differs += bool(probes) and probes[-1] != final
    return StoreSummary(
        name=store.name,
        path=str(store.path),
        role=store.role or None,
        sha256=store.sha256,
        questions=store.n_questions,
        branches=len(tokens),
        branches_min=min(branches),
        branches_max=max(branches),
        probe_freqs=tuple(sorted({q.probe_freq for q in store.questions})),
        probes_max=max(len(p) for q in store.questions for p in q.probes),
        tokens_min=min(tokens),
        tokens_max=max(tokens),
        tokens_mean=sum(tokens) / len(tokens),
        err_final_share=err_finals / len(tokens),
        err_probe_share=err_probes / n_probes if n_probes else 0.0,
        branch_accuracy=correct / len(tokens),
        empty_probe_branches=empty,
        last_probe_differs=differs,
        has_confidence=store.has_confidence,
    )
