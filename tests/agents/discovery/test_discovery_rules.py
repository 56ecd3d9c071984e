"""The candidate rules (static source checks, the knob), scoring and pricing: no sandbox needed."""

from __future__ import annotations

import math
import re

import pytest
from tts_gym_agents.discovery import pricing, rules
from tts_gym_agents.discovery.candidate import SweepPoint
from tts_gym_agents.discovery.scoring import BaselineResult, area_scores, envelope_mean

from tts_gym.errors import TTSGymError
from tts_gym.sandbox import LoadedClass, Parameter

CLEAN = """
import math
from collections import Counter
from dataclasses import dataclass
from tts_gym.engine.voting import beta_confidence, vote_stats


class Controller:
    def __init__(self, beta: float = 0.5) -> None:
        self._width = 2 + round(6 * beta)

    def solve(self, q):
        votes = Counter(q.read() for _ in range(self._width) if q.can_branch)
        return votes.most_common(1)[0][0] if votes else None
"""


def test_clean_source_passes() -> None:
    assert rules.source_problems(CLEAN) == []


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("import os", "imports 'os'"),
        ("import socket", "imports 'socket'"),
        ("from pathlib import Path", "imports 'pathlib'"),
        ("import tts_gym.engine.voting", "imports 'tts_gym.engine.voting'"),
        ("from tts_gym.engine import Episode", "imports Episode from tts_gym.engine"),
        ("from . import helper", "relative imports"),
        ("x = open('gold.json')", "uses open()"),
        ("x = eval('1')", "uses eval()"),
        ("x = __import__('os')", "uses __import__()"),
        ("def f(q):\n    return q._episode", "private attribute '_episode'"),
        ("x = ().__class__.__base__", "private attribute '__base__'"),
        ("def f(q):\n    return getattr(q, '_episode')", "private name '_episode'"),
        ("def f(q):\n    return '{0._episode}'.format(q)", "format string"),
        ("def f(g):\n    return g.gi_frame.f_back", "interpreter's frames"),
        ("def f(q):\n    exit()", "uses exit()"),
        ("class C:\n    def solve(self, q)\n        pass", "syntax error at line 2"),
    ],
)
def test_source_rules_refuse(snippet: str, expected: str) -> None:
    problems = rules.source_problems(snippet)
    assert problems and expected in problems[0], problems


def test_self_private_attributes_and_super_are_allowed() -> None:
    source = (
        "class C(dict):\n"
        "    def __init__(self, beta=0.5):\n"
        "        super().__init__()\n"
        "        self._k = self._schedule(beta)\n"
        "    def _schedule(self, beta):\n"
        "        return {'__name__': type(self).__name__}\n"
    )
    assert rules.source_problems(source) == []


def loaded(parameters: list[tuple[str, str, bool]], methods=("solve",)) -> LoadedClass:
    """A class as the sandbox describes it."""
    return LoadedClass("C", True, tuple(methods), tuple(Parameter(*p) for p in parameters))


BETA = ("beta", "POSITIONAL_OR_KEYWORD", True)


def test_knob_styles() -> None:
    assert rules.knob_style(loaded([BETA]), free_knobs=False) == ("beta", [])
    config = ("config", "POSITIONAL_OR_KEYWORD", True)
    assert rules.knob_style(loaded([config]), free_knobs=False) == ("config", [])
    kwargs = loaded([BETA, ("knobs", "VAR_KEYWORD", False)])
    assert "free knobs" in rules.knob_style(kwargs, free_knobs=False)[1][0]
    assert rules.knob_style(kwargs, free_knobs=True) == ("beta", [])
    second = loaded([BETA, ("width", "POSITIONAL_OR_KEYWORD", True)])
    assert "second knob 'width'" in rules.knob_style(second, free_knobs=False)[1][0]
    required = loaded([BETA, ("width", "POSITIONAL_OR_KEYWORD", False)])
    assert "requires 'width'" in rules.knob_style(required, free_knobs=True)[1][0]
    engine = loaded([BETA], methods=("solve", "run"))
    assert "run() or act()" in rules.knob_style(engine, free_knobs=False)[1][0]
    assert "no solve(q)" in rules.knob_style(loaded([BETA], methods=()), free_knobs=False)[1][0]
    none = loaded([("width", "POSITIONAL_OR_KEYWORD", True)])
    assert "takes no 'beta'" in rules.knob_style(none, free_knobs=False)[1][0]


