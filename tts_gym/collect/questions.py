"""Question files: JSON Lines, one object a line with `question`, `answer` and an optional `id`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from tts_gym.collect.errors import CollectError


@dataclass(frozen=True)
class QuestionItem:
    question: str
    answer: str
    id: str | int | None = None


def read_questions(path: str | os.PathLike) -> list[QuestionItem]:
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
            item = _parse_line(line, f"{file}, line {number}")
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


def _parse_line(line: str, where: str) -> QuestionItem:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as error:
        raise CollectError(f"{where}: not valid JSON ({error.msg}).") from None
    if not isinstance(obj, dict):
        raise CollectError(f"{where}: expected a JSON object with 'question' and 'answer'.")
    for key in ("question", "answer"):
        if key not in obj:
            raise CollectError(f"{where}: field '{key}' is missing.")
    question = obj["question"]
    if not isinstance(question, str) or not question.strip():
        raise CollectError(f"{where}: field 'question' must be a non-empty string.")
    answer = obj["answer"]
    if _is_int(answer):
        answer = str(answer)
    if not isinstance(answer, str) or not answer.strip():
        raise CollectError(f"{where}: field 'answer' must be a non-empty string or an integer.")
    item_id = obj.get("id")
    if item_id is not None and not (isinstance(item_id, str) or _is_int(item_id)):
        raise CollectError(f"{where}: field 'id' must be a string or an integer.")
    return QuestionItem(question=question, answer=answer.strip(), id=item_id)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
