"""Rows, tables and files of evaluation results (CSV, JSON, rich tables).

CSV and JSON carry unrounded numbers, one row per (store, controller setting), columns
beginning `model,benchmark,method,acc,tokens_k`; tables round for reading.
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
from tts_gym.evaluation.paper import agrees, printed
from tts_gym.store.files import write_file

FORMATS = ("table", "csv", "json")


def paper_row(cell: Cell) -> dict[str, Any]:
    """A cell's row with the paper's printed values beside ours (empty where not packaged)."""
    row = cell.row()
    paper = printed(cell.model, cell.benchmark, cell.method)
    paper_acc, paper_tokens = paper or (None, None)
    row.update(
        paper_acc=paper_acc,
        paper_tokens_k=paper_tokens,
        acc_diff=None if paper is None else cell.acc - paper_acc,
        tokens_k_diff=None if paper is None else cell.tokens_k - paper_tokens,
        acc_agrees=None if paper is None else agrees(cell.acc, paper_acc),
        tokens_agrees=None if paper is None else agrees(cell.tokens_k, paper_tokens),
    )
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
