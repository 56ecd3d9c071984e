"""The isolation report: which layers held, which are core, and the refusal when core ones miss.

A run's `isolation` maps each layer to what held, in words (`"missing: ..."` where it did not).
The core layers are the namespaces (PID, IPC, mount, network: what keeps the host out of
reach) and the seccomp filter (what keeps sessions from reaching each other and the host
through the kernel). Where a kernel layer is missing, the boundary still holds in design (the
parent computes every result) but the host is within reach, so the commands that score
candidates refuse unless the user passes `--allow-missing-layers`, which the report records.
"""

from __future__ import annotations

from collections.abc import Mapping

from tts_gym.errors import TTSGymError
from tts_gym.sandbox import namespaces, seccomp

ALLOW_FLAG = "--allow-missing-layers"
MISSING = "missing"
ALLOWED_KEY = "missing layers"


def missing_core_layers() -> list[str]:
    """The core layers this machine cannot give, each with why (checked without a run)."""
    missing = []
    why = namespaces.missing_reason()
    if why is not None:
        missing.append(f"the PID, IPC, mount and network namespaces ({why})")
    if not seccomp.available():
        missing.append("the seccomp filter (this kernel or machine has none)")
    return missing


def require_core_layers(allowed: bool) -> None:
    """Refuse up front, in one sentence, where core layers are missing and were not allowed."""
    missing = [] if allowed else missing_core_layers()
    if missing:
        raise TTSGymError(refusal(missing))


def missing_in(isolation: Mapping[str, str], *, sessions: bool = True) -> list[str]:
    """The core layers a run's report says did not hold (`sessions=False`: those of the
    worker only, before any session reported its own)."""
    missing = []
    namespace = isolation.get("namespaces", "")
    if not namespace or namespace.startswith(MISSING):
        missing.append(f"the namespaces ({namespace.removeprefix(MISSING + ': ') or 'none'})")
    if sessions and not isolation.get("processes", "").startswith("seccomp"):
        missing.append("the seccomp filter")
    return missing


def refusal(missing: list[str]) -> str:
    """One sentence: what is missing, and how to score anyway."""
    return (
        f"the sandbox's core layers are missing on this machine: {'; '.join(missing)}. Without "
        "them the host is within the candidate's reach, so the run was not scored; install "
        f"bubblewrap, or pass {ALLOW_FLAG} to score without them (the report will say so)."
    )


def allowed(missing: list[str]) -> str:
    """The report's line for a run scored without core layers, as the user asked."""
    return f"{'; '.join(missing)}: scored without them ({ALLOW_FLAG})"
