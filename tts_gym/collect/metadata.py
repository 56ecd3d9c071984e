"""`STORE.meta.json`: how a store was collected, and the settings a resumed run must match."""

from __future__ import annotations

import hashlib
import os
import platform
from dataclasses import asdict
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tts_gym.collect.errors import CollectError
from tts_gym.collect.prompt import INSTRUCTION, PromptFormat
from tts_gym.collect.questions import QuestionItem
from tts_gym.collect.records import EXTRA_KEYS
from tts_gym.store.files import read_json, write_json
from tts_gym.store.replay import CONFIDENCE_KEY, CONFIDENCE_STATISTICS

if TYPE_CHECKING:
    from tts_gym.collect.collector import CollectConfig

UNSAMPLED = ("tensor_parallel_size", "batch_questions")
"""Settings that change how the work is spread, never what is sampled or stored."""


def metadata_path(store: str | os.PathLike) -> Path:
    """`STORE.json` -> `STORE.meta.json`, next to the store."""
    return Path(store).with_suffix(".meta.json")


def run_settings(config: CollectConfig, fmt: PromptFormat, tokenizer: Any) -> dict[str, Any]:
    """Everything that changes what is sampled or stored; a resumed run must match it exactly."""
    settings = asdict(config)
    for name in UNSAMPLED:
        del settings[name]
    settings.update(
        instruction=INSTRUCTION,
        chat_template_sha256=chat_template_sha256(tokenizer),
        thinking=fmt.thinking,
        suffix=fmt.suffix,
        suffix_ids=list(fmt.suffix_ids),
    )
    return settings


def chat_template_sha256(tokenizer: Any) -> str:
    return hashlib.sha256(str(tokenizer.chat_template).encode()).hexdigest()


def previous_metadata(
    meta_file: Path, out: Path, settings: dict[str, Any]
) -> dict[str, Any] | None:
    """The metadata of the run being resumed (None if it never wrote one), after checking
    that it was collected with exactly these settings."""
    if not meta_file.exists():
        return None
    metadata = read_json(meta_file, "metadata file")
    old = metadata.get("settings") if isinstance(metadata, dict) else None
    if not isinstance(old, dict):
        raise CollectError(f"cannot resume: {meta_file} has no 'settings' object.")
    for key, value in settings.items():
        if old.get(key) != value:
            raise CollectError(
                f"cannot resume {out}: it was collected with {key}={old.get(key)!r}, "
                f"this run has {key}={value!r}."
            )
    return metadata


def new_metadata(
    previous: dict[str, Any] | None,
    settings: dict[str, Any],
    out: Path,
    questions: Path,
    items: list[QuestionItem],
    tokenizer: Any,
    fmt: PromptFormat,
) -> dict[str, Any]:
    now = _now()
    window, tail = settings["confidence_window"], settings["tail_window"]
    return {
        "store": out.name,
        "format": "AutoTTS replay store; extra per-question keys are ignored by AutoTTS readers",
        "questions_file": str(questions),
        "questions_sha256": hashlib.sha256(questions.read_bytes()).hexdigest(),
        "total_questions": len(items),
        "completed_questions": 0,
        "settings": settings,
        "example_prompt": tokenizer.decode(fmt.prompt_ids(tokenizer, items[0].question)),
        "extra_keys": EXTRA_KEYS,
        "confidence": {
            "token": (
                f"C_i = -mean of the {settings['top_logprobs']} largest log-probabilities at "
                "position i; every statistic below is read at the segment's last token, over "
                "the trace so far; higher means more confident"
            ),
            CONFIDENCE_KEY: f"mean of C over the last {window} tokens (fewer at the start)",
            CONFIDENCE_STATISTICS["lowest"]: (
                f"minimum over the groups so far, a group being the mean of C over {window} "
                "consecutive tokens (the whole trace so far while it is shorter)"
            ),
            CONFIDENCE_STATISTICS["bottom10"]: (
                "mean of the lowest max(1, floor(n/10)) of those n groups"
            ),
            CONFIDENCE_STATISTICS["tail"]: f"mean of C over the last {tail} tokens",
            "segment_mean_logprob": "mean log-probability of the segment's sampled tokens",
            "segments": "segment k holds tokens k*D .. min((k+1)*D, T) - 1, one per probe entry",
        },
        "versions": _versions(settings["backend"]),
        "created": now if previous is None else previous.get("created", now),
        "updated": now,
    }


def write_metadata(meta_file: Path, metadata: dict[str, Any], completed: int) -> None:
    metadata["completed_questions"] = completed
    metadata["updated"] = _now()
    write_json(meta_file, metadata, indent=None)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _versions(backend: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    names = ["tts-gym", "torch", "transformers", "tokenizers", "math-verify"]
    for name in names + (["vllm"] if backend == "vllm" else []):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found
