"""Rows, tables and files of evaluation results (CSV, JSON, rich tables).

CSV and JSON carry unrounded numbers, one row per (store, controller setting), columns
beginning `model,benchmark,method,acc,tokens_k,seq_tokens_k`; tables round for reading.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from tts_gym.evaluation.evaluate import Cell
from tts_gym.evaluation.paper import PaperTable, agrees
from tts_gym.store.files import write_file

FORMATS = ("table", "csv", "json")


AGREES_COLUMN = {
    "acc": "acc_agrees",
    "tokens_k": "tokens_agrees",
    "seq_tokens_k": "seq_tokens_agrees",
}
"""The agreement column of each measure a paper prints."""


def paper_row(cell: Cell, table: PaperTable) -> dict[str, Any]:
    """A cell's row with the table's printed values beside ours (empty where not packaged):
    per printed measure `paper_X`, `X_diff` and whether it agrees with the printed rounding,
    then `note`: why the values that cannot agree do not (empty when there is nothing)."""
    row = cell.row()
    paper = table.printed(cell.model, cell.benchmark, cell.method)
    measures = [m for m in ("acc", "tokens_k", "seq_tokens_k") if m in table.measures]
    row.update({f"paper_{m}": None if paper is None else paper[m] for m in measures})
    row.update({f"{m}_diff": None if paper is None else row[m] - paper[m] for m in measures})
    row.update(
        {AGREES_COLUMN[m]: None if paper is None else agrees(row[m], paper[m]) for m in measures}
    )
    notes = []
    if paper is not None:
        whole = table.known_difference(cell.model, cell.method, None)
        notes += [whole] if whole else []
        for m in measures:
            reason = table.known_difference(cell.model, cell.method, m)
            if reason and not row[AGREES_COLUMN[m]]:
                notes.append(f"{m}: {reason}")
    row["note"] = "; ".join(notes)
    return row


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


def to_json(rows: Sequence[dict[str, Any]]) -> str:
    return json.dumps(list(rows), indent=2) + "\n"


def emit(text: str, output: str | os.PathLike | None) -> None:
    """Print `text`, or write it atomically to `output`."""
    if output is None:
        sys.stdout.write(text)
    else:
        write_file(output, text)


def fmt(value: Any, digits: int = 1, signed: bool = False) -> str:
    if value is None:
        return ""
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def interval(low: float | None, high: float | None, digits: int = 1) -> str:
    return "" if low is None else f"[{low:.{digits}f}, {high:.{digits}f}]"
