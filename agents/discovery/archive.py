"""The run folder: a ledger of events and one folder per completed round, safe to kill.

    runs/<name>/
      config.json         the run's settings (resume reads them back)
      system_prompt.md    the fixed part of every round's prompt
      baselines.json/csv  the built-in controllers on the search stores
      ledger.jsonl        one JSON line per event, with tokens and dollars
      round-0001/         controller.py, prompt.md, transcript.json, usage.json,
                          verdict.json, sweep.csv, feedback.md, traces.jsonl
      best.json           the selected round
      final/              the held-out report (after `--final`)

Ledger lines are appended, flushed and fsynced one by one; a line torn by a kill is cut off
when the run is reopened. A round is written in `round-NNNN.partial/` and renamed to
`round-NNNN/` only when complete, so a kill at any moment loses at most the round under way.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from tts_gym.errors import TTSGymError
from tts_gym.store.files import read_json, read_json_object, write_file, write_json

LEDGER = "ledger.jsonl"
LOCK = ".lock"
CONFIG = "config.json"
BEST = "best.json"
VERDICT = "verdict.json"
ROUND_PATTERN = re.compile(r"^round-(\d{4})$")
PARTIAL_SUFFIX = ".partial"
COST_EVENTS = ("api_call",)


class RunArchive:
    """One discovery run's folder, locked against a second process while it is open."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ledger = root / LEDGER
        self._lock = open(root / LOCK, "a")  # noqa: SIM115 - held for the archive's lifetime
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            raise TTSGymError(f"another tts-gym process is using {root}.") from None

    def close(self) -> None:
        """Release the folder (the OS also releases it when the process dies)."""
        self._lock.close()

    def __enter__(self) -> RunArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def create(cls, root: Path, config: dict[str, Any]) -> RunArchive:
        if root.exists() and any(root.iterdir()):
            raise TTSGymError(
                f"{root} already holds a run; continue it with `tts-gym discover --resume {root}`."
            )
        root.mkdir(parents=True, exist_ok=True)
        archive = cls(root)
        write_json(root / CONFIG, config)
        archive.log("run_start", config=config)
        return archive

    @classmethod
    def open(cls, root: Path) -> RunArchive:
        if not (root / CONFIG).is_file() or not (root / LEDGER).is_file():
            raise TTSGymError(f"{root} is not a discovery run folder (no {CONFIG} / {LEDGER}).")
        archive = cls(root)
        try:
            archive._cut_torn_line()
        except BaseException:
            archive.close()
            raise
        return archive

    @property
    def config(self) -> dict[str, Any]:
        return read_json_object(self.root / CONFIG, "run config")

    # ---- ledger -----------------------------------------------------------------------------
    def log(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one event (with the wall-clock time) and make it durable before returning."""
        record = {"event": event, "time": round(time.time(), 3), **fields}
        with open(self.ledger, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return record

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The ledger's events (of one kind); a broken line is one sentence naming it."""
        try:
            lines = self.ledger.read_bytes().decode("utf-8").splitlines()
        except UnicodeDecodeError:
            raise TTSGymError(f"the ledger {self.ledger} is not UTF-8 text.") from None
        records = []
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            if not isinstance(record, dict) or not isinstance(record.get("event"), str):
                raise TTSGymError(
                    f"the ledger {self.ledger}: line {number} is not an event "
                    "(a JSON object with an 'event' name)."
                )
            if kind is None or record["event"] == kind:
                records.append(record)
        return records

    def dollars_spent(self) -> float:
        """Every dollar the ledger recorded, rounds cut short by a kill included."""
        return sum(
            float(e.get("dollars") or 0.0) for e in self.events() if e["event"] in COST_EVENTS
        )

    def seconds_used(self) -> float:
        """Wall time of the completed rounds."""
        return sum(float(e.get("seconds") or 0.0) for e in self.events("round_end"))

    def _cut_torn_line(self) -> None:
        data = self.ledger.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.ledger, "r+b") as handle:
                handle.truncate(data.rfind(b"\n") + 1)
                handle.flush()
                os.fsync(handle.fileno())

    # ---- rounds -----------------------------------------------------------------------------
    def round_dir(self, number: int) -> Path:
        return self.root / f"round-{number:04d}"

    def completed_rounds(self) -> list[int]:
        return sorted(
            int(match.group(1))
            for path in self.root.iterdir()
            if path.is_dir() and (match := ROUND_PATTERN.match(path.name))
        )

    def begin_round(self, number: int) -> Path:
        """A fresh, empty working folder for the round (a leftover from a kill is dropped)."""
        workspace = self.round_dir(number).with_name(f"round-{number:04d}{PARTIAL_SUFFIX}")
        shutil.rmtree(workspace, ignore_errors=True)
        workspace.mkdir()
        return workspace

    def complete_round(self, number: int, workspace: Path) -> Path:
        """Make every file durable, then publish the round by one rename."""
        for path in workspace.rglob("*"):
            if path.is_file():
                with open(path, "rb") as handle:
                    os.fsync(handle.fileno())
        final = self.round_dir(number)
        os.replace(workspace, final)
        _fsync_dir(self.root)
        return final

    def verdict(self, number: int) -> dict[str, Any]:
        """Round `number`'s verdict, checked: a broken one is one sentence naming the file."""
        path = self.round_dir(number) / VERDICT
        verdict = read_json_object(path, "round verdict")
        score = verdict.get("score")
        if (
            verdict.get("round") != number
            or not isinstance(verdict.get("ok"), bool)
            or not (score is None or isinstance(score, (int, float)))
        ):
            raise TTSGymError(
                f"the round verdict {path} is not round {number}'s verdict "
                "('round', 'ok' and 'score' are missing or of the wrong type)."
            )
        return verdict

    def verdicts(self) -> list[dict[str, Any]]:
        """The verdicts of the completed rounds, in order."""
        return [self.verdict(number) for number in self.completed_rounds()]

    def drop_partial_rounds(self) -> list[str]:
        dropped = []
        for path in sorted(self.root.glob(f"round-*{PARTIAL_SUFFIX}")):
            shutil.rmtree(path, ignore_errors=True)
            dropped.append(path.name)
        return dropped

    # ---- files ------------------------------------------------------------------------------
    def write(self, relative: str, data: str | bytes) -> Path:
        return write_file(self.root / relative, data)

    def read_json(self, relative: str) -> Any:
        """A JSON file of the run (None when absent), checked as `read_json` checks."""
        path = self.root / relative
        return read_json(path, "run file") if path.is_file() else None


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
