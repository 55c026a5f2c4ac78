"""The median heuristic's pooled sample, shared by the fast path and the reference."""

from __future__ import annotations

import numpy as np

#: Pooled samples larger than this are subsampled for the median heuristic.
MEDIAN_MAX_POINTS = 5000
#: Seed of the subsample, fixed so that the bandwidth is a deterministic function of data.
MEDIAN_SEED = 0


def median_pool(x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    """The points whose pairwise distances define the median heuristic.

    All of the pooled sample z = [x; y] when it has at most 5000 points, else a subset of
    5000 points drawn without replacement by ``np.random.default_rng(0)``, gathered
    without copying the whole pooled sample.
    """
    parts = [x] if y is None else [x, y]
    total = sum(p.shape[0] for p in parts)
    if total <= MEDIAN_MAX_POINTS:
        return np.concatenate(parts) if len(parts) > 1 else x
    idx = np.sort(np.random.default_rng(MEDIAN_SEED).choice(total, MEDIAN_MAX_POINTS, replace=False))
    if y is None:
        return x[idx]
    n = x.shape[0]
    return np.concatenate([x[idx[idx < n]], y[idx[idx >= n] - n]])


def check_median(h: float) -> float:
    if not h > 0:
        raise ValueError(
            "the median pairwise distance of the pooled sample is 0 (at least half of the "
            "pairs are identical points), so the 'median' bandwidth is undefined; pass an "
            "explicit positive bandwidth"
        )
    return h
