"""Per-segment token confidence from the sampled tokens' log-probabilities (DeepConf style).

A trace of T tokens cut every D tokens has ceil(T/D) segments, segment k holding tokens
k*D .. min((k+1)*D, T) - 1: one segment per probe entry of the store, the one that ends where
that entry's answer is read. Every statistic is read at the segment's end e (what a monitor
knows when the probe is taken) and computed from the trace so far, tokens 0 .. e-1.

Token confidence (DeepConf, Fu et al. 2025): C_i = -(1/k) * sum of the k largest
log-probabilities at position i; high means a peaked (confident) next-token distribution.
Over it, with W the group window:

- group confidence (`segment_confidence`): the mean of C over the last min(W, e) tokens;
- lowest group confidence: the minimum over the groups so far, a group being the mean of C
  over W consecutive tokens (every full window inside 0 .. e-1; while e < W, the one window
  0 .. e-1), as DeepConf's `compute_least_grouped`;
- bottom-10% group confidence: the mean of the lowest max(1, floor(n/10)) of those n groups;
- tail confidence: the mean of C over the last min(tail, e) tokens (DeepConf: 2,048);
- mean log-probability: the mean log-probability of the segment's own sampled tokens.

For every confidence, higher means more confident. Log-probabilities are clipped at
LOGPROB_FLOOR so that a -inf (a masked vocabulary entry among the top k) cannot turn into a
non-finite value in the JSON store.
"""

from __future__ import annotations

import numpy as np

LOGPROB_FLOOR = -100.0
BOTTOM_SHARE = 0.1  # of the bottom-10% group confidence


def n_segments(n_tokens: int, interval: int) -> int:
    return -(-n_tokens // interval)


def _segment_ends(n_tokens: int, interval: int) -> np.ndarray:
    return np.minimum(np.arange(1, n_segments(n_tokens, interval) + 1) * interval, n_tokens)


def token_confidence(top_logprobs: np.ndarray) -> np.ndarray:
    """C_i from a (T, k) array of the k largest log-probabilities at each position."""
    return -np.maximum(np.asarray(top_logprobs, dtype=np.float64), LOGPROB_FLOOR).mean(axis=1)


def segment_mean_logprob(logprobs: np.ndarray, interval: int) -> np.ndarray:
    """Mean log-probability of the sampled tokens of each segment."""
    values = np.maximum(np.asarray(logprobs, dtype=np.float64), LOGPROB_FLOOR)
    ends = _segment_ends(len(values), interval)
    sums = np.concatenate(([0.0], np.cumsum(values)))
    starts = np.arange(len(ends)) * interval
    return (sums[ends] - sums[starts]) / (ends - starts)


def _trailing_mean(conf: np.ndarray, ends: np.ndarray, window: int) -> np.ndarray:
    sums = np.concatenate(([0.0], np.cumsum(conf)))
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def segment_statistics(
    top_logprobs: np.ndarray, interval: int, window: int, tail: int
) -> dict[str, np.ndarray]:
    """Every confidence statistic of each segment, by `CONFIDENCE_STATISTICS` name."""
    conf = token_confidence(top_logprobs)
    ends = _segment_ends(len(conf), interval)
    sums = np.concatenate(([0.0], np.cumsum(conf)))
    groups = (sums[window:] - sums[:-window]) / window  # groups[j]: tokens j .. j+W-1
    lowest = np.empty(len(ends))
    bottom = np.empty(len(ends))
    for s, end in enumerate(ends):
        n = end - window + 1  # full windows inside 0 .. end-1
        if n < 1:
            lowest[s] = bottom[s] = sums[end] / end
            continue
        count = max(1, int(n * BOTTOM_SHARE))
        smallest = np.partition(groups[:n], count - 1)[:count]
        lowest[s] = smallest.min()
        bottom[s] = smallest.mean()
    return {
        "group": _trailing_mean(conf, ends, window),
        "lowest": lowest,
        "bottom10": bottom,
        "tail": _trailing_mean(conf, ends, tail),
    }
