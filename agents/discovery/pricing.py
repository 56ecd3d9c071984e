"""Dollar estimates from token counts, a small price table, and the dollars a round may spend.

Prices are list prices in USD per million tokens when the table was written: input, output,
cached input (a prompt-cache read) and a cache write (Anthropic's 5-minute write, 1.25x input;
OpenAI charges none). They are an estimate, not a bill: check the provider's console for what
was charged. A model matches an entry when its name is the entry or starts with the entry and
a dash (`claude-sonnet-4-6`, `gpt-4o-2024-08-06`); the longest match wins. The `anthropic`
proposer prices a model the table does not know like the dearest entry, so the dollar cap
errs on the safe side; the `openai` and `codex` proposers refuse an unknown model unless
`--price-in/--price-out` are given (0 and 0 for a local endpoint that costs nothing).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tts_gym.errors import TTSGymError

ANTHROPIC_CACHE_WRITE = 1.25
ANTHROPIC_CACHE_READ = 0.1


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cache_read: float
    cache_write: float

    @classmethod
    def anthropic(cls, input: float, output: float) -> Price:
        return cls(input, output, input * ANTHROPIC_CACHE_READ, input * ANTHROPIC_CACHE_WRITE)

    @classmethod
    def openai(cls, input: float, output: float, cached: float) -> Price:
        return cls(input, output, cached, input)

    @classmethod
    def given(cls, input: float, output: float) -> Price:
        """A user's `--price-in/--price-out`: cached input at the full input price (no
        discount assumed), a cache write at Anthropic's surcharge."""
        return cls(input, output, input, input * ANTHROPIC_CACHE_WRITE)


PRICES: dict[str, Price] = {
    "claude-opus-4-7": Price.anthropic(5.0, 25.0),
    "claude-opus-4-6": Price.anthropic(5.0, 25.0),
    "claude-opus-4-5": Price.anthropic(5.0, 25.0),
    "claude-opus-4-1": Price.anthropic(15.0, 75.0),
    "claude-opus-4": Price.anthropic(15.0, 75.0),
    "claude-sonnet-4": Price.anthropic(3.0, 15.0),
    "claude-3-7-sonnet": Price.anthropic(3.0, 15.0),
    "claude-haiku-4-5": Price.anthropic(1.0, 5.0),
    "claude-3-5-haiku": Price.anthropic(0.8, 4.0),
    "gpt-5": Price.openai(1.25, 10.0, 0.125),
    "gpt-5-codex": Price.openai(1.25, 10.0, 0.125),
    "gpt-5-mini": Price.openai(0.25, 2.0, 0.025),
    "gpt-5-nano": Price.openai(0.05, 0.4, 0.005),
    "gpt-4.1": Price.openai(2.0, 8.0, 0.5),
    "gpt-4.1-mini": Price.openai(0.4, 1.6, 0.1),
    "gpt-4.1-nano": Price.openai(0.1, 0.4, 0.025),
    "gpt-4o": Price.openai(2.5, 10.0, 1.25),
    "gpt-4o-mini": Price.openai(0.15, 0.6, 0.075),
    "o3": Price.openai(2.0, 8.0, 0.5),
    "o4-mini": Price.openai(1.1, 4.4, 0.275),
}
"""Model names (an entry also covers its dated and suffixed versions) to list prices."""

FALLBACK = max(PRICES.values(), key=lambda price: price.output)


def is_amount(value: Any) -> bool:
    """Whether `value` is a finite number of dollars (or seconds) of at least 0."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def known_price(model: str) -> Price | None:
    """The table's price of `model`, or None."""
    matches = [name for name in PRICES if model == name or model.startswith(name + "-")]
    return PRICES[max(matches, key=len)] if matches else None


def price_of(model: str) -> tuple[Price, bool]:
    """The model's price and whether it was known (else the dearest listed price)."""
    price = known_price(model)
    return (FALLBACK, False) if price is None else (price, True)


def resolve_price(
    model: str, price_in: float | None, price_out: float | None, *, fallback: bool
) -> tuple[Price, bool]:
    """The price a proposer uses: `--price-in/--price-out` when given (both or neither), else
    the table's; an unknown model is the dearest entry with `fallback`, else refused."""
    if (price_in is None) != (price_out is None):
        raise TTSGymError("give both --price-in and --price-out, or neither.")
    if price_in is not None and price_out is not None:
        if not (0 <= price_in < float("inf") and 0 <= price_out < float("inf")):
            raise TTSGymError("--price-in and --price-out must be finite and at least 0.")
        return Price.given(price_in, price_out), True
    price = known_price(model)
    if price is not None:
        return price, True
    if fallback:
        return FALLBACK, False
    raise TTSGymError(
        f"no price is known for the model '{model}': give --price-in and --price-out in dollars "
        "per million tokens (0 and 0 for a local endpoint that costs nothing)."
    )


def anthropic_tokens(usage: dict[str, Any]) -> dict[str, int]:
    """The four token counts of a Messages API `usage` object (missing or null counts are 0)."""
    return {
        "input": int(usage.get("input_tokens") or 0),
        "output": int(usage.get("output_tokens") or 0),
        "cache_write": int(usage.get("cache_creation_input_tokens") or 0),
        "cache_read": int(usage.get("cache_read_input_tokens") or 0),
    }


def openai_tokens(prompt: int, cached: int, output: int) -> dict[str, int]:
    """The four token counts of an OpenAI-style usage, whose prompt count includes the cached
    part (Chat Completions' `prompt_tokens`, Codex's `input_tokens`)."""
    cached = min(max(cached, 0), prompt)
    return {"input": prompt - cached, "output": output, "cache_write": 0, "cache_read": cached}


def dollars(price: Price, tokens: dict[str, int]) -> float:
    """Estimated cost of one response."""
    return (
        tokens.get("input", 0) * price.input
        + tokens.get("cache_write", 0) * price.cache_write
        + tokens.get("cache_read", 0) * price.cache_read
        + tokens.get("output", 0) * price.output
    ) / 1e6


def token_totals(entries: Sequence[dict[str, Any]]) -> dict[str, int]:
    """The token counts of priced calls (ledger lines, usage entries), added up by kind."""
    totals: dict[str, int] = {}
    for entry in entries:
        tokens = entry.get("tokens")
        for key, value in tokens.items() if isinstance(tokens, dict) else ():
            if isinstance(value, int) and not isinstance(value, bool):
                totals[key] = totals.get(key, 0) + value
    return totals


class Budget:
    """The dollars a round may still spend, shared by its candidates (they may run at once).

    A call reserves its worst case before it starts and settles on its actual cost after, so
    candidates running at the same time never spend together more than the cap allows.
    """

    def __init__(self, cap: float, spent: float) -> None:
        self._left = cap - spent
        self._lock = threading.Lock()

    def left(self) -> float:
        with self._lock:
            return self._left

    def reserve(self, amount: float) -> bool:
        """Set `amount` aside if that much is left."""
        with self._lock:
            if amount > self._left:
                return False
            self._left -= amount
            return True

    def settle(self, reserved: float, spent: float) -> None:
        """Replace a reservation by what was actually spent."""
        with self._lock:
            self._left += reserved - spent
