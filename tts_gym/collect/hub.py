"""Where a model's files come from: a local folder, or the Hugging Face hub (and its cache).

Without this check, an unreachable hub costs a user a minute of retries and a screen of
warnings before the one line that matters. So a hub name is looked at first: offline mode
(`HF_HUB_OFFLINE=1`) means the cache only; otherwise one quick request tells whether the hub
answers, and if it does not, the cached copy is used when there is one, else the run stops
with one sentence saying how to get the model.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from tts_gym.collect.errors import CollectError

DEFAULT_ENDPOINT = "https://huggingface.co"
REACH_TIMEOUT_S = 5.0


def resolve_model(model: str) -> str:
    """`model` itself (a local folder, or a hub name the hub will serve), or the folder of its
    cached copy when the hub cannot be reached; CollectError when neither can serve it."""
    if Path(model).expanduser().exists() or _offline():
        return model
    if model.startswith(("/", ".", "~")) or model.count("/") > 1:  # a path, not a hub name
        raise CollectError(f"the model folder {model} does not exist.")
    endpoint = os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")
    if hub_reachable(endpoint):
        return model
    cached = _cached_snapshot(model)
    if cached is not None:
        return cached
    raise CollectError(
        f"'{model}' is neither a local folder nor in the Hugging Face cache, and the hub "
        f"({endpoint}) cannot be reached from here; download it where there is network "
        f"(`hf download {model}`) and pass its folder, or point HF_HOME at a cache that "
        "holds it (HF_HUB_OFFLINE=1 then skips this check)."
    )


def hub_reachable(endpoint: str, timeout: float = REACH_TIMEOUT_S) -> bool:
    """Whether `endpoint` answers an HTTP request at all (proxies from the environment apply)."""
    try:
        with urllib.request.urlopen(
            urllib.request.Request(endpoint, method="HEAD"), timeout=timeout
        ):
            return True
    except urllib.error.HTTPError:
        return True  # it answered
    except (OSError, ValueError):
        return False


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _cached_snapshot(model: str) -> str | None:
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(model, local_files_only=True)
    except Exception:  # not cached, or not a valid repository name: nothing to use
        return None
