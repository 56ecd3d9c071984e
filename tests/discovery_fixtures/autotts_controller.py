# ruff: noqa: UP006, UP035, UP045 - written in AutoTTS's own style, on purpose
"""The same idea written against AutoTTS's handle: `config={"beta": ...}`, probe_new/probe_more."""

from collections import Counter
from typing import Any, Dict, Optional


class AutoTTSController:
    NAME = "autotts_style"

    def __init__(self, config: Optional[Dict[str, Any]] = None) -> None:
        self.config = config or {}
        beta = min(1.0, max(0.0, float(self.config.get("beta", 0.5))))
        self.width = 2 + round(10 * beta)

    def solve(self, question) -> Optional[str]:
        branches = []
        for _ in range(self.width):
            try:
                answer, index, finished = question.probe_new()
            except (IndexError, ValueError):
                break
            branches.append([index, answer, finished])
        for branch in branches:
            while not branch[2]:
                branch[1], branch[2] = question.probe_more(branch[0])
        votes = Counter(answer for _, answer, _ in branches if answer is not None)
        return votes.most_common(1)[0][0] if votes else None
