"""The reward of one step, stated once for both engines (the compiled one runs it as written).

An episode's return is `correct - token_penalty * tokens / 1e6 - latency_penalty * seq_tokens
/ 1e6`, paid step by step: each action's token cost and the sequential tokens it added (the
rules of `tts_gym.engine.rules`), plus 1 on the last step when the answer is correct.
"""

from __future__ import annotations

TOKEN_UNIT = 1_000_000
"""The penalties are per million tokens (total and sequential)."""


def step_reward(token_penalty: float, latency_penalty: float, cost: int, added: int) -> float:
    """The reward of a step that spent `cost` tokens and added `added` sequential tokens
    (before the 1 a correct answer adds)."""
    return -token_penalty * cost / TOKEN_UNIT - latency_penalty * added / TOKEN_UNIT
