"""DeepConf confidence per segment: each statistic against a direct computation.

`deepconf_reference` computes every statistic the slow, obvious way (loops over windows, as
DeepConf's own `compute_least_grouped` and `calculate_bottom_window_confidence` do), so the
vectorised `segment_statistics` is checked against the definitions rather than against itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tts_gym.collect.confidence import (
    n_segments,
    segment_mean_logprob,
    segment_statistics,
    token_confidence,
)
from tts_gym.store.replay import CONFIDENCE_STATISTICS


def deepconf_reference(
    top_logprobs: np.ndarray, interval: int, *, window: int, tail: int
) -> dict[str, list[float]]:
    """Every statistic of every segment, from the definitions, one segment end at a time."""
    conf = [-float(np.mean(np.maximum(row, -100.0))) for row in np.asarray(top_logprobs)]
    result: dict[str, list[float]] = {name: [] for name in CONFIDENCE_STATISTICS}
    for k in range(n_segments(len(conf), interval)):
        end = min((k + 1) * interval, len(conf))
        seen = conf[:end]
        if end < window:
            groups = [sum(seen) / end]
        else:
            groups = [sum(seen[j : j + window]) / window for j in range(end - window + 1)]
        lowest_first = sorted(groups)
        count = max(1, int(len(groups) * 0.1))
        result["group"].append(sum(seen[-window:]) / len(seen[-window:]))
        result["lowest"].append(lowest_first[0])
        result["bottom10"].append(sum(lowest_first[:count]) / count)
        result["tail"].append(sum(seen[-tail:]) / len(seen[-tail:]))
    return result


def test_segments_follow_the_store_convention(shared_replay: Path) -> None:
    assert [n_segments(t, 500) for t in (1, 499, 500, 501, 3856)] == [1, 1, 1, 2, 8]
    store = json.loads((shared_replay / "autotts/Qwen3-8B/aime24.json").read_text())
    lengths = [(len(b[0]), b[1]) for q in store for b in q["each_branch"] if b[1] == 3856]
    assert lengths and all(probes == n_segments(t, 500) for probes, t in lengths)


def test_segment_mean_logprob() -> None:
    logprobs = -np.arange(10, dtype=float)
    expected = [-np.mean([0, 1, 2, 3]), -np.mean([4, 5, 6, 7]), -np.mean([8, 9])]
    np.testing.assert_allclose(segment_mean_logprob(logprobs, 4), expected)


def test_token_and_group_confidence_by_hand() -> None:
    rng = np.random.default_rng(0)
    top = -np.sort(rng.exponential(size=(10, 3)), axis=1)
    conf = token_confidence(top)
    np.testing.assert_allclose(conf, -top.mean(axis=1))
    # segments end at tokens 4, 8 and 10; windows of 3 tokens end there
    stats = segment_statistics(top, 4, 3, 2)
    np.testing.assert_allclose(
        stats["group"], [conf[1:4].mean(), conf[5:8].mean(), conf[7:].mean()]
    )
    np.testing.assert_allclose(stats["tail"], [conf[2:4].mean(), conf[6:8].mean(), conf[8:].mean()])
    # a window longer than the trace: the running mean, and one group for lowest and bottom
    wide = segment_statistics(top, 4, 100, 100)
    running = [conf[:4].mean(), conf[:8].mean(), conf.mean()]
    for name in CONFIDENCE_STATISTICS:
        np.testing.assert_allclose(wide[name], running)


@pytest.mark.parametrize(
    ("length", "interval", "window", "tail"),
    [(1, 4, 3, 2), (37, 5, 4, 7), (64, 8, 8, 8), (250, 40, 16, 100), (400, 7, 300, 2048)],
)
def test_every_statistic_matches_the_definition(length, interval, window, tail) -> None:
    rng = np.random.default_rng(length)
    top = -np.sort(rng.exponential(size=(length, 5)) * rng.uniform(0.1, 3, (length, 1)), axis=1)
    top[rng.random(length) < 0.05, -1] = -np.inf  # a masked entry among the top k
    fast = segment_statistics(top, interval, window, tail)
    direct = deepconf_reference(top, interval, window=window, tail=tail)
    assert set(fast) == set(direct) == set(CONFIDENCE_STATISTICS)
    for name in CONFIDENCE_STATISTICS:
        assert len(fast[name]) == n_segments(length, interval)
        np.testing.assert_allclose(fast[name], direct[name], rtol=1e-9, atol=1e-9)
        assert np.isfinite(fast[name]).all()
    # the orderings the definitions imply
    assert (fast["lowest"] <= fast["bottom10"] + 1e-12).all()
    full = np.minimum(np.arange(1, len(fast["lowest"]) + 1) * interval, length) >= window
    assert (np.diff(fast["lowest"][full]) <= 1e-12).all()  # a minimum over more and more groups


def test_higher_is_more_confident() -> None:
    peaked = np.log(np.array([[0.97, 0.01, 0.01, 0.01]] * 16))
    flat = np.log(np.full((16, 4), 0.25))
    for name in CONFIDENCE_STATISTICS:
        sure = segment_statistics(peaked, 8, 4, 4)[name]
        unsure = segment_statistics(flat, 8, 4, 4)[name]
        assert (sure > unsure).all(), name
