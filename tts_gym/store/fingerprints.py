"""A store known by its questions: one short fingerprint per (question text, gold answer).

A held-out question must be recognised in any file that holds it: re-serialised, reordered,
with a branch changed, or cut to a subset. File hashes see none of that; a fingerprint of the
question itself does. The text and the gold answer are normalised first (Unicode NFKC,
case-folded, runs of white space made one space), so layout changes do not hide a question.

The catalog carries the fingerprints of the held-out stores' questions, so the check never
reads a held-out store. They were computed once from the published stores with

    python -m tts_gym.store.fingerprints DATA_DIR

which prints the table `catalog.py` holds (a test recomputes it where the stores are).
"""

from __future__ import annotations

import hashlib
import sys
import unicodedata
from collections.abc import Iterable

FINGERPRINT_HEX = 16
"""Hex digits kept of a question's sha256 (64 bits: no collision among any real questions)."""


def normalise(text: str) -> str:
    """Text as a fingerprint sees it: NFKC, case-folded, white space collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def question_fingerprint(text: str, gold: str) -> str:
    """The fingerprint of one question: its normalised text and gold answer, hashed."""
    key = f"{normalise(text)}\x1f{normalise(gold)}".encode()
    return hashlib.sha256(key).hexdigest()[:FINGERPRINT_HEX]


def store_fingerprints(questions: Iterable) -> frozenset[str]:
    """The fingerprints of a store's questions (anything with `text` and `gold`)."""
    return frozenset(question_fingerprint(q.text, q.gold) for q in questions)


def catalog_table(data_dir: str) -> dict[str, tuple[str, ...]]:
    """Per held-out benchmark, the sorted fingerprints of its questions, from the catalog's
    stores in `data_dir`; every model's store of a benchmark must hold the same questions."""
    from tts_gym.store.catalog import CATALOG
    from tts_gym.store.replay import load_store

    table: dict[str, tuple[str, ...]] = {}
    for entry in CATALOG.values():
        if entry.role != "held-out":
            continue
        found = tuple(sorted(store_fingerprints(load_store(entry.name, data_dir).questions)))
        if table.setdefault(entry.benchmark, found) != found:
            raise ValueError(f"{entry.name} holds other questions than its benchmark's stores.")
    return table


if __name__ == "__main__":
    for benchmark, prints in catalog_table(sys.argv[1] if len(sys.argv) > 1 else "").items():
        print(f'    "{benchmark}": (')
        for start in range(0, len(prints), 4):
            print("        " + " ".join(f'"{p}",' for p in prints[start : start + 4]))
        print("    ),")
