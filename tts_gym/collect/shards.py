"""The work folder of a collection: one finished question per file, the store made from them.

`STORE.json` is collected through `STORE.shards/`, beside it: each finished question is
written there at once, atomically, as a one-question store `q000017.json` (question 17 of
the question file), by whichever process finished it (the one process, or the Ray driver for
its workers). Nothing else records progress, so a run killed at any moment loses at most the
questions in flight, and `--resume` (with or without Ray) skips every shard that is there.
When every question has its shard, the store is written in question order and the folder
removed; a store therefore exists only whole.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from tts_gym.collect.errors import CollectError
from tts_gym.collect.questions import QuestionItem
from tts_gym.store.files import read_json
from tts_gym.store.replay import parse_questions
from tts_gym.store.writer import write_store

_SHARD = re.compile(r"q(\d{6,})\.json")


def shard_folder(store: str | Path) -> Path:
    """`STORE.json` -> `STORE.shards`, next to the store."""
    return Path(store).with_suffix(".shards")


class ShardFolder:
    """One file per finished question, `q000017.json`, in the folder beside `store`: what a
    run (`collect`, a live run) keeps so that `--resume` knows what is done."""

    def __init__(self, store: Path, count: int) -> None:
        self.store = store
        self.folder = shard_folder(store)
        self.count = count  # questions in the question file

    def path(self, index: int) -> Path:
        return self.folder / f"q{index:06d}.json"

    def finished(self) -> list[int]:
        """Indices of the questions that have a shard (each read and checked), sorted."""
        if not self.folder.is_dir():
            return []
        done = []
        for file in self.folder.iterdir():
            match = _SHARD.fullmatch(file.name)
            if match is not None:
                index = int(match.group(1))
                self.read(index)
                done.append(index)
        return sorted(done)

    def read(self, index: int) -> Any:
        """The shard of question `index`, checked (`check`)."""
        file = self.path(index)
        if index >= self.count:
            raise CollectError(
                f"cannot resume: {file} is question {index}, but the question file holds "
                f"{self.count}."
            )
        value = read_json(file, "shard")
        self.check(value, index, file)
        return value

    def check(self, value: Any, index: int, file: Path) -> None:
        """Refuse a shard that is not question `index` of this run (subclasses say how)."""

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class Shards(ShardFolder):
    """The finished questions of one collection, each a one-question store checked against
    the question file."""

    def __init__(self, store: Path, items: list[QuestionItem]) -> None:
        super().__init__(store, len(items))
        self.items = items

    def write(self, index: int, entry: dict[str, Any]) -> None:
        write_store([entry], self.path(index))

    def check(self, value: Any, index: int, file: Path) -> None:
        parse_questions(value, file)
        self.check_entries(value, index, file)

    def check_entries(self, entries: list[Any], index: int, file: Path) -> None:
        """`entries` (a shard's, or a store's from `index` on) match the question file."""
        for offset, entry in enumerate(entries):
            item = self.items[index + offset]
            if entry["question"] != item.question or entry["gold_answer"] != item.answer:
                raise CollectError(
                    f"cannot resume: question {index + offset} of {file} differs from question "
                    f"{index + offset} of the question file."
                )

    def assemble(self) -> list[dict[str, Any]]:
        """Write the store from every shard, in question order, then drop the folder; returns
        the store's entries."""
        entries = [self.read(index)[0] for index in range(len(self.items))]
        write_store(entries, self.store)
        self.remove()
        return entries
