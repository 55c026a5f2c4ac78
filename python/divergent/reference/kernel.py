"""Pure-NumPy references for divergent.kernel: ground truth for tests, baseline for benches.

Written for clarity and exactness, not speed: squared distances come from coordinate
differences (never the |x|^2 + |y|^2 - 2 x.y expansion, which cancels), blocks bound the
memory, and block sums are combined with math.fsum.
"""

from __future__ import annotations

import math

import numpy as np

from divergent._validation import as_samples, check_same_dim
from divergent.kernel import _finite, _median_bandwidth, _mmd_inputs

__all__ = ["mmd", "energy_distance", "median_bandwidth", "kernel_matrix"]

_BLOCK_ELEMENTS = 1 << 22  # ~32 MiB of float64 per temporary


def _sqdist_blocks(x: np.ndarray, y: np.ndarray):
    """Yield (row offset, block of squared distances) covering all of x against y."""
    rows = max(1, _BLOCK_ELEMENTS // (y.shape[0] * x.shape[1]))
    for i0 in range(0, x.shape[0], rows):
        diff = x[i0 : i0 + rows, None, :] - y[None, :, :]
        yield i0, np.einsum("ijk,ijk->ij", diff, diff)


def _kernel(d2: np.ndarray, kernel: str, h: float | None) -> np.ndarray:
    if kernel == "gaussian":
        return np.exp(-d2 / (2.0 * h * h))
    if kernel == "laplace":
        return np.exp(-np.sqrt(d2) / h)
    if kernel == "imq":
        return 1.0 / np.sqrt(1.0 + d2 / (h * h))
    if kernel == "energy":
        return -np.sqrt(d2)
    raise ValueError(f"unknown kernel {kernel!r}")


def kernel_matrix(x, y, *, kernel="gaussian", bandwidth=1.0) -> np.ndarray:
    """The dense matrix K_ij = k(x_i, y_j) (O(nm) memory; for small problems)."""
    x = as_samples(x, "x")
    y = as_samples(y, "y")
    check_same_dim(x, y)
    h = None if kernel == "energy" else float(bandwidth)
    return np.concatenate([_kernel(d2, kernel, h) for _, d2 in _sqdist_blocks(x, y)])


def _pair_sum(x: np.ndarray, y: np.ndarray, kernel: str, h: float | None) -> float:
    return math.fsum(float(_kernel(d2, kernel, h).sum()) for _, d2 in _sqdist_blocks(x, y))


def _self_sum_offdiag(x: np.ndarray, kernel: str, h: float | None) -> float:
    k0 = 0.0 if kernel == "energy" else 1.0
    return _pair_sum(x, x, kernel, h) - x.shape[0] * k0


def _median_distance(z: np.ndarray) -> float:
    parts = []
    for i0, d2 in _sqdist_blocks(z, z):
        rows = np.arange(i0, i0 + d2.shape[0])[:, None]
        parts.append(np.sqrt(d2[rows < np.arange(z.shape[0])[None, :]]))
    return float(np.median(np.concatenate(parts)))


def median_bandwidth(x, y=None) -> float:
    """Reference for :func:`divergent.kernel.median_bandwidth`."""
    return _median_bandwidth(x, y, _median_distance)


def mmd(x, y, *, kernel="gaussian", bandwidth="median", estimator="unbiased") -> float:
    """Reference for :func:`divergent.kernel.mmd` (same arguments and conventions)."""
    x, y, h = _mmd_inputs(x, y, kernel, bandwidth, estimator, _median_distance)
    n, m = x.shape[0], y.shape[0]
    if estimator == "linear":
        p = n // 2
        x1, x2, y1, y2 = x[0 : 2 * p : 2], x[1 : 2 * p : 2], y[0 : 2 * p : 2], y[1 : 2 * p : 2]

        def k(a, b):
            return _kernel(np.einsum("ij,ij->i", a - b, a - b), kernel, h)

        return _finite(math.fsum(k(x1, x2) + k(y1, y2) - k(x1, y2) - k(x2, y1)) / p, "MMD^2")
    kxx = _self_sum_offdiag(x, kernel, h)
    kyy = _self_sum_offdiag(y, kernel, h)
    kxy = _pair_sum(x, y, kernel, h)
    if estimator == "unbiased":
        value = kxx / (n * (n - 1)) + kyy / (m * (m - 1)) - 2.0 * kxy / (n * m)
    else:
        k0 = 0.0 if kernel == "energy" else 1.0
        value = (kxx + n * k0) / n**2 + (kyy + m * k0) / m**2 - 2.0 * kxy / (n * m)
    return _finite(value, "MMD^2")


def energy_distance(x, y) -> float:
    """Reference for :func:`divergent.kernel.energy_distance`."""
    x = as_samples(x, "x")
    y = as_samples(y, "y")
    check_same_dim(x, y)
    n, m = x.shape[0], y.shape[0]
    exy = _pair_sum(x, y, "energy", None) / (n * m)  # = -E|X - Y|
    exx = _pair_sum(x, x, "energy", None) / n**2
    eyy = _pair_sum(y, y, "energy", None) / m**2
    return _finite(exx + eyy - 2.0 * exy, "energy distance")