def test_construction_and_config_reads() -> None:
    assert rules.construction("beta", 0.25) == {"beta": 0.25}
    assert rules.construction("config", 0.25) == {"config": {"beta": 0.25}}
    problems = rules.config_problems({"beta", "width"}, free_knobs=False)
    assert problems and "config['width']" in problems[0]
    assert rules.config_problems({"beta", "width"}, free_knobs=True) == []


def test_envelope_and_area_score() -> None:
    # one point at 100 tokens with accuracy 0.5 over [100, 10000]: 0.5 everywhere
    assert envelope_mean([(100, 0.5)], 100, 10_000) == pytest.approx(0.5)
    # a point reached halfway along log tokens counts for half the range
    assert envelope_mean([(1000, 0.8)], 100, 10_000) == pytest.approx(0.4)
    # cheaper than the range counts from its start; dearer than it never counts
    assert envelope_mean([(10, 0.3), (10**6, 1.0)], 100, 10_000) == pytest.approx(0.3)
    baselines = [
        BaselineResult("s", "A", (0.5, 0.5), (100.0, 100.0), (50.0, 50.0)),
        BaselineResult("s", "B", (0.7, 0.7), (10_000.0, 10_000.0), (900.0, 900.0)),
    ]
    sweep = [SweepPoint("s", 0.0, 0.6, 100.0, 50.0), SweepPoint("s", 1.0, 0.7, 1000.0, 90.0)]
    # baselines: 0.5 over the whole range (B only at its very end); candidate: 0.6, then 0.7
    assert area_scores(sweep, baselines)["s"] == pytest.approx(0.65 - 0.5)


def test_pricing() -> None:
    usage = {
        "input_tokens": 1_000_000,
        "output_tokens": 1_000_000,
        "cache_creation_input_tokens": 1_000_000,
        "cache_read_input_tokens": 1_000_000,
    }
    sonnet, known = pricing.price_of("claude-sonnet-4-5-20250929")
    assert known
    assert pricing.dollars(sonnet, pricing.anthropic_tokens(usage)) == pytest.approx(
        3 + 15 + 3 * 1.25 + 3 * 0.1
    )
    price, known = pricing.price_of("some-future-model")
    assert not known and price.output == max(p.output for p in pricing.PRICES.values())
    haiku, _ = pricing.price_of("claude-haiku-4-5")
    assert math.isclose(pricing.dollars(haiku, {"output": 1000}), 0.005)
    # an entry covers dated and suffixed names, not other models that share its first letters
    assert pricing.known_price("gpt-4o-2024-08-06") == pricing.PRICES["gpt-4o"]
    assert pricing.known_price("gpt-4o-mini") == pricing.PRICES["gpt-4o-mini"]
    assert pricing.known_price("gpt-5.1") is None and pricing.known_price("o3x") is None
    # OpenAI-style usage counts cached tokens inside the prompt
    tokens = pricing.openai_tokens(prompt=1000, cached=600, output=50)
    assert tokens == {"input": 400, "output": 50, "cache_write": 0, "cache_read": 600}
    gpt5, _ = pricing.price_of("gpt-5")
    assert pricing.dollars(gpt5, tokens) == pytest.approx((400 * 1.25 + 600 * 0.125 + 500) / 1e6)


@pytest.mark.parametrize(
    ("model", "price_in", "price_out", "fallback", "expected"),
    [
        ("local-coder", 0.0, 0.0, False, (0.0, 0.0, True)),
        ("gpt-5-mini", None, None, False, (0.25, 2.0, True)),
        ("my-model", None, None, True, (15.0, 75.0, False)),
        ("my-model", None, None, False, "no price is known for the model 'my-model'"),
        ("my-model", 1.0, None, False, "give both --price-in and --price-out"),
        ("my-model", -1.0, 2.0, False, "finite and at least 0"),
        ("my-model", float("nan"), 2.0, False, "finite and at least 0"),
    ],
)
def test_resolve_price(model, price_in, price_out, fallback, expected) -> None:
    if isinstance(expected, str):
        with pytest.raises(TTSGymError, match=re.escape(expected)):
            pricing.resolve_price(model, price_in, price_out, fallback=fallback)
        return
    price, known = pricing.resolve_price(model, price_in, price_out, fallback=fallback)
    assert (price.input, price.output, known) == expected


def test_a_budget_shared_by_calls_running_at_once() -> None:
    budget = pricing.Budget(cap=1.0, spent=0.25)
    assert budget.reserve(0.5) and not budget.reserve(0.5)  # 0.25 left after the first
    budget.settle(0.5, 0.1)  # the call cost less than its worst case
    assert budget.left() == pytest.approx(0.65) and budget.reserve(0.5)
