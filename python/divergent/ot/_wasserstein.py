"""The exact 1-D Wasserstein distance and the sliced Wasserstein distance."""

from __future__ import annotations

import math

import numpy as np

from divergent import _core, _scale
from divergent._typing import ArrayLike, Seed
from divergent._validation import (
    COUNT,
    SEED,
    Interval,
    as_samples,
    check_memory,
    check_same_dim,
    check_weights,
    validate_params,
)

#: Largest order p of a Wasserstein distance: beyond it |u - v|^p of ordinary data
#: leaves float64's range, and W_p is the largest quantile difference (W_inf) to within
#: the data's rounding.
P_MAX = 1000.0


#: wasserstein_1d's and sliced_wasserstein's parameters (also the references').
WASSERSTEIN_P = Interval(
    "real",
    1,
    P_MAX,
    hint="higher powers of distances leave float64's range, and W_p for p that large equals the largest "
    "quantile difference",
)
SLICED_PARAMETERS = {"n_projections": COUNT, "p": WASSERSTEIN_P, "seed": SEED}


def _distance(scale: float, total: float, p: float, e: int, what: str) -> float:
    """W_p from W_p^p = scale^p * total computed on data divided by 2**e: scale *
    total^(1/p), mapped back (the core's form, which keeps |d|^p in range for any p); a
    ValueError when the distance exceeds float64's range."""
    out = _scale.unscaled(float(scale) * float(total) ** (1.0 / p), e)
    if not math.isfinite(out):
        raise _scale.not_representable(what, "the samples are further apart than 1.8e308")
    return out


def _samples_1d(x, name):
    arr = as_samples(x, name)
    if arr.shape[1] != 1:
        raise ValueError(f"{name} must be 1-D samples of shape (n,) or (n, 1), got shape {arr.shape}")
    return np.ascontiguousarray(arr[:, 0])


def wasserstein_1d_inputs(u, v, p, u_weights, v_weights):
    u, v = _samples_1d(u, "u"), _samples_1d(v, "v")
    uw = None if u_weights is None else check_weights(u_weights, u.shape[0], "u_weights")
    vw = None if v_weights is None else check_weights(v_weights, v.shape[0], "v_weights")
    # W_p is homogeneous of degree 1: W_p(c u, c v) = c W_p(u, v).
    (u, v), e = _scale.in_range(u, v)
    return u, v, p, uw, vw, e


@validate_params({"p": WASSERSTEIN_P})
def wasserstein_1d(
    u: ArrayLike, v: ArrayLike, *, p: float = 1, u_weights: ArrayLike | None = None, v_weights: ArrayLike | None = None
) -> float:
    r"""Exact p-Wasserstein distance between two (weighted) 1-D samples.

    .. math::

        W_p(\mu, \nu) = \left(\int_0^1 |F^{-1}(t) - G^{-1}(t)|^p \, dt\right)^{1/p},

    with F, G the empirical distribution functions. Computed by sorting and merging the
    two quantile functions: O(n log n + m log m), exact up to round-off. For p = 1 it
    equals ``scipy.stats.wasserstein_distance``.

    Parameters
    ----------
    u, v : array_like, shape (n,) / (m,) or (n, 1) / (m, 1)
    p : float >= 1, default 1
    u_weights, v_weights : array_like, optional
        Non-negative weights, normalised to sum to 1.

    Returns
    -------
    float

    References
    ----------
    Villani, C. (2003). Topics in Optimal Transportation, Theorem 2.18. AMS.

    Examples
    --------
    >>> import divergent as dv
    >>> dv.ot.wasserstein_1d([0, 1, 3], [5, 6, 8])
    5.0
    """
    u, v, p, uw, vw, e = wasserstein_1d_inputs(u, v, p, u_weights, v_weights)
    scale, total = _core.wasserstein_1d_pow(u, v, p, uw, vw)
    return _distance(scale, total, p, e, "the Wasserstein distance")


def random_directions(d: int, n_projections: int, seed) -> np.ndarray:
    """(n_projections, d) directions uniform on the unit sphere, from
    ``np.random.default_rng(seed)`` (normalised Gaussian vectors)."""
    g = np.random.default_rng(seed).standard_normal((n_projections, d))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def sliced_inputs(x, y, n_projections, p, seed):
    x, y = as_samples(x, "x"), as_samples(y, "y")
    check_same_dim(x, y)
    # The directions (drawn, then normalised) and one projection per direction and thread.
    check_memory(
        16.0 * n_projections * x.shape[1],
        f"n_projections={n_projections}",
        "the Monte Carlo error falls as 1/sqrt(n_projections): 100 to 10,000 directions are usual",
    )
    directions = random_directions(x.shape[1], n_projections, seed)
    (x, y), e = _scale.in_range(x, y)
    return x, y, p, directions, e


@validate_params(SLICED_PARAMETERS)
def sliced_wasserstein(
    x: ArrayLike, y: ArrayLike, *, n_projections: int = 200, p: float = 2, seed: Seed = None
) -> float:
    r"""Sliced p-Wasserstein distance between two samples in d dimensions.

    .. math::

        SW_p(\mu, \nu) = \left(\frac{1}{L} \sum_{l=1}^{L}
        W_p^p(\theta_l^\top \mu, \theta_l^\top \nu)\right)^{1/p},

    a Monte Carlo estimate over L random directions theta_l uniform on the sphere of
    E_theta W_p^p of the projected samples (each one exact, by sorting). Directions run
    in parallel; the same seed gives the same value for any number of threads. The
    Monte Carlo error of the mean over directions is O(1/sqrt(L)).

    Parameters
    ----------
    x : array_like, shape (n, d) or (n,)
    y : array_like, shape (m, d) or (m,)
    n_projections : int, default 200
    p : float >= 1, default 2
    seed : int, numpy Generator or None

    Returns
    -------
    float

    References
    ----------
    Rabin, J., Peyre, G., Delon, J., Bernot, M. (2011). Wasserstein barycenter and its
    application to texture mixing. SSVM. Bonneel, N., Rabin, J., Peyre, G., Pfister, H.
    (2015). Sliced and Radon Wasserstein barycenters of measures. JMIV 51(1), 22-45.
    """
    x, y, p, directions, e = sliced_inputs(x, y, n_projections, p, seed)
    scales, totals = _core.sliced_wasserstein_pow(x, y, directions, p)
    # mean_l scale_l^p total_l = top^p mean_l (scale_l / top)^p total_l, each term <= 1.
    top = float(scales.max())
    mean = float(np.mean((scales / top) ** p * totals)) if top > 0 else 0.0
    return _distance(top, mean, p, e, "the sliced Wasserstein distance")
