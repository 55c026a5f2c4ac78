"""Pure-NumPy references for divergent.kernel: ground truth for tests, baseline for benches.

Written for clarity and exactness, not speed: squared distances come from coordinate
differences (never the |x|^2 + |y|^2 - 2 x.y expansion, which cancels), blocks bound the
memory, and block sums are combined with math.fsum.
"""

from __future__ import annotations

import math

import numpy as np

from divergent import _scale
from divergent._bandwidth import median_pool
from divergent._results import TestResult, monte_carlo_pvalue
from divergent._validation import as_samples, check_same_dim, validate_params
from divergent.kernel._aggregated import MMD_AGG_PARAMETERS, _geometric, agg_inputs, agg_result
from divergent.kernel._density import CS_PARAMETERS, KDE_PARAMETERS, KdeSetup, cs_inputs
from divergent.kernel._mmd import MMD_PARAMETERS, _finite, _median_bandwidth, _mmd_inputs, _scaled_inputs
from divergent.kernel._stein import KSD_PARAMETERS, KSD_TEST_PARAMETERS, rademacher_signs, stein_inputs
from divergent.kernel._two_sample import (
    MMD_TEST_PARAMETERS,
    _test_inputs,
    kernel_scale,
    observed_and_permutation_masks,
    permutation_masks,
    unscaled_null,
)

__all__ = [
    "mmd",
    "energy_distance",
    "median_bandwidth",
    "kernel_matrix",
    "mmd_test",
    "mmd_agg_test",
    "ksd",
    "ksd_test",
    "stein_kernel_matrix",
    "kde_logpdf",
    "cauchy_schwarz_divergence",
]

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


def _pair_distances(z: np.ndarray) -> np.ndarray:
    """|z_i - z_j| over all pairs i < j."""
    parts = []
    for i0, d2 in _sqdist_blocks(z, z):
        rows = np.arange(i0, i0 + d2.shape[0])[:, None]
        parts.append(np.sqrt(d2[rows < np.arange(z.shape[0])[None, :]]))
    return np.concatenate(parts)


def _median_distance(z: np.ndarray) -> float:
    return float(np.median(_pair_distances(z)))


def median_bandwidth(x, y=None) -> float:
    """Reference for :func:`divergent.kernel.median_bandwidth`."""
    return _median_bandwidth(x, y, _median_distance)


@validate_params(MMD_PARAMETERS)
def mmd(x, y, *, kernel="gaussian", bandwidth="median", estimator="unbiased") -> float:
    """Reference for :func:`divergent.kernel.mmd` (same arguments and conventions)."""
    x, y, h, e = _mmd_inputs(x, y, kernel, bandwidth, estimator, _median_distance)
    power = int(kernel == "energy")
    n, m = x.shape[0], y.shape[0]
    if estimator == "linear":
        p = n // 2
        x1, x2, y1, y2 = x[0 : 2 * p : 2], x[1 : 2 * p : 2], y[0 : 2 * p : 2], y[1 : 2 * p : 2]

        def k(a, b):
            return _kernel(np.einsum("ij,ij->i", a - b, a - b), kernel, h)

        return _finite(math.fsum(k(x1, x2) + k(y1, y2) - k(x1, y2) - k(x2, y1)) / p, "MMD^2", e, power)
    kxx = _self_sum_offdiag(x, kernel, h)
    kyy = _self_sum_offdiag(y, kernel, h)
    kxy = _pair_sum(x, y, kernel, h)
    if estimator == "unbiased":
        value = kxx / (n * (n - 1)) + kyy / (m * (m - 1)) - 2.0 * kxy / (n * m)
    else:
        k0 = 0.0 if kernel == "energy" else 1.0
        value = (kxx + n * k0) / n**2 + (kyy + m * k0) / m**2 - 2.0 * kxy / (n * m)
    return _finite(value, "MMD^2", e, power)


def energy_distance(x, y) -> float:
    """Reference for :func:`divergent.kernel.energy_distance`."""
    x = as_samples(x, "x")
    y = as_samples(y, "y")
    check_same_dim(x, y)
    x, y, _, e = _scaled_inputs(x, y, None)
    n, m = x.shape[0], y.shape[0]
    exy = _pair_sum(x, y, "energy", None) / (n * m)  # = -E|X - Y|
    exx = _pair_sum(x, x, "energy", None) / n**2
    eyy = _pair_sum(y, y, "energy", None) / m**2
    return _finite(exx + eyy - 2.0 * exy, "energy distance", e)


