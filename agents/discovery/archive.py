"""The run folder: a ledger of events and one folder per completed round, safe to kill.

    runs/<name>/
      config.json         the run's settings (resume reads them back)
      system_prompt.md    the fixed part of every round's prompt
      baselines.json/csv  the built-in controllers on the search stores
      ledger.jsonl        one JSON line per event, with tokens and dollars
      round-0001/
        verdict.json      the round: its kept candidate's verdict and every candidate's result
        feedback.md       what later rounds read: the kept candidate's feedback, every score
        candidate-1/      prompt.md, controller.py, transcript.json, usage.json, verdict.json,
                          sweep.csv, feedback.md, traces.jsonl
      best.json           the selected candidate (derived from the verdicts; checked on use)
      final/              the held-out report (after `--final`)

Ledger lines are appended, flushed and fsynced one by one; a line torn by a kill is ignored
when read and cut off when a run resumes. A candidate is written in
`round-NNNN.partial/candidate-K.partial/` and renamed to `candidate-K/` when complete; the
round is renamed to `round-NNNN/` when all its candidates are. A kill at any moment loses at
most the candidates under way; `--resume` keeps the completed ones.

`RunFolder` reads a run (compare and report read runs that another process may be extending);
`RunArchive` is the locked writer. Everything read back is checked: a broken or hand-edited
file is one sentence naming it, never a traceback and never a figure taken on trust.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from tts_gym_agents.discovery.pricing import is_amount

from tts_gym.errors import TTSGymError
from tts_gym.store.files import read_json, read_json_object, write_file, write_json

LEDGER = "ledger.jsonl"
LOCK = ".lock"
CONFIG = "config.json"
BEST = "best.json"
VERDICT = "verdict.json"
USAGE = "usage.json"
CONTROLLER = "controller.py"
ROUND_PATTERN = re.compile(r"^round-(\d{4})$")
CANDIDATE_PATTERN = re.compile(r"^candidate-(\d+)$")
PARTIAL_SUFFIX = ".partial"
COST_EVENTS = ("api_call",)
CENT = 1e-9  # dollars compared after float sums


def candidate_name(number: int) -> str:
    return f"candidate-{number}"


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _score(value: Any) -> bool:
    return value is None or (
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    )


LEDGER_FIELDS = {
    "round": (_positive_int, "a whole number of at least 1"),
    "candidate": (_positive_int, "a whole number of at least 1"),
    "dollars": (is_amount, "a number of at least 0"),
    "seconds": (is_amount, "a number of at least 0"),
    "score": (_score, "a number or null"),
    "ok": (lambda value: isinstance(value, bool), "true or false"),
    "time": (is_amount, "a number of at least 0"),
}
"""Fields the loop reads back from the ledger, with their rule (checked wherever they occur)."""


class RunFolder:
    """A discovery run's folder, read and checked (no lock: it never writes)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ledger = root / LEDGER

    @classmethod
    def at(cls, root: Path) -> RunFolder:
        if not (root / CONFIG).is_file() or not (root / LEDGER).is_file():
            raise TTSGymError(f"{root} is not a discovery run folder (no {CONFIG} / {LEDGER}).")
        return cls(root)

    @property
    def config(self) -> dict[str, Any]:
        return read_json_object(self.root / CONFIG, "run config")

    # ---- ledger -----------------------------------------------------------------------------
    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The ledger's events (of one kind), each checked; a last line torn by a kill is left
        out. A broken line is one sentence naming it."""
        try:
            data = self.ledger.read_bytes()
        except OSError as error:
            raise TTSGymError(
                f"the ledger {self.ledger} cannot be read ({error.strerror})."
            ) from None
        if data and not data.endswith(b"\n"):
            data = data[: data.rfind(b"\n") + 1]
        try:
            lines = data.decode("utf-8").splitlines()
        except UnicodeDecodeError:
            raise TTSGymError(f"the ledger {self.ledger} is not UTF-8 text.") from None
        records = []
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                record = None
            if not isinstance(record, dict) or not isinstance(record.get("event"), str):
                raise TTSGymError(
                    f"the ledger {self.ledger}: line {number} is not an event "
                    "(a JSON object with an 'event' name)."
                )
            for name, (rule, wanted) in LEDGER_FIELDS.items():
                if name in record and not rule(record[name]):
                    raise TTSGymError(
                        f"the ledger {self.ledger}: line {number}'s '{name}' is "
                        f"{json.dumps(record[name])[:40]}, not {wanted}."
                    )
            if record["event"] in COST_EVENTS and "dollars" not in record:
                raise TTSGymError(
                    f"the ledger {self.ledger}: line {number} is a priced call without 'dollars'."
                )
            if kind is None or record["event"] == kind:
                records.append(record)
        return records

    def dollars_spent(self, events: list[dict[str, Any]] | None = None) -> float:
        """Every dollar the ledger recorded, candidates cut short by a kill included."""
        events = self.events() if events is None else events
        return sum(e["dollars"] for e in events if e["event"] in COST_EVENTS)

    def seconds_used(self) -> float:
        """Wall time of the completed rounds."""
        return sum(float(e.get("seconds") or 0.0) for e in self.events("round_end"))

    def check(self) -> None:
        """The ledger against the archive: it starts the run and holds at least every dollar
        that the rounds' own usage files record (an emptied or edited ledger would otherwise
        lift the dollar cap)."""
        events = self.events()
        if not events or events[0]["event"] != "run_start":
            raise TTSGymError(
                f"the ledger {self.ledger} does not begin with the run's start: it was emptied "
                "or cut, so the dollars spent are unknown."
            )
        paid: dict[int, float] = {}
        for event in events:
            if event["event"] in COST_EVENTS and "round" in event:
                paid[event["round"]] = paid.get(event["round"], 0.0) + event["dollars"]
        for number, folders in self._candidate_folders().items():
            recorded = sum(self._usage_dollars(folder) for folder in folders)
            if paid.get(number, 0.0) + CENT < recorded:
                raise TTSGymError(
                    f"the ledger {self.ledger} records ${paid.get(number, 0.0):.4f} for round "
                    f"{number} but its usage files record ${recorded:.4f}: the ledger was edited "
                    "or cut."
                )

    def _usage_dollars(self, folder: Path) -> float:
        path = folder / USAGE
        if not path.is_file():
            return 0.0
        usage = read_json(path, "usage record")
        entries = usage if isinstance(usage, list) else None
        if entries is None or not all(
            isinstance(e, dict) and is_amount(e.get("dollars", 0.0)) for e in entries
        ):
            raise TTSGymError(
                f"the usage record {path} is not a list of priced calls (each with 'dollars' "
                "of at least 0)."
            )
        return sum(e.get("dollars", 0.0) for e in entries)

    # ---- rounds -----------------------------------------------------------------------------
    def round_dir(self, number: int) -> Path:
        return self.root / f"round-{number:04d}"

    def partial_round_dir(self, number: int) -> Path:
        return self.root / f"round-{number:04d}{PARTIAL_SUFFIX}"

    def completed_rounds(self) -> list[int]:
        return sorted(
            int(match.group(1))
            for path in self.root.iterdir()
            if path.is_dir() and (match := ROUND_PATTERN.match(path.name))
        )

    def completed_candidates(self, folder: Path) -> dict[int, Path]:
        """The completed candidates in a round folder (complete or under way)."""
        if not folder.is_dir():
            return {}
        return {
            int(match.group(1)): path
            for path in folder.iterdir()
            if path.is_dir() and (match := CANDIDATE_PATTERN.match(path.name))
        }

    def _candidate_folders(self) -> dict[int, list[Path]]:
        """Round number -> the folders of its completed candidates (a round of the layout
        before candidates is its own folder)."""
        folders = {}
        for number in self.completed_rounds():
            found = self.completed_candidates(self.round_dir(number))
            folders[number] = list(found.values()) or [self.round_dir(number)]
        for path in self.root.glob(f"round-*{PARTIAL_SUFFIX}"):
            match = ROUND_PATTERN.match(path.name.removesuffix(PARTIAL_SUFFIX))
            if match and path.is_dir():
                folders.setdefault(int(match.group(1)), []).extend(
                    self.completed_candidates(path).values()
                )
        return folders

    def candidate_dir(self, number: int, candidate: int | None) -> Path:
        """A completed round's candidate folder (None: a round written before candidates)."""
        folder = self.round_dir(number)
        return folder if candidate is None else folder / candidate_name(candidate)

    def verdict(self, number: int) -> dict[str, Any]:
        """Round `number`'s verdict, checked: a broken one is one sentence naming the file."""
        path = self.round_dir(number) / VERDICT
        verdict = read_json_object(path, "round verdict")
        if (
            verdict.get("round") != number
            or not isinstance(verdict.get("ok"), bool)
            or not _score(verdict.get("score"))
            or not (verdict.get("candidate") is None or _positive_int(verdict.get("candidate")))
        ):
            raise TTSGymError(
                f"the round verdict {path} is not round {number}'s verdict ('round', 'ok', "
                "'score' or 'candidate' are missing or of the wrong type)."
            )
        return verdict

    def verdicts(self) -> list[dict[str, Any]]:
        """The verdicts of the completed rounds, in order."""
        return [self.verdict(number) for number in self.completed_rounds()]

    # ---- the chosen controller --------------------------------------------------------------
    def select_best(self) -> dict[str, Any] | None:
        """The best accepted round by score (ties: the earlier round), from the verdicts."""
        accepted = [v for v in self.verdicts() if v["ok"] and v.get("score") is not None]
        if not accepted:
            return None
        best = max(accepted, key=lambda v: (v["score"], -v["round"]))
        controller = self.candidate_dir(best["round"], best.get("candidate")) / CONTROLLER
        selected = {"round": best["round"], "candidate": best.get("candidate")}
        if selected["candidate"] is None:  # a round written before candidates
            del selected["candidate"]
        return {
            **selected,
            "score": best["score"],
            "controller": controller.relative_to(self.root).as_posix(),
        }

    def chosen(self) -> dict[str, Any]:
        """The selected controller, derived from the verdicts and checked against the ledger,
        `best.json` and the file itself before anything spends the held-out evaluation."""
        self.check()
        best = self.select_best()
        if best is None:
            raise TTSGymError(
                f"no round of {self.root} passed the checks; there is nothing to evaluate."
            )
        saved = read_json(self.root / BEST, "run file") if (self.root / BEST).is_file() else None
        if saved != best:
            raise TTSGymError(
                f"{self.root / BEST} does not match the rounds' verdicts (they select round "
                f"{best['round']}, score {best['score']:+.4f}, {best['controller']}); it was "
                f"edited: remove it and run `tts-gym discover --resume {self.root}` to rewrite it."
            )
        candidate = best.get("candidate")
        kind = "round_end" if candidate is None else "candidate_end"  # the older layout
        scored = [
            e
            for e in self.events(kind)
            if e.get("round") == best["round"] and e.get("candidate") == candidate
        ]
        if not scored or scored[-1].get("score") != best["score"] or not scored[-1].get("ok"):
            raise TTSGymError(
                f"round {best['round']}'s verdict does not match the ledger {self.ledger} "
                f"(score {best['score']:+.4f}); the run folder was edited."
            )
        controller = self.root / best["controller"]
        if not controller.is_file():
            raise TTSGymError(f"the chosen controller {controller} is missing.")
        digest = scored[-1].get("sha256") if scored else None
        if digest is not None and _sha256(controller) != digest:
            raise TTSGymError(
                f"the chosen controller {controller} is not the file that was scored (its "
                "sha256 differs from the ledger's)."
            )
        return best

    def read_json(self, relative: str) -> Any:
        """A JSON file of the run (None when absent), checked as `read_json` checks."""
        path = self.root / relative
        return read_json(path, "run file") if path.is_file() else None


