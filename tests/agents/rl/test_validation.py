"""CMC's curve as issue 24 states it: the two points and the line in log tokens between."""

from __future__ import annotations

import pytest
from tts_gym_agents.rl.validation import line_accuracy, margin, on_curve

LOW = {"acc": 45.30, "tokens_k": 331.3}  # CMC(beta=0.5), held-out average (percent)
HIGH = {"acc": 47.04, "tokens_k": 621.6}  # CMC(beta=1.0)


def point(acc: float, tokens_k: float) -> dict[str, float]:
    return {"acc": acc, "tokens_k": tokens_k}


def test_the_line_in_log_tokens() -> None:
    assert line_accuracy(331.3, LOW, HIGH) == pytest.approx(45.30)
    assert line_accuracy(621.6, LOW, HIGH) == pytest.approx(47.04)
    assert line_accuracy(446.3, LOW, HIGH) == pytest.approx(46.12, abs=5e-3)  # the issue's
    assert margin(point(45.65, 446.3), LOW, HIGH) == pytest.approx(-0.47, abs=0.01)


@pytest.mark.parametrize(
    ("acc", "tokens_k", "on"),
    [
        (45.30, 300.0, True),  # CMC(0.5)'s accuracy with fewer tokens
        (45.29, 300.0, False),
        (47.04, 600.0, True),  # CMC(1.0)'s accuracy with fewer tokens
        (46.20, 446.3, True),  # between, above the line
        (46.00, 446.3, False),  # between, below it (the retired model's place)
        (48.00, 700.0, False),  # more tokens than CMC(1.0) spends
    ],
)
def test_the_acceptance_rule(acc: float, tokens_k: float, on: bool) -> None:
    assert on_curve(point(acc, tokens_k), LOW, HIGH) is on


def test_two_reference_points_at_the_same_tokens_make_a_flat_curve() -> None:
    low, high = point(20.0, 24.0), point(0.0, 24.0)
    assert line_accuracy(24.0, low, high) == 20.0 and on_curve(point(20.0, 24.0), low, high)