@validate_params(MMD_TEST_PARAMETERS)
def mmd_test(x, y, *, kernel="gaussian", bandwidth="median", n_permutations=999, seed=None) -> TestResult:
    """Reference for :func:`divergent.kernel.mmd_test`: the dense pooled kernel matrix,
    re-summed over the index sets of each permutation (same permutations for a seed)."""
    x, y, h, e, n_permutations, seed = _test_inputs(x, y, kernel, bandwidth, n_permutations, seed, _median_distance)
    power = int(kernel == "energy")
    statistic = _finite(mmd(x, y, kernel=kernel, bandwidth=h if h is not None else "median"), "MMD^2", e, power)
    z = np.concatenate([x, y])
    n, m = x.shape[0], y.shape[0]
    K = kernel_matrix(z, z, kernel=kernel, bandwidth=h)
    np.fill_diagonal(K, 0.0)
    null = np.empty(n_permutations)
    for p, mask in enumerate(permutation_masks(n, n + m, n_permutations, seed)):
        xi, yi = np.flatnonzero(mask), np.flatnonzero(~mask)
        sxx = K[np.ix_(xi, xi)].sum()
        syy = K[np.ix_(yi, yi)].sum()
        sxy = K[np.ix_(xi, yi)].sum()
        null[p] = sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2 * sxy / (n * m)
    null = unscaled_null(null, e, kernel)
    scale = _scale.unscaled(kernel_scale(kernel, z), e, power)
    return TestResult(statistic, monte_carlo_pvalue(statistic, null, scale), null)


def _distance_quantile(z: np.ndarray, q: float) -> float:
    return float(np.quantile(_pair_distances(z), q))


def _bandwidth_collection(z: np.ndarray, n_bandwidths: int) -> np.ndarray:
    pool = median_pool(z)
    return _geometric(_distance_quantile(pool, 0.05) / 2, _distance_quantile(pool, 1.0) * 2, n_bandwidths)


@validate_params(MMD_AGG_PARAMETERS)
def mmd_agg_test(
    x,
    y,
    *,
    kernels=("gaussian", "laplace"),
    bandwidths=None,
    n_bandwidths=10,
    n_permutations=2000,
    alpha=0.05,
    seed=None,
):
    """Reference for :func:`divergent.kernel.mmd_agg_test`, written from Schrab et al.
    (2023), Algorithm 1, as their code computes it: the dense pooled kernel matrix of each
    kernel and bandwidth (zero diagonal), multiplied by the label matrices of the x group
    (V10), of the y group (V01) and of both (V11) for all permutations at once (same
    permutations for a seed), then the bisection of the level correction."""
    z, n, names, h, e = agg_inputs(x, y, kernels, bandwidths, n_bandwidths, n_permutations, _bandwidth_collection)
    big_n, m, b1 = z.shape[0], z.shape[0] - n, n_permutations
    masks = observed_and_permutation_masks(n, big_n, 2 * b1, seed)
    v10 = masks.T.astype(np.float64)
    v01 = -(~masks).T.astype(np.float64)
    v11 = v10 + v01
    d2 = np.empty((big_n, big_n))
    for i0, block in _sqdist_blocks(z, z):
        d2[i0 : i0 + block.shape[0]] = block
    stats = []
    for i, kernel in enumerate(names):
        for bandwidth in h[i]:
            K = _kernel(d2, kernel, bandwidth)
            np.fill_diagonal(K, 0.0)
            stats.append(
                np.sum(v10 * (K @ v10), 0) * (m - n + 1) / (n * m * (n - 1))
                + np.sum(v01 * (K @ v01), 0) * (n - m + 1) / (n * m * (m - 1))
                + np.sum(v11 * (K @ v11), 0) / (n * m)
            )
    stats = np.array(stats)
    # Column 0 is the observed split; 1..B1 the permutations of the quantiles (M1 with
    # the observed one), B1 + 1..2 B1 those of the level estimate (M2).
    n_tests = stats.shape[0]
    m1_sorted = np.sort(stats[:, : b1 + 1], axis=1)
    m2 = stats[:, b1 + 1 :]
    u_min, u_max = 0.0, float(n_tests)
    quantiles = np.empty(n_tests)
    for _ in range(50):
        u = (u_min + u_max) / 2
        for t in range(n_tests):
            quantiles[t] = m1_sorted[t, int(np.ceil((b1 + 1) * (1 - u / n_tests))) - 1]
        p_u = np.sum(np.max(m2 - quantiles[:, None] > 0, axis=0)) / b1
        if p_u <= alpha:
            u_min = u
        else:
            u_max = u
    for t in range(n_tests):
        quantiles[t] = m1_sorted[t, int(np.ceil((b1 + 1) * (1 - u_min / n_tests))) - 1]
    return agg_result(stats[:, 0], stats[:, 1:], quantiles, u_min, names, h, e, alpha)