class RunArchive(RunFolder):
    """One discovery run's folder, locked against a second process while it is open."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._log_lock = threading.Lock()  # candidates of a round log from their own threads
        lock = root / LOCK
        try:
            self._lock = open(lock, "a")  # noqa: SIM115 - held for the archive's lifetime
        except OSError as error:
            what = "a folder" if lock.is_dir() else error.strerror
            raise TTSGymError(f"cannot lock {root}: {lock} is {what}.") from None
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
        """The locked run folder; nothing in it is changed until `repair`."""
        RunFolder.at(root)
        return cls(root)

    # ---- writing ----------------------------------------------------------------------------
    def log(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one event (with the wall-clock time) and make it durable before returning."""
        record = {"event": event, "time": round(time.time(), 3), **fields}
        with self._log_lock, open(self.ledger, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return record

    def write(self, relative: str, data: str | bytes) -> Path:
        return write_file(self.root / relative, data)

    def repair(self) -> dict[str, Any]:
        """What a kill left: cut a torn ledger line, drop unfinished candidates, log completed
        rounds and candidates whose closing line was lost. Returns what was done."""
        data = self.ledger.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.ledger, "r+b") as handle:
                handle.truncate(data.rfind(b"\n") + 1)
                handle.flush()
                os.fsync(handle.fileno())
        dropped = []
        for path in sorted(self.root.glob(f"round-*{PARTIAL_SUFFIX}/*{PARTIAL_SUFFIX}")):
            shutil.rmtree(path, ignore_errors=True)
            dropped.append(path.relative_to(self.root).as_posix())
        events = self.events()
        ended = {
            (e.get("round"), e.get("candidate")) for e in events if e["event"] == "candidate_end"
        }
        for number, folders in sorted(self._candidate_folders().items()):
            for folder in folders:
                match = CANDIDATE_PATTERN.match(folder.name)
                if match and (number, int(match.group(1))) not in ended:
                    self._log_candidate_end(number, int(match.group(1)), folder, repaired=True)
        logged = {e["round"] for e in events if e["event"] == "round_end" and "round" in e}
        for number in self.completed_rounds():
            if number not in logged:  # killed between publishing the round and logging it
                verdict = self.verdict(number)
                self.log(
                    "round_end",
                    round=number,
                    ok=verdict["ok"],
                    score=verdict.get("score"),
                    candidate=verdict.get("candidate"),
                    repaired=True,
                )
        return {"dropped": dropped}

    def begin_round(self, number: int) -> Path:
        """The round's working folder; candidates completed before a kill stay in it."""
        folder = self.partial_round_dir(number)
        folder.mkdir(exist_ok=True)
        return folder

    def begin_candidate(self, folder: Path, candidate: int) -> Path:
        """A fresh, empty working folder for one candidate (a leftover of a kill is dropped)."""
        workspace = folder / (candidate_name(candidate) + PARTIAL_SUFFIX)
        shutil.rmtree(workspace, ignore_errors=True)
        workspace.mkdir()
        return workspace

    def complete_candidate(self, number: int, workspace: Path, **fields: Any) -> Path:
        """Make the candidate's files durable, publish it by one rename, then log it."""
        final = workspace.with_name(workspace.name.removesuffix(PARTIAL_SUFFIX))
        candidate = int(CANDIDATE_PATTERN.fullmatch(final.name).group(1))
        _publish(workspace, final)
        self._log_candidate_end(number, candidate, final, **fields)
        return final

    def _log_candidate_end(self, number: int, candidate: int, folder: Path, **fields: Any) -> None:
        verdict = read_json_object(folder / VERDICT, "candidate verdict")
        controller = folder / CONTROLLER
        digest = _sha256(controller) if controller.is_file() else None
        self.log(
            "candidate_end",
            round=number,
            candidate=candidate,
            ok=bool(verdict.get("ok")),
            score=verdict.get("score") if _score(verdict.get("score")) else None,
            sha256=digest,
            **fields,
        )

    def complete_round(self, number: int, folder: Path) -> Path:
        """Make every file durable, then publish the round by one rename."""
        final = self.round_dir(number)
        _publish(folder, final)
        return final

    def update_best(self) -> dict[str, Any] | None:
        """Rewrite `best.json` from the verdicts when it differs; returns the selection."""
        best = self.select_best()
        if best is not None and self.read_json(BEST) != best:
            self.write(BEST, json.dumps(best, indent=2) + "\n")
            self.log("best", **best)
        return best


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _publish(workspace: Path, final: Path) -> None:
    for path in workspace.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    os.replace(workspace, final)
    _fsync_dir(final.parent)


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
