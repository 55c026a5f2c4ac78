"""Precision, recall, density and coverage on k-NN balls of the real features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from divergent import _core
from divergent._typing import ArrayLike
from divergent._validation import COUNT, as_samples, check_same_dim, common_dtype, validate_params

#: prdc's parameters (also the reference's).
PRDC_PARAMETERS = {"k": COUNT}


@dataclass(frozen=True)
class PRDCResult:
    """The output of :func:`prdc`: precision and recall (Kynkaanniemi et al. 2019),
    density and coverage (Naeem et al. 2020)."""

    precision: float
    recall: float
    density: float
    coverage: float


def prdc_inputs(real, fake, k):
    real = as_samples(real, "real", min_samples=2, float32=True)
    fake = as_samples(fake, "fake", min_samples=2, float32=True)
    check_same_dim(real, fake, "real", "fake")
    real, fake = common_dtype(real, fake)
    smaller = min(real.shape[0], fake.shape[0])
    if k >= smaller:
        raise ValueError(
            f"k={k} must be less than the number of points in each sample ({smaller} in the "
            f"smaller), since the k-th neighbour excludes the point itself; pass a smaller k"
        )
    return real, fake, k


@validate_params(PRDC_PARAMETERS)
def prdc(real: ArrayLike, fake: ArrayLike, *, k: int = 5) -> PRDCResult:
    r"""Precision, recall, density and coverage of generated samples on k-NN balls.

    With R_i the distance of real point r_i to its k-th nearest other real point and F_j
    that of fake point f_j among the fakes (Euclidean),

    .. math::

        \mathrm{precision} = \frac1m \sum_j 1\big[\exists i: |f_j - r_i| < R_i\big], \quad
        \mathrm{recall} = \frac1n \sum_i 1\big[\exists j: |r_i - f_j| < F_j\big],

        \mathrm{density} = \frac{1}{k m} \sum_j \sum_i 1\big[|f_j - r_i| < R_i\big], \quad
        \mathrm{coverage} = \frac1n \sum_i 1\big[\min_j |r_i - f_j| < R_i\big],

    exactly as the reference code (the ``prdc`` package) defines them, strict
    inequalities included. The radii come from the exact k-NN search, the counts from
    tiles of pair products on the Gram path with an exact re-check of every pair near
    its threshold, so the results are those of the exact float64 distances (for
    float32 input too), in O((n + m) k) memory: no n x m matrix.

    Parameters
    ----------
    real : array_like, shape (n, d)
    fake : array_like, shape (m, d)
    k : int, default 5
        The neighbour that sets each ball's radius (Naeem et al. recommend 5).

    Returns
    -------
    PRDCResult

    Notes
    -----
    Precision and recall estimate the fraction of the fake (real) distribution inside
    the other's support, approximated by the union of k-NN balls; outliers in the real
    set inflate precision, which density and coverage are designed to resist. Density
    can exceed 1.

    References
    ----------
    Kynkaanniemi, Karras, Laine, Lehtinen & Aila (2019). Improved precision and recall
    metric for assessing generative models. NeurIPS 32.
    Naeem, Oh, Uh, Choi & Yoo (2020). Reliable fidelity and diversity metrics for
    generative models. ICML.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> rng = np.random.default_rng(0)
    >>> r = dv.metrics.prdc(rng.normal(size=(1000, 8)), rng.normal(size=(1000, 8)))
    >>> 0.6 < r.precision < 1.0 and 0.6 < r.coverage < 1.0
    True
    """
    real, fake, k = prdc_inputs(real, fake, k)
    real_radius = _core.knn(real, k, metric="euclidean", queries=None, all=False)[0]
    fake_radius = _core.knn(fake, k, metric="euclidean", queries=None, all=False)[0]
    inside, covered, recalled = _core.ball_counts(real, fake, real_radius, fake_radius)
    return PRDCResult(
        precision=float(np.mean(inside > 0)),
        recall=float(np.mean(recalled)),
        density=float((1.0 / k) * inside.mean()),  # the reference code's expression
        coverage=float(np.mean(covered)),
    )
