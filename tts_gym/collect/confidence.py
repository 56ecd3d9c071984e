"""Per-segment token confidence from the sampled tokens' log-probabilities.

A trace of T tokens cut every D tokens has ceil(T/D) segments, segment k holding tokens
k*D .. min((k+1)*D, T) - 1: one segment per probe entry of the store, the one that ends where
that entry's answer is read. Two numbers per segment:

- mean log-probability: the mean log-probability of the segment's sampled tokens;
- group confidence (DeepConf, Fu et al. 2025): token confidence C_i = -(1/k) * sum of the k
  largest log-probabilities at position i; group confidence G_i = mean of C_j over the sliding
  window j = max(0, i-w+1) .. i (shorter at the start of the trace). The segment's value is G
  at its last token: what a DeepConf monitor reads at the moment the probe is taken.
  High means a peaked (confident) next-token distribution.

Log-probabilities are clipped at LOGPROB_FLOOR so that a -inf (a masked vocabulary entry
among the top k) cannot turn into a non-finite value in the JSON store.
"""

from __future__ import annotations

import numpy as np

LOGPROB_FLOOR = -100.0


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


def segment_group_confidence(top_logprobs: np.ndarray, interval: int, window: int) -> np.ndarray:
    """Group confidence G over the trailing `window` tokens, read at each segment's last token."""
    conf = token_confidence(top_logprobs)
    ends = _segment_ends(len(conf), interval)
    sums = np.concatenate(([0.0], np.cumsum(conf)))
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)
