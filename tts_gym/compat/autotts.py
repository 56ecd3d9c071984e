"""Run controller classes written for the AutoTTS code base unchanged.

AutoTTS controllers are objects with `solve(question)` that call `question.probe_new()`,
`question.probe_more(index)`, `question.get_new_branch_final_answer()` and
`question.get_seq_and_total_tokens()`; `QuestionHandle` speaks that vocabulary (exhausted
branches raise `ValueError`, as AutoTTS's question does), so such a class is evaluated by
tts-gym's harness as it is. One difference: continuing a finished branch raises `ValueError`
here, where AutoTTS would silently charge the branch's remaining tokens again.
"""

from __future__ import annotations

import os
from typing import Any

from tts_gym.control.handle import QuestionHandle as AutoTTSQuestion
from tts_gym.control.protocols import policy_name
from tts_gym.evaluation.evaluate import evaluate as _evaluate
from tts_gym.evaluation.protocols import Protocol
from tts_gym.store.replay import ReplayStore

__all__ = ["AutoTTSQuestion", "evaluate"]


def evaluate(
    method: Any,
    store: str | os.PathLike | ReplayStore,
    orders: int = 100,
    *,
    jobs: int | None = None,
    data_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """AutoTTS's `evaluate` on the paper's protocol: `accuracy` in percent, `avg_tokens`.

    Orders are `random.Random(s).shuffle` for s = 0..orders-1, as in AutoTTS; both numbers are
    means over the orders of the per-order accuracy and tokens per question (unrounded).
    """
    describe = getattr(method, "description", None)
    name = describe() if callable(describe) else policy_name(method)
    (cell,) = _evaluate(method, store, Protocol("autotts", orders), jobs=jobs, data_dir=data_dir)
    return {"method": name, "accuracy": cell.acc, "avg_tokens": cell.tokens_k * 1000.0}
