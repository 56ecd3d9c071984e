"""Question files: JSON Lines, one object a line with `question`, `answer` and an optional `id`.

Collecting needs every gold answer (answers are matched onto it); a live run does not (it
reports accuracy only where one is given), so `read_questions(..., need_answers=False)` lets
`answer` be absent: the item's answer is then "".
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from tts_gym.collect.errors import CollectError


@dataclass(frozen=True)
class QuestionItem:
    question: str
    answer: str  # the gold answer; "" when the file gives none (live runs only)
    id: str | int | None = None


def read_questions(path: str | os.PathLike, *, need_answers: bool = True) -> list[QuestionItem]:
    """Check the whole file up front, so that a bad line fails before any GPU time is spent."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CollectError(f"question file {file} does not exist.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CollectError(f"question file {file} cannot be read ({error}).") from None
    items: list[QuestionItem] = []
    id_lines: dict[str | int, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            item = _parse_line(line, f"{file}, line {number}", need_answers)
            if item.id is not None:
                if item.id in id_lines:
                    raise CollectError(
                        f"{file}, line {number}: field 'id' repeats {item.id!r} "
                        f"from line {id_lines[item.id]}."
                    )
                id_lines[item.id] = number
            items.append(item)
    if not items:
        raise CollectError(f"question file {file} holds no questions.")
    return items


def _parse_line(line: str, where: str, need_answer: bool) -> QuestionItem:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as error:
        raise CollectError(f"{where}: not valid JSON ({error.msg}).") from None
    if not isinstance(obj, dict):
        raise CollectError(f"{where}: expected a JSON object with 'question' and 'answer'.")
    for key in ("question", "answer") if need_answer else ("question",):
        if key not in obj:
            raise CollectError(f"{where}: field '{key}' is missing.")
    question = obj["question"]
    if not isinstance(question, str) or not question.strip():
        raise CollectError(f"{where}: field 'question' must be a non-empty string.")
    if "answer" not in obj:
        return QuestionItem(question=question, answer="", id=_item_id(obj, where))
    answer = obj["answer"]
    if _is_int(answer):
        answer = str(answer)
    if not isinstance(answer, str) or not answer.strip():
        raise CollectError(f"{where}: field 'answer' must be a non-empty string or an integer.")
    return QuestionItem(question=question, answer=answer.strip(), id=_item_id(obj, where))


def _item_id(obj: dict, where: str) -> str | int | None:
    item_id = obj.get("id")
    if item_id is not None and not (isinstance(item_id, str) or _is_int(item_id)):
        raise CollectError(f"{where}: field 'id' must be a string or an integer.")
    return item_id


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
