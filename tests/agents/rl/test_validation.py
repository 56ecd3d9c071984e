"""CMC's curve as issue 24 states it: the two points and the line in log tokens between."""

from __future__ import annotations

import pytest
from tts_gym_agents.rl.validation import line_accuracy, margin, on_curve

LOW = {"accuracy": 0.4530, "tokens_k": 331.3}  # CMC(beta=0.5), held-out average
HIGH = {"accuracy": 0.4704, "tokens_k": 621.6}  # CMC(beta=1.0)


def point(acc: float, tokens_k: float) -> dict[str, float]:
    return {"accuracy": acc, "tokens_k": tokens_k}


def test_the_line_in_log_tokens() -> None:
    assert line_accuracy(331.3, LOW, HIGH) == pytest.approx(0.4530)
    assert line_accuracy(621.6, LOW, HIGH) == pytest.approx(0.4704)
    assert line_accuracy(446.3, LOW, HIGH) == pytest.approx(0.4612, abs=5e-5)  # the issue's
    assert margin(point(0.4565, 446.3), LOW, HIGH) == pytest.approx(-0.47, abs=0.01)


@pytest.mark.parametrize(
    ("acc", "tokens_k", "on"),
    [
        (0.4530, 300.0, True),  # CMC(0.5)'s accuracy with fewer tokens
        (0.4529, 300.0, False),
        (0.4704, 600.0, True),  # CMC(1.0)'s accuracy with fewer tokens
        (0.4620, 446.3, True),  # between, above the line
        (0.4600, 446.3, False),  # between, below it (the retired model's place)
        (0.4800, 700.0, False),  # more tokens than CMC(1.0) spends
    ],
)
def test_the_acceptance_rule(acc: float, tokens_k: float, on: bool) -> None:
    assert on_curve(point(acc, tokens_k), LOW, HIGH) is on


def test_two_reference_points_at_the_same_tokens_make_a_flat_curve() -> None:
    low, high = point(0.2, 24.0), point(0.0, 24.0)
    assert line_accuracy(24.0, low, high) == 0.2 and on_curve(point(0.2, 24.0), low, high)
