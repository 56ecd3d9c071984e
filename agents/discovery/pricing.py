"""Dollar estimates from the Messages API's `usage`, with a small per-model price table.

Prices are list prices in USD per million tokens (input, output); a 5-minute cache write
costs 1.25x input and a cache read 0.1x input. They are an estimate, not a bill: check the
console for what was charged. An unknown model is priced like the dearest one listed, so the
dollar cap errs on the safe side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CACHE_WRITE_FACTOR = 1.25
CACHE_READ_FACTOR = 0.1


@dataclass(frozen=True)
class Price:
    input: float  # USD per million input tokens
    output: float  # USD per million output tokens


PRICES: dict[str, Price] = {
    "claude-opus-4-7": Price(5.0, 25.0),
    "claude-opus-4-6": Price(5.0, 25.0),
    "claude-opus-4-5": Price(5.0, 25.0),
    "claude-opus-4-1": Price(15.0, 75.0),
    "claude-opus-4": Price(15.0, 75.0),
    "claude-sonnet-4": Price(3.0, 15.0),
    "claude-3-7-sonnet": Price(3.0, 15.0),
    "claude-haiku-4-5": Price(1.0, 5.0),
    "claude-3-5-haiku": Price(0.8, 4.0),
}
"""Model-name prefixes (longest match wins) to list prices."""

FALLBACK = max(PRICES.values(), key=lambda price: price.output)


def price_of(model: str) -> tuple[Price, bool]:
    """The model's price and whether it was known (else the dearest listed price)."""
    matches = [prefix for prefix in PRICES if model.startswith(prefix)]
    if not matches:
        return FALLBACK, False
    return PRICES[max(matches, key=len)], True


def usage_tokens(usage: dict[str, Any]) -> dict[str, int]:
    """The four token counts of a `usage` object (missing or null counts are 0)."""
    return {
        "input": int(usage.get("input_tokens") or 0),
        "output": int(usage.get("output_tokens") or 0),
        "cache_write": int(usage.get("cache_creation_input_tokens") or 0),
        "cache_read": int(usage.get("cache_read_input_tokens") or 0),
    }


def dollars(model: str, usage: dict[str, Any]) -> float:
    """Estimated cost of one response."""
    price, _ = price_of(model)
    tokens = usage_tokens(usage)
    return (
        tokens["input"] * price.input
        + tokens["cache_write"] * price.input * CACHE_WRITE_FACTOR
        + tokens["cache_read"] * price.input * CACHE_READ_FACTOR
        + tokens["output"] * price.output
    ) / 1e6
