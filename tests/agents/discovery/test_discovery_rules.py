"""The candidate rules (static source checks, the knob), scoring and pricing: no sandbox needed."""

from __future__ import annotations

import math

import pytest
from tts_gym_agents.discovery import pricing, rules
from tts_gym_agents.discovery.candidate import SweepPoint
from tts_gym_agents.discovery.scoring import BaselineResult, area_scores, envelope_mean

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


class _Beta:
    def __init__(self, beta: float = 0.5) -> None:
        self.beta = beta

    def solve(self, q):
        return None


class _AutoTTS:
    def __init__(self, config=None) -> None:
        self.config = config or {}
        self.width = self.config.get("width", 4)

    def solve(self, q):
        return None


class _Kwargs:
    def __init__(self, beta: float = 0.5, **knobs) -> None:
        pass

    def solve(self, q):
        return None


class _Engine:
    def __init__(self, beta: float = 0.5) -> None:
        pass

    def run(self, episode):
        return 0

    def solve(self, q):
        return None


def test_knob_styles() -> None:
    assert rules.knob_style(_Beta, free_knobs=False) == ("beta", [])
    assert rules.knob_style(_AutoTTS, free_knobs=False) == ("config", [])
    style, problems = rules.knob_style(_Kwargs, free_knobs=False)
    assert "free knobs" in problems[0]
    assert rules.knob_style(_Kwargs, free_knobs=True) == ("beta", [])
    assert "run() or act()" in rules.knob_style(_Engine, free_knobs=False)[1][0]


def test_autotts_config_reads_are_recorded() -> None:
    controller, config = rules.make_controller(_AutoTTS, "config", 0.25)
    assert controller.width == 4
    problems = rules.config_problems(config, free_knobs=False)
    assert problems and "config['width']" in problems[0]
    assert rules.config_problems(config, free_knobs=True) == []


def test_envelope_and_area_score() -> None:
    # one point at 100 tokens with accuracy 0.5 over [100, 10000]: 0.5 everywhere
    assert envelope_mean([(100, 0.5)], 100, 10_000) == pytest.approx(0.5)
    # a point reached halfway along log tokens counts for half the range
    assert envelope_mean([(1000, 0.8)], 100, 10_000) == pytest.approx(0.4)
    # cheaper than the range counts from its start; dearer than it never counts
    assert envelope_mean([(10, 0.3), (10**6, 1.0)], 100, 10_000) == pytest.approx(0.3)
    baselines = [
        BaselineResult("s", "A", (0.5, 0.5), (100.0, 100.0)),
        BaselineResult("s", "B", (0.7, 0.7), (10_000.0, 10_000.0)),
    ]
    sweep = [SweepPoint("s", 0.0, 0.6, 100.0), SweepPoint("s", 1.0, 0.7, 1000.0)]
    # baselines: 0.5 over the whole range (B only at its very end); candidate: 0.6, then 0.7
    assert area_scores(sweep, baselines)["s"] == pytest.approx(0.65 - 0.5)


def test_pricing() -> None:
    usage = {
        "input_tokens": 1_000_000,
        "output_tokens": 1_000_000,
        "cache_creation_input_tokens": 1_000_000,
        "cache_read_input_tokens": 1_000_000,
    }
    assert pricing.dollars("claude-sonnet-4-5-20250929", usage) == pytest.approx(
        3 + 15 + 3 * 1.25 + 3 * 0.1
    )
    price, known = pricing.price_of("some-future-model")
    assert not known and price.output == max(p.output for p in pricing.PRICES.values())
    assert math.isclose(pricing.dollars("claude-haiku-4-5", {"output_tokens": 1000}), 0.005)
