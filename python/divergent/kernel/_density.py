"""Gaussian kernel density estimation and the Cauchy-Schwarz divergence."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from divergent import _core, _scale
from divergent._typing import ArrayLike
from divergent._validation import (
    POSITIVE,
    Options,
    as_samples,
    check_same_dim,
    check_weights,
    validate_params,
)
from divergent.kernel._mmd import _scaled_inputs

#: kde_logpdf's and cauchy_schwarz_divergence's parameters (also divergent.dask's and the
#: references').
KDE_PARAMETERS = {"bandwidth": (POSITIVE, Options(("scott", "silverman")))}
CS_PARAMETERS = {"bandwidth": POSITIVE}


def logsumexp(v: np.ndarray) -> float:
    """log sum exp(v), stable."""
    m = float(np.max(v))
    if m == -np.inf:
        return m
    return m + math.log(float(np.sum(np.exp(v - m))))


def _well_conditioned_cholesky(cov: np.ndarray) -> np.ndarray | None:
    """The Cholesky factor of cov, or None if cov is singular: not finite, not positive
    definite, or with condition number above 1e12.

    Rank-deficient covariances can pass Cholesky on round-off with pivots of a few
    sqrt(eps) times the largest (a rank-1 covariance of 2 points in 2-D gives a pivot
    ratio of 2.5e-7), so the test is on the eigenvalues of the correlation matrix,
    which also makes it independent of the features' scales.
    """
    if not np.isfinite(cov).all():
        return None
    scale = np.sqrt(np.diag(cov))
    if not (scale > 0).all():
        return None
    eig = np.linalg.eigvalsh(cov / np.outer(scale, scale))
    if not eig.min() > 1e-12 * eig.max():
        return None
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        return None


class KdeSetup:
    """The estimator of ``scipy.stats.gaussian_kde`` reduced to whitened coordinates.

    With L the Cholesky factor of the kernel covariance factor^2 * Cov_w(data),
    log p(x) = logsumexp_j(log w_j - |L^-1 (x - x_j)|^2 / 2) + log_norm,
    log_norm = -(d/2) log(2 pi) - sum_k log L_kk.
    """

    def __init__(self, data, points, bandwidth, weights):
        data = as_samples(data, "data", min_samples=2)
        points = as_samples(points, "points")
        check_same_dim(data, points, "data", "points")
        # Data whose covariance would overflow or underflow are divided by 2**e (exact);
        # the density of x / 2**e is 2**(e d) times that of x.
        e = _scale.exponent(data)
        data, points = _scale.scaled(data, e), _scale.scaled(points, e)
        n, d = data.shape
        w = np.full(n, 1.0 / n) if weights is None else check_weights(weights, n)
        neff = 1.0 / np.sum(w * w)
        factor = bandwidth_factor(bandwidth, neff, d)
        cov = np.atleast_2d(np.cov(data.T, rowvar=True, bias=False, aweights=w))
        inv, self.log_norm = whitening(cov, factor, n, e)
        self.factor = factor
        self.data = data @ inv.T
        self.points = points @ inv.T
        with np.errstate(divide="ignore"):
            self.log_w = np.log(w)
        self.bandwidth = bandwidth

    def finite(self, logpdf: np.ndarray) -> np.ndarray:
        return finite_logpdf(logpdf, self.factor, self.bandwidth)


def bandwidth_factor(bandwidth, neff: float, d: int) -> float:
    """The kernel's bandwidth factor: Scott's, Silverman's (from the effective sample
    size `neff`) or the given positive float."""
    if bandwidth == "scott":
        return neff ** (-1.0 / (d + 4))
    if bandwidth == "silverman":
        return (neff * (d + 2) / 4.0) ** (-1.0 / (d + 4))
    return bandwidth


def whitening(cov: np.ndarray, factor: float, n: int, e: int) -> tuple[np.ndarray, float]:
    """(L^-1, log_norm) for the kernel covariance factor^2 * cov = L L^T of data divided by
    2**e: log_norm = -(d/2) log(2 pi) - sum_k log L_kk - d e log 2 (the density of x / 2**e
    is 2**(e d) times that of x). A ValueError if cov is singular."""
    d = cov.shape[0]
    chol = _well_conditioned_cholesky(cov)
    if chol is None:
        raise ValueError(
            f"the weighted covariance of data (n={n}, d={d}) is singular, so the Gaussian "
            f"KDE is undefined; add a little jitter to the data, drop constant or collinear "
            f"features (reduce d), or use more samples than dimensions"
        )
    chol = chol * factor
    log_norm = -0.5 * d * math.log(2 * math.pi) - float(np.log(np.diag(chol)).sum()) - d * e * math.log(2.0)
    return np.linalg.inv(chol), log_norm


def finite_logpdf(logpdf: np.ndarray, factor: float, bandwidth) -> np.ndarray:
    """`logpdf`, checked: a log-density below -1.8e308 is not representable."""
    bad = ~np.isfinite(logpdf)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        why = (
            f"bandwidth={bandwidth!r} is too small for the data's spread"
            if factor < 1e-150
            else f"points[{row}] lies too many kernel widths from the data"
        )
        raise _scale.not_representable(f"the log-density at {int(bad.sum())} point(s) (first points[{row}])", why)
    return logpdf


@validate_params(KDE_PARAMETERS)
def kde_logpdf(
    data: ArrayLike,
    points: ArrayLike,
    *,
    bandwidth: float | Literal["scott", "silverman"] = "scott",
    weights: ArrayLike | None = None,
) -> np.ndarray:
    r"""Log-density of the Gaussian kernel density estimate of `data` at `points`.

    The estimator of ``scipy.stats.gaussian_kde(data.T, bw_method, weights)``:

    .. math::

        \hat p(x) = \sum_j w_j\, \mathcal N(x;\, x_j,\, \Sigma), \qquad
        \Sigma = \mathrm{factor}^2 \, \widehat{\mathrm{Cov}}_w(\mathrm{data}),

    with the weighted, bias-corrected data covariance and Scott's factor
    n_eff^(-1/(d+4)) or Silverman's (n_eff (d + 2) / 4)^(-1/(d+4)),
    n_eff = 1 / sum w_j^2. Computed in whitened coordinates as a streaming log-sum-exp
    in the Rust core, so that points far in the tails get their true, finite
    log-density where ``gaussian_kde.logpdf`` returns -inf. Cost O(n m d); memory O(n + m).

    Parameters
    ----------
    data : array_like, shape (n, d) or (n,)
        The sample the density is estimated from (n >= 2, non-singular covariance).
    points : array_like, shape (m, d) or (m,)
        Where to evaluate the log-density.
    bandwidth : {"scott", "silverman"} or float, default "scott"
        The bandwidth factor (scipy's ``bw_method``); a float is used as the factor.
    weights : array_like, shape (n,), optional
        Non-negative sample weights, normalised to sum to 1.

    Returns
    -------
    ndarray, shape (m,)

    References
    ----------
    Scott, D. W. (1992). Multivariate Density Estimation. Wiley.
    Silverman, B. W. (1986). Density Estimation for Statistics and Data Analysis.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> data = np.random.default_rng(0).normal(size=(1000, 2))
    >>> dv.kde_logpdf(data, [[0.0, 0.0], [40.0, 0.0]]).round(1).tolist()
    [-2.0, -6654.1]
    """
    kde = KdeSetup(data, points, bandwidth, weights)
    with np.errstate(over="ignore", invalid="ignore"):
        return kde.finite(_core.gaussian_logsumexp(kde.points, kde.data, kde.log_w) + kde.log_norm)


def cs_log_means(x: np.ndarray, y: np.ndarray, h: float) -> tuple[float, float, float]:
    """log mean K(x, y), log mean K(x, x'), log mean K(y, y'), K = exp(-|a - b|^2 / (4 h^2))."""
    scale = 1.0 / (math.sqrt(2.0) * h)  # exp(-|a - b|^2 / (4 h^2)) = exp(-|sa - sb|^2 / 2)
    xs, ys = x * scale, y * scale

    def log_mean(a, b):
        rows = _core.gaussian_logsumexp(a, b, np.zeros(b.shape[0]))
        return logsumexp(rows) - math.log(a.shape[0] * b.shape[0])

    return log_mean(xs, ys), log_mean(xs, xs), log_mean(ys, ys)


def cs_inputs(x, y, bandwidth):
    """x, y and h, divided by a power of two where the data's squares would leave the
    float range (the divergence depends on |a - b| / h only)."""
    x = as_samples(x, "x")
    y = as_samples(y, "y")
    check_same_dim(x, y)
    x, y, h, _ = _scaled_inputs(x, y, bandwidth)
    return x, y, h


def cs_finite(value: float) -> float:
    if not math.isfinite(value):
        raise _scale.not_representable(
            "the Cauchy-Schwarz divergence", "x and y are too many bandwidths apart; pass a larger bandwidth"
        )
    return float(value)


@validate_params(CS_PARAMETERS)
def cauchy_schwarz_divergence(x: ArrayLike, y: ArrayLike, *, bandwidth: float = 1.0) -> float:
    r"""Cauchy-Schwarz divergence between the Gaussian KDEs of two samples.

    .. math::

        D_{CS} = -2 \log \overline{K(x, y)} + \log \overline{K(x, x')}
        + \log \overline{K(y, y')}, \qquad K(a, b) = e^{-|a - b|^2 / (4 h^2)},

    means over all pairs (diagonals included). With isotropic Gaussian KDEs of width h,
    K(a, b) is proportional to the integral of the two kernels centred at a and b, so
    D_CS = -log(<p, q>^2 / (<p, p> <q, q>)) >= 0 (up to round-off), with equality iff
    the KDEs coincide.
    The means are log-sum-exps in the Rust core, so far-apart samples give a large finite
    value instead of log(0).

    Parameters
    ----------
    x : array_like, shape (n, d) or (n,)
    y : array_like, shape (m, d) or (m,)
    bandwidth : float, default 1.0
        The KDE width h.

    Returns
    -------
    float

    References
    ----------
    Principe, J. C. (2010). Information Theoretic Learning: Renyi's Entropy and Kernel
    Perspectives. Springer. Jenssen, R. et al. (2006). The Cauchy-Schwarz divergence and
    Parzen windowing. Journal of the Franklin Institute 343(6).
    """
    x, y, h = cs_inputs(x, y, bandwidth)
    with np.errstate(over="ignore", invalid="ignore"):
        lxy, lxx, lyy = cs_log_means(x, y, h)
        return cs_finite(-2.0 * lxy + lxx + lyy)
