"""The one writer of the store format: every store tts-gym produces goes through `write_store`.

Synthetic stores (`tts_gym.store.synthetic`), collected ones (`tts-gym collect`, its shards
included) and what a live run generated (`tts-gym live`) are the same JSON: compact
(no spaces), UTF-8 (non-ASCII answers stay readable), and no NaN or infinity (the loader
refuses them, so the writer does too). Written atomically through `tts_gym.store.files`, so a
store on disk is whole or absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tts_gym.store.files import write_file


def store_text(questions: list[dict[str, Any]]) -> str:
    """The JSON text of a store (a list of question objects), as `write_store` writes it."""
    return json.dumps(questions, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def write_store(questions: list[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Write a store atomically (the file is complete or untouched); returns its path."""
    return write_file(path, store_text(questions))
