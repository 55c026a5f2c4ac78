"""The Kernel Inception Distance: the unbiased polynomial-kernel MMD^2 over subsets."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from divergent._typing import ArrayLike, Seed
from divergent._validation import (
    COUNT,
    POSITIVE,
    REAL,
    SEED,
    Interval,
    InvalidParameterError,
    as_samples,
    check_same_dim,
    common_dtype,
    validate_params,
)

#: kid's parameters (also the reference's).
KID_PARAMETERS = {
    "n_subsets": COUNT,
    "subset_size": (Interval("int", 2, hint="the unbiased estimate needs pairs; or None for all samples"), None),
    "degree": COUNT,
    "gamma": (POSITIVE, None),
    "coef0": REAL,
    "seed": SEED,
}


@dataclass(frozen=True)
class KIDResult:
    """The output of :func:`kid`.

    Attributes
    ----------
    mean : float
        The mean of the per-subset unbiased MMD^2 estimates (what papers report as KID).
    std : float
        Their standard deviation (ddof = 0, as clean-fid and torch-fidelity report it).
    values : ndarray, shape (n_subsets,)
    """

    mean: float
    std: float
    values: np.ndarray = field(repr=False)


def kid_subsets(n: int, m: int, n_subsets: int, subset_size: int, seed):
    """The (x rows, y rows) of each KID subset, drawn without replacement from
    ``np.random.default_rng(seed)`` (x's then y's, subset after subset)."""
    rng = np.random.default_rng(seed)
    for _ in range(n_subsets):
        yield rng.choice(n, subset_size, replace=False), rng.choice(m, subset_size, replace=False)


def kid_inputs(x, y, n_subsets, subset_size, degree, gamma, coef0, seed):
    x = as_samples(x, "x", min_samples=2, float32=True)
    y = as_samples(y, "y", min_samples=2, float32=True)
    check_same_dim(x, y)
    x, y = common_dtype(x, y)
    if subset_size is not None:
        if subset_size > min(x.shape[0], y.shape[0]):
            raise InvalidParameterError(
                f"subset_size={subset_size} is more than the smaller sample ({min(x.shape[0], y.shape[0])} "
                f"points); subsets are drawn without replacement: pass a smaller subset_size, or "
                f"subset_size=None for one estimate on the whole samples"
            )
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    return x, y, n_subsets, subset_size, degree, gamma, coef0, seed


#: Bytes of the two Gram-block temporaries of a KID estimate: subset_size=None on
#: n = m = 5 x 10^4 would otherwise form two 10 GB matrices per sum.
KID_BLOCK_BYTES = 2**26


def _poly_sums(a: np.ndarray, b: np.ndarray | None, degree: int, gamma: float, coef0: float) -> float:
    """Sum of (gamma a_i . b_j + coef0)^degree over all pairs (b None: over i != j of a
    with itself). The products and the kernel in the input's precision, in place
    (sgemm and float32 passes for float32 input: KID's time is these passes), the sum
    accumulated in float64; the diagonal left out is computed from the norms in float64.
    Row blocks of the Gram matrix keep its two temporaries within `KID_BLOCK_BYTES`
    (one block, so the same bits, up to subsets of ~2,900 float32 points)."""
    other = a if b is None else b
    rows = max(1, KID_BLOCK_BYTES // (2 * other.shape[0] * a.itemsize))
    total = 0.0
    for start in range(0, a.shape[0], rows):
        g = a[start : start + rows] @ other.T
        g *= a.dtype.type(gamma)
        g += a.dtype.type(coef0)
        k = g if degree == 1 else g * g
        for _ in range(degree - 2):
            k *= g
        total += float(k.sum(dtype=np.float64))
    if b is None:
        norms = np.einsum("ij,ij->i", a, a, dtype=np.float64)
        total -= float(((gamma * norms + coef0) ** degree).sum())
    return total


@validate_params(KID_PARAMETERS)
def kid(
    x: ArrayLike,
    y: ArrayLike,
    *,
    n_subsets: int = 100,
    subset_size: int | None = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    seed: Seed = None,
) -> KIDResult:
    r"""Kernel Inception Distance: the unbiased MMD^2 with a polynomial kernel, averaged
    over random subsets.

    .. math::

        k(a, b) = (\gamma\, a^\top b + c_0)^{p}, \qquad
        \widehat{\mathrm{MMD}}^2_u = \frac{1}{s(s-1)}\sum_{i \ne j} [k(x_i, x_j) + k(y_i, y_j)]
                                    - \frac{2}{s^2} \sum_{i, j} k(x_i, y_j),

    on each of ``n_subsets`` pairs of subsets of size s drawn without replacement, as
    clean-fid and torch-fidelity compute it (gamma = 1/d, c0 = 1, p = 3: Binkowski et
    al.'s kernel).

    Parameters
    ----------
    x, y : array_like, shape (n, d) and (m, d)
    n_subsets : int, default 100
    subset_size : int or None, default 1000
        At most min(n, m); None gives one estimate on the whole samples (std 0).
    degree : int, default 3
    gamma : float, optional
        Default 1 / d.
    coef0 : float, default 1.0
    seed : int, numpy Generator or None
        Draws the subsets.

    Returns
    -------
    KIDResult
        ``mean`` (the KID), ``std`` over subsets and the per-subset ``values``.

    Notes
    -----
    Each subset estimate is unbiased for MMD^2 (the U-statistic leaves out the
    diagonals), so unlike FID the KID's expectation does not depend on the sample size,
    and it can be negative when the distributions are close. Its spread over subsets
    is not the standard error of the mean (the subsets overlap).

    References
    ----------
    Binkowski, Sutherland, Arbel & Gretton (2018). Demystifying MMD GANs. ICLR.
    Parmar, Zhang & Zhu (2022). On aliased resizing and surprising subtleties in GAN
    evaluation (clean-fid). CVPR.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> rng = np.random.default_rng(0)
    >>> r = dv.metrics.kid(rng.normal(size=(500, 16)), rng.normal(size=(500, 16)), subset_size=200, seed=0)
    >>> abs(r.mean) < 0.01
    True
    """
    x, y, n_subsets, size, degree, gamma, coef0, seed = kid_inputs(
        x, y, n_subsets, subset_size, degree, gamma, coef0, seed
    )
    if size is None:
        values = np.array([_kid_value(x, y, degree, gamma, coef0)])
    else:
        values = np.array(
            [
                _kid_value(x[ix], y[iy], degree, gamma, coef0)
                for ix, iy in kid_subsets(x.shape[0], y.shape[0], n_subsets, size, seed)
            ]
        )
    return KIDResult(float(values.mean()), float(values.std()), values)


def _kid_value(a: np.ndarray, b: np.ndarray, degree: int, gamma: float, coef0: float) -> float:
    n, m = a.shape[0], b.shape[0]
    kxx = _poly_sums(a, None, degree, gamma, coef0) / (n * (n - 1))
    kyy = _poly_sums(b, None, degree, gamma, coef0) / (m * (m - 1))
    kxy = _poly_sums(a, b, degree, gamma, coef0) / (n * m)
    return kxx + kyy - 2 * kxy
