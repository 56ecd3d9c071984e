"""Traces as JSONL: one line per traced episode, labelled with store, method and correctness.

What a trace holds is `tts_gym.control.traces`'; this module writes the traced cells out.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tts_gym.store.files import write_file

if TYPE_CHECKING:
    from tts_gym.evaluation.evaluate import Cell


def trace_records(cells: Iterable[Cell]) -> Iterator[dict[str, Any]]:
    """Per-episode records of the traced cells, labelled with store, method and correctness."""
    for cell in cells:
        if cell.outcomes.traces is None:
            continue
        for q, row in enumerate(cell.outcomes.traces):
            for o, record in enumerate(row):
                yield {
                    "store": cell.store.name,
                    "method": cell.method,
                    "question": q,
                    "order": o,
                    "correct": bool(cell.correct[q, o]),
                    **record,
                }


def write_traces(path: str | os.PathLike, cells: Iterable[Cell]) -> Path:
    """All traces as JSONL, one episode a line, written atomically."""
    return write_file(path, "".join(json.dumps(r) + "\n" for r in trace_records(cells)))
