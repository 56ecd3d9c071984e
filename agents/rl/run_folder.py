"""A training run's folder: one process at a time, resumable from whatever it holds.

- While a process trains in it, it holds `.lock` (`tts_gym.store.files.lock_folder`, the
  same lock as discovery's): a second `train --out DIR` there is one sentence, and a kill
  leaves no stale lock (the OS releases it).
- A run stopped before its first checkpoint (Ctrl-C in the first minutes) holds a config and
  perhaps TensorBoard logs, but no trained step (no checkpoint, `model.zip` or `record.json`):
  `--resume` starts it from step 0 and a fresh start takes the folder over, so nothing needs
  deleting by hand. A folder with a trained model but no checkpoint (a shipped model) is
  never trained over.
- `--resume` continues from the newest checkpoint that loads, naming in a warning those it
  passed over (a checkpoint torn by a full disk, or edited); when none loads, it is one
  sentence. A fresh start refuses a folder that holds trained steps: they are the user's.
- A resume that fails (no checkpoint loads, nothing left to train) fails before it writes:
  the folder stays as it was.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tts_gym_agents.rl.config import CONFIG_FILE

from tts_gym.errors import TTSGymError, brief

CHECKPOINTS = "checkpoints"
TRAINED_FILES = ("model.zip", "record.json")
"""Written once steps are trained (`best_model.zip` may come earlier: a run stopped before
its first checkpoint is taken over with it)."""
_CHECKPOINT = re.compile(r"step_(\d+)\.zip")
Model = TypeVar("Model")


def checkpoints(out: Path) -> list[Path]:
    """The run's checkpoints `checkpoints/step_<N>.zip`, newest (largest N) first."""
    found = [
        (int(match.group(1)), path)
        for path in (out / CHECKPOINTS).glob("step_*.zip")
        if (match := _CHECKPOINT.fullmatch(path.name))
    ]
    return [path for _, path in sorted(found, reverse=True)]


def latest_checkpoint(out: Path) -> Path | None:
    found = checkpoints(out)
    return found[0] if found else None


def trained(out: Path) -> bool:
    """Whether the folder holds trained steps: a checkpoint, a final model or a record (a
    run stopped before its first checkpoint has none of them)."""
    return bool(checkpoints(out)) or any((out / name).exists() for name in TRAINED_FILES)


def check_start(out: Path, resume: bool) -> None:
    """Refuse, before anything is read or written, a start that the folder cannot take."""
    if out.exists() and not out.is_dir():
        raise TTSGymError(f"the run folder {out} is a file.")
    if resume and not (out / CONFIG_FILE).is_file():
        raise TTSGymError(f"{out} holds no training run to resume (no {CONFIG_FILE}).")
    if resume and trained(out) and not checkpoints(out):
        raise TTSGymError(
            f"{out} holds a trained run but no checkpoint in {out / CHECKPOINTS} to resume "
            "from; train into another --out."
        )
    if not resume and trained(out):
        raise TTSGymError(
            f"{out} already holds a training run; continue it with --resume or choose "
            "another --out."
        )


def load_checkpoint(out: Path, load: Callable[[Path], Model]) -> Model | None:
    """`load` of the newest checkpoint that loads; None when the run has none yet (it then
    starts from step 0, and says so). Unreadable checkpoints are named in a warning; when
    there are checkpoints and none loads, `TTSGymError`."""
    found = checkpoints(out)
    if not found:
        warnings.warn(
            f"{out} has no checkpoint yet (it stopped before the first): training it from step 0.",
            stacklevel=2,
        )
        return None
    skipped = []
    for path in found:
        try:
            model = load(path)
        except Exception as error:  # a torn or foreign zip: zipfile, pickle and torch errors
            skipped.append(f"{path.name} ({brief(error)})")
            continue
        if skipped:
            warnings.warn(
                f"passed over unreadable checkpoint(s) {', '.join(skipped)}; resuming from "
                f"{path.name}.",
                stacklevel=2,
            )
        return model
    raise TTSGymError(
        f"no checkpoint in {out / CHECKPOINTS} can be read ({'; '.join(skipped)}); nothing "
        "was changed."
    )
