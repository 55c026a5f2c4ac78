"""Distance covariance, distance correlation and the distance covariance test."""

from __future__ import annotations

import math

import numpy as np

from divergent import _core
from divergent._results import TestResult, monte_carlo_pvalue
from divergent._scale import unscaled
from divergent._typing import ArrayLike, Seed
from divergent._validation import COUNT, FLAG, SEED, validate_params
from divergent.independence._inputs import check_dense, paired, permutation_orders

#: dcov_test's parameters (also those of the reference).
DCOV_TEST_PARAMETERS = {"n_permutations": COUNT, "seed": SEED}


def _sums(x, y, unbiased: bool):
    """The centred sums of the distance matrices: O(n log n) for two 1-D samples, else
    streamed over the pairs."""
    if x.shape[1] == 1 and y.shape[1] == 1:
        return _core.distance_centred_sums_1d(x[:, 0], y[:, 0], unbiased)
    return _core.centred_sums(x, y, "energy", None, "energy", None, unbiased)


@validate_params({})
def distance_covariance(x: ArrayLike, y: ArrayLike) -> float:
    r"""Distance covariance of paired samples (Szekely, Rizzo & Bakirov 2007).

    With a_ij = |x_i - x_j|, b_ij = |y_i - y_j| and A, B their double-centred matrices
    (A_ij = a_ij - a_i. - a_.j + a_.., bars the means),

    .. math::

        \mathrm{dCov}_n(x, y) = \Big(\frac{1}{n^2} \sum_{ij} A_{ij} B_{ij}\Big)^{1/2},

    the V-statistic, as ``dcor.distance_covariance``: >= 0, 0 in the population limit
    exactly when x and y are independent; dCov_n^2 has bias O(1/n)
    (:func:`distance_correlation` with ``bias_corrected=True`` removes it).

    Two 1-D samples take the O(n log n) algorithm of Huo & Szekely (2016) (sorting and
    Fenwick trees, no pair loop); otherwise two streamed passes over the pairs, O(n)
    memory.

    Parameters
    ----------
    x : array_like, shape (n, dx) or (n,)
    y : array_like, shape (n, dy) or (n,)

    Returns
    -------
    float

    References
    ----------
    Szekely, G. J., Rizzo, M. L., Bakirov, N. K. (2007). Measuring and testing dependence
    by correlation of distances. Annals of Statistics 35(6), 2769-2794.
    Huo, X., Szekely, G. J. (2016). Fast computing for distance covariance. Technometrics
    58(4), 435-447.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> x = np.arange(10.0)
    >>> round(dv.distance_covariance(x, x ** 2), 4)
    6.402
    """
    x, y, ex, ey = paired(x, y)
    n = x.shape[0]
    kl = _sums(x, y, False)[0]
    # dCov_n^2 is of degree 1 in x and in y: dCov_n of degree 1/2 in each.
    return math.sqrt(unscaled(max(kl, 0.0) / (n * n), ex + ey))


@validate_params({"bias_corrected": FLAG})
def distance_correlation(x: ArrayLike, y: ArrayLike, *, bias_corrected: bool = False) -> float:
    r"""Distance correlation of paired samples.

    .. math::

        \mathrm{dCor}_n(x, y) = \frac{\mathrm{dCov}_n(x, y)}
          {\sqrt{\mathrm{dCov}_n(x, x)\, \mathrm{dCov}_n(y, y)}} \in [0, 1],

    0 in the population limit exactly when x and y are independent, 1 when y is an
    affine similarity of x. ``bias_corrected=True`` returns Szekely & Rizzo's (2014)
    bias-corrected R*_n, on the scale of dCor^2: the same ratio of U-centred inner
    products (unbiased estimates of the squared distance covariances), which is close to
    0 under independence at any n and may be slightly negative (as
    ``dcor.u_distance_correlation_sqr``).

    Parameters
    ----------
    x : array_like, shape (n, dx) or (n,)
    y : array_like, shape (n, dy) or (n,)
    bias_corrected : bool, default False

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If x or y is constant (all rows equal): its distance variance is 0 and the
        correlation is undefined.

    References
    ----------
    Szekely, G. J., Rizzo, M. L. (2014). Partial distance correlation with methods for
    dissimilarities. Annals of Statistics 42(6), 2382-2412.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> x = np.arange(10.0)
    >>> round(dv.distance_correlation(x, 3 * x + 1), 6)
    1.0
    """
    x, y, _, _ = paired(x, y)
    kl, kk, ll = _sums(x, y, bias_corrected)[:3]
    for name, v in (("x", kk), ("y", ll)):
        if not v > 0:
            why = (
                "(x is constant, or the U-centred estimate vanishes, as it can for a few rows with ties); "
                "use bias_corrected=False or more rows"
                if bias_corrected
                else "(x is constant: every row the same point)"
            )
            raise ValueError(
                f"{name} has distance variance 0 {why.replace('x is', name + ' is')}, so the distance "
                f"correlation is undefined"
            )
    r = kl / math.sqrt(kk * ll)
    return float(r) if bias_corrected else math.sqrt(min(max(r, 0.0), 1.0))


@validate_params(DCOV_TEST_PARAMETERS)
def dcov_test(x: ArrayLike, y: ArrayLike, *, n_permutations: int = 999, seed: Seed = None) -> TestResult:
    r"""Permutation test of independence with the squared distance covariance.

    The y's are shuffled against the x's ``n_permutations`` times;

    .. math::

        p = \frac{1 + \#\{b : \mathrm{dCov}_n^2{}^{(b)} \ge \mathrm{dCov}_n^2\}}{1 + B},

    exact at every level and consistent against every dependence with finite first
    moments. Two 1-D samples take the O(n log n) statistic per permutation (no n x n
    matrix); otherwise both double-centred distance matrices are stored once (16 n^2
    bytes) and each permutation is one pass over them. The same p-value for any number
    of threads.

    Parameters
    ----------
    x : array_like, shape (n, dx) or (n,)
    y : array_like, shape (n, dy) or (n,)
    n_permutations : int, default 999
    seed : int, numpy Generator or None
        Seeds ``np.random.default_rng`` for the permutations.

    Returns
    -------
    TestResult
        ``statistic`` (dCov_n^2, the square of :func:`distance_covariance`), ``pvalue``,
        ``null_distribution``.

    References
    ----------
    Szekely, G. J., Rizzo, M. L., Bakirov, N. K. (2007). Measuring and testing dependence
    by correlation of distances. Annals of Statistics 35(6), 2769-2794.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=200)
    >>> dv.dcov_test(x, x ** 2 + rng.normal(size=200), seed=0).pvalue
    0.001
    """
    x, y, ex, ey = paired(x, y)
    n = x.shape[0]
    orders = permutation_orders(n, n_permutations, seed)
    if x.shape[1] == 1 and y.shape[1] == 1:
        values, kk, ll = _core.distance_permuted_sums_1d(x[:, 0], y[:, 0], orders)
    else:
        check_dense(n)
        values, kk, ll = _core.permuted_centred_sums(x, y, "energy", None, "energy", None, orders)
    e = ex + ey
    values = np.ldexp(values / (n * n), e)
    statistic, null = float(values[0]), values[1:]
    scale = unscaled(float(np.sqrt(kk * ll)) / (n * n), e)
    return TestResult(statistic, monte_carlo_pvalue(statistic, null, scale), null)