def _stein_rows(x, s, i0, i1, kernel, h):
    """Rows i0:i1 of the Stein kernel matrix, written term by term:
    s.s' k + s.grad_x' k + s'.grad_x k + tr grad_x grad_x' k."""
    d = x.shape[1]
    delta = x[i0:i1, None, :] - x[None, :, :]
    t = np.einsum("ijk,ijk->ij", delta, delta)
    h2 = h * h
    if kernel == "imq":
        a = 1.0 + t / h2
        phi, dphi, ddphi = a**-0.5, -0.5 / h2 * a**-1.5, 0.75 / h2**2 * a**-2.5
    else:
        phi = np.exp(-t / (2 * h2))
        dphi, ddphi = -phi / (2 * h2), phi / (4 * h2 * h2)
    grad_x = 2 * dphi[:, :, None] * delta  # d k / d x_i
    grad_y = -grad_x  # d k / d x_j
    ss = s[i0:i1] @ s.T
    term_x = np.einsum("ik,ijk->ij", s[i0:i1], grad_y)  # s_i . grad_{x_j} k
    term_y = np.einsum("jk,ijk->ij", s, grad_x)  # s_j . grad_{x_i} k
    trace = -4 * t * ddphi - 2 * d * dphi
    return ss * phi + term_x + term_y + trace


def _stein_row_blocks(x, s, kernel, h):
    rows = max(1, _BLOCK_ELEMENTS // (x.shape[0] * x.shape[1]))
    for i0 in range(0, x.shape[0], rows):
        yield i0, _stein_rows(x, s, i0, min(i0 + rows, x.shape[0]), kernel, h)


def stein_kernel_matrix(x, s, *, kernel="imq", bandwidth=1.0) -> np.ndarray:
    """The dense Stein kernel matrix u_p(x_i, x_j) from samples x and scores s (n, d)."""
    return np.concatenate([blk for _, blk in _stein_row_blocks(x, s, kernel, bandwidth)])


@validate_params(KSD_PARAMETERS)
def ksd(x, score, *, kernel="imq", bandwidth=1.0, estimator="unbiased") -> float:
    """Reference for :func:`divergent.kernel.ksd` (Stein kernel rows in blocks)."""
    if estimator not in ("unbiased", "biased"):
        raise ValueError(f"unknown estimator {estimator!r}; expected one of 'unbiased', 'biased'")
    x, s, kernel, h = stein_inputs(x, score, kernel, bandwidth, 2 if estimator == "unbiased" else 1)
    n = x.shape[0]
    total, diag = [], []
    for i0, blk in _stein_row_blocks(x, s, kernel, h):
        total.append(float(blk.sum()))
        diag.append(float(blk[np.arange(len(blk)), np.arange(i0, i0 + len(blk))].sum()))
    if estimator == "unbiased":
        return _finite((math.fsum(total) - math.fsum(diag)) / (n * (n - 1)), "KSD^2")
    return _finite(math.fsum(total) / n**2, "KSD^2")


@validate_params(KSD_TEST_PARAMETERS)
def ksd_test(x, score, *, kernel="imq", bandwidth=1.0, n_bootstrap=999, seed=None) -> TestResult:
    """Reference for :func:`divergent.kernel.ksd_test` (dense; same signs for a seed)."""
    x, s, kernel, h = stein_inputs(x, score, kernel, bandwidth, 2)
    U = stein_kernel_matrix(x, s, kernel=kernel, bandwidth=h)
    n = x.shape[0]
    statistic = U.sum() / n**2
    w = rademacher_signs(n, n_bootstrap, seed)
    null = np.einsum("ip,ij,jp->p", w, U, w) / n**2
    return TestResult(float(statistic), monte_carlo_pvalue(statistic, null), null)


@validate_params(KDE_PARAMETERS)
def kde_logpdf(data, points, *, bandwidth="scott", weights=None) -> np.ndarray:
    """Reference for :func:`divergent.kernel.kde_logpdf`: all exponents, then a
    max-shifted log-sum-exp per point."""
    kde = KdeSetup(data, points, bandwidth, weights)
    out = np.empty(kde.points.shape[0])
    for i0, d2 in _sqdist_blocks(kde.points, kde.data):
        e = kde.log_w[None, :] - 0.5 * d2
        mx = e.max(axis=1, keepdims=True)
        with np.errstate(invalid="ignore"):
            out[i0 : i0 + len(e)] = (mx + np.log(np.exp(e - mx).sum(axis=1, keepdims=True)))[:, 0]
    return out + kde.log_norm


@validate_params(CS_PARAMETERS)
def cauchy_schwarz_divergence(x, y, *, bandwidth=1.0) -> float:
    """Reference for :func:`divergent.kernel.cauchy_schwarz_divergence` (dense means)."""
    x, y, h = cs_inputs(x, y, bandwidth)

    def log_mean(a, b):
        d2 = np.concatenate([blk for _, blk in _sqdist_blocks(a, b)])
        e = -d2 / (4 * h * h)
        mx = e.max()
        return mx + math.log(np.exp(e - mx).mean())

    return float(-2 * log_mean(x, y) + log_mean(x, x) + log_mean(y, y))
