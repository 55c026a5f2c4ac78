"""Pure-NumPy references for divergent.independence: dense kernel and distance matrices,
centred and summed as the papers write them (for small n: O(n^2) memory)."""

from __future__ import annotations

import math

import numpy as np

from divergent._results import TestResult, monte_carlo_pvalue
from divergent._scale import unscaled
from divergent._special import gamma_sf
from divergent._validation import FLAG, validate_params
from divergent.independence._dcov import DCOV_TEST_PARAMETERS
from divergent.independence._hsic import HSIC_PARAMETERS, HSIC_TEST_PARAMETERS, hsic_inputs
from divergent.independence._inputs import paired, permutation_orders
from divergent.reference.kernel import _median_distance, kernel_matrix

__all__ = ["hsic", "hsic_test", "distance_covariance", "distance_correlation", "dcov_test"]


def _gram(z: np.ndarray, kernel: str, h) -> np.ndarray:
    k = kernel_matrix(z, z, kernel=kernel, bandwidth=h if h is not None else 1.0)
    np.fill_diagonal(k, 0.0 if kernel == "energy" else 1.0)
    return k


def _double_centred(k: np.ndarray) -> np.ndarray:
    """H K H, H = I - 11'/n."""
    return k - k.mean(axis=0)[None, :] - k.mean(axis=1)[:, None] + k.mean()


def _u_centred(k: np.ndarray) -> np.ndarray:
    """Szekely & Rizzo's (2014) U-centring of K with its diagonal set aside."""
    n = k.shape[0]
    k = k.copy()
    np.fill_diagonal(k, 0.0)
    r = k.sum(axis=1)
    out = k - r[:, None] / (n - 2) - r[None, :] / (n - 2) + r.sum() / ((n - 1) * (n - 2))
    np.fill_diagonal(out, 0.0)
    return out


def _inner(a: np.ndarray, b: np.ndarray) -> float:
    return math.fsum((a * b).ravel())


@validate_params(HSIC_PARAMETERS)
def hsic(x, y, *, kernel="gaussian", bandwidth=None, estimator="unbiased") -> float:
    """Reference for :func:`divergent.independence.hsic`: tr(K H L H) / n^2, or the
    U-centred matrices' inner product over n (n - 3)."""
    x, y, hx, hy, e = hsic_inputs(x, y, kernel, bandwidth, _median_distance)
    n = x.shape[0]
    k, ell = _gram(x, kernel, hx), _gram(y, kernel, hy)
    if estimator == "unbiased":
        return unscaled(_inner(_u_centred(k), _u_centred(ell)) / (n * (n - 3)), e)
    return unscaled(_inner(_double_centred(k), _double_centred(ell)) / (n * n), e)


@validate_params(HSIC_TEST_PARAMETERS)
def hsic_test(
    x, y, *, kernel="gaussian", bandwidth=None, n_permutations=999, method="permutation", seed=None
) -> TestResult:
    """Reference for :func:`divergent.independence.hsic_test`: HSIC_b of each permuted
    pairing from the dense matrices, or Gretton et al.'s (2008) gamma approximation as
    their code writes it."""
    x, y, hx, hy, e = hsic_inputs(x, y, kernel, bandwidth, _median_distance)
    n = x.shape[0]
    k, ell = _gram(x, kernel, hx), _gram(y, kernel, hy)
    kc, lc = _double_centred(k), _double_centred(ell)
    if method == "gamma":
        if kernel == "energy" or n < 6:
            raise ValueError("method='gamma' needs a bounded kernel and n >= 6")
        statistic = _inner(kc, lc) / n
        v = (kc * lc / 6) ** 2
        var = (v.sum() - np.trace(v)) / n / (n - 1)
        var = 72 * (n - 4) * (n - 5) / n / (n - 1) / (n - 2) / (n - 3) * var
        np.fill_diagonal(k, 0.0)
        np.fill_diagonal(ell, 0.0)
        mu_x, mu_y = k.sum() / n / (n - 1), ell.sum() / n / (n - 1)
        mean = (1 + mu_x * mu_y - mu_x - mu_y) / n
        shape, scale = mean**2 / var, var * n / mean
        return TestResult(statistic / n, gamma_sf(statistic, shape, scale), np.empty(0))
    values = np.array([_inner(kc, lc[np.ix_(p, p)]) for p in permutation_orders(n, n_permutations, seed)])
    values = np.array([unscaled(v / (n * n), e) for v in values])
    scale = unscaled(math.sqrt(_inner(kc, kc) * _inner(lc, lc)) / (n * n), e)
    return TestResult(float(values[0]), monte_carlo_pvalue(values[0], values[1:], scale), values[1:])


def _distances(x, y, centre):
    a, b = _gram(x, "energy", None), _gram(y, "energy", None)
    return centre(-a), centre(-b)


@validate_params({})
def distance_covariance(x, y) -> float:
    """Reference for :func:`divergent.independence.distance_covariance`: the dense
    double-centred distance matrices."""
    x, y, ex, ey = paired(x, y)
    a, b = _distances(x, y, _double_centred)
    return math.sqrt(unscaled(max(_inner(a, b), 0.0) / x.shape[0] ** 2, ex + ey))


@validate_params({"bias_corrected": FLAG})
def distance_correlation(x, y, *, bias_corrected=False) -> float:
    """Reference for :func:`divergent.independence.distance_correlation`."""
    x, y, _, _ = paired(x, y)
    a, b = _distances(x, y, _u_centred if bias_corrected else _double_centred)
    aa, bb = _inner(a, a), _inner(b, b)
    if not (aa > 0 and bb > 0):
        raise ValueError("x or y is constant: the distance correlation is undefined")
    r = _inner(a, b) / math.sqrt(aa * bb)
    return r if bias_corrected else math.sqrt(min(max(r, 0.0), 1.0))


@validate_params(DCOV_TEST_PARAMETERS)
def dcov_test(x, y, *, n_permutations=999, seed=None) -> TestResult:
    """Reference for :func:`divergent.independence.dcov_test`: dCov_n^2 of each permuted
    pairing from the dense double-centred distance matrices."""
    x, y, ex, ey = paired(x, y)
    n = x.shape[0]
    a, b = _distances(x, y, _double_centred)
    values = np.array([_inner(a, b[np.ix_(p, p)]) for p in permutation_orders(n, n_permutations, seed)])
    values = np.array([unscaled(v / (n * n), ex + ey) for v in values])
    scale = unscaled(math.sqrt(_inner(a, a) * _inner(b, b)) / (n * n), ex + ey)
    return TestResult(float(values[0]), monte_carlo_pvalue(values[0], values[1:], scale), values[1:])
