"""Kernel Stein discrepancy and its wild-bootstrap goodness-of-fit test."""

from __future__ import annotations

from typing import Callable, Literal

import numpy as np

from divergent import _core
from divergent._results import TestResult, monte_carlo_pvalue
from divergent._typing import ArrayLike, Seed
from divergent._validation import (
    COUNT,
    POSITIVE,
    SEED,
    Options,
    as_samples,
    check_memory,
    validate_params,
)
from divergent.kernel._mmd import _finite

STEIN_KERNELS = ("imq", "gaussian")

#: ksd's and ksd_test's parameters (also the references').
KSD_PARAMETERS = {"kernel": Options(STEIN_KERNELS), "bandwidth": POSITIVE, "estimator": Options(("unbiased", "biased"))}
KSD_TEST_PARAMETERS = {"kernel": Options(STEIN_KERNELS), "bandwidth": POSITIVE, "n_bootstrap": COUNT, "seed": SEED}


def evaluate_score(score, x: np.ndarray) -> np.ndarray:
    """grad log p at the rows of x: `score(x)` for a callable (called once), else the array."""
    s = score(x) if callable(score) else score
    s = np.asarray(s)
    if s.dtype.kind not in "biuf":
        raise TypeError(f"score must give a real numeric array, got dtype {s.dtype}")
    if s.shape != x.shape:
        what = "score(x) returned" if callable(score) else "score has"
        raise ValueError(f"{what} shape {s.shape}, expected {x.shape} (one gradient of log p per sample)")
    s = s.astype(np.float64, copy=False)
    if not np.isfinite(s).all():
        row = int(np.argwhere(~np.isfinite(s))[0, 0])
        raise ValueError(f"score contains NaN or infinity (first at sample {row}); check log p at those points")
    return s


def stein_inputs(x, score, kernel, bandwidth, min_samples):
    x = as_samples(x, "x", min_samples=min_samples)
    return x, evaluate_score(score, x), kernel, bandwidth


def rademacher_signs(n: int, n_bootstrap: int, seed) -> np.ndarray:
    """(n, B) independent +-1 signs from ``np.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2, size=(n, n_bootstrap)).astype(np.float64) * 2.0 - 1.0


@validate_params(KSD_PARAMETERS)
def ksd(
    x: ArrayLike,
    score: Callable[[np.ndarray], ArrayLike] | ArrayLike,
    *,
    kernel: Literal["imq", "gaussian"] = "imq",
    bandwidth: float = 1.0,
    estimator: Literal["unbiased", "biased"] = "unbiased",
) -> float:
    r"""Squared kernel Stein discrepancy of a sample from an unnormalised density p.

    .. math::

        \mathrm{KSD}^2 = \mathbb{E}_{x, x' \sim q}\, u_p(x, x'), \qquad
        u_p(x, x') = s^\top s' k + s^\top \nabla_{x'} k + s'^\top \nabla_x k
        + \operatorname{tr} \nabla_x \nabla_{x'} k,

    with s = grad log p(x), s' = grad log p(x'). Only the score is needed, so p may be
    unnormalised. For a radial k = phi(|x - x'|^2) this is
    phi s.s' + 2 phi' (s' - s).(x - x') - 2 d phi' - 4 |x - x'|^2 phi''. Zero iff q = p
    (for the IMQ kernel, Gorham & Mackey 2017, also convergence-determining).

    Parameters
    ----------
    x : array_like, shape (n, d) or (n,)
        The sample.
    score : callable or array_like
        A function mapping an (n, d) array to the (n, d) array of grad log p (called once
        on the whole sample), or that array itself.
    kernel : {"imq", "gaussian"}, default "imq"
        ``imq``: (1 + |x - x'|^2 / h^2)^(-1/2); ``gaussian``: exp(-|x - x'|^2 / (2 h^2)).
    bandwidth : float, default 1.0
    estimator : {"unbiased", "biased"}, default "unbiased"
        U-statistic (i != j; unbiased, may be negative; variance O(1/n) when q != p,
        O(1/n^2) when q = p) or V-statistic (all pairs; >= 0, biased upwards by
        E u_p(x, x) / n).

    Returns
    -------
    float

    References
    ----------
    Liu, Q., Lee, J., Jordan, M. (2016). A kernelized Stein discrepancy for
    goodness-of-fit tests. ICML.
    Gorham, J., Mackey, L. (2017). Measuring sample quality with kernels. ICML.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> x = np.random.default_rng(0).normal(size=(2000, 2))
    >>> abs(dv.ksd(x, lambda z: -z)) < 0.01 < dv.ksd(x, lambda z: -(z - 1))
    True
    """
    x, s, kernel, h = stein_inputs(x, score, kernel, bandwidth, 2 if estimator == "unbiased" else 1)
    return _finite(_core.ksd(x, s, kernel, h, unbiased=estimator == "unbiased"), "KSD^2")


@validate_params(KSD_TEST_PARAMETERS)
def ksd_test(
    x: ArrayLike,
    score: Callable[[np.ndarray], ArrayLike] | ArrayLike,
    *,
    kernel: Literal["imq", "gaussian"] = "imq",
    bandwidth: float = 1.0,
    n_bootstrap: int = 999,
    seed: Seed = None,
) -> TestResult:
    r"""Goodness-of-fit test of H0: x ~ p, with the wild bootstrap of the KSD V-statistic.

    The statistic is the V-statistic V = (1/n^2) sum_ij u_p(x_i, x_j); each bootstrap
    replicate is (1/n^2) sum_ij w_i w_j u_p(x_i, x_j) with independent Rademacher signs
    w, which reproduces the null distribution of V for i.i.d. samples because u_p is
    degenerate under p. p = (1 + #{V_b >= V}) / (1 + B). All replicates come from one
    streamed product of the Stein kernel matrix with the (n, B) sign matrix.

    Parameters
    ----------
    x, score, kernel, bandwidth
        As in :func:`ksd`.
    n_bootstrap : int, default 999
    seed : int, numpy Generator or None

    Returns
    -------
    TestResult
        ``statistic`` (the V-statistic), ``pvalue``, ``null_distribution``.

    References
    ----------
    Liu, Q., Lee, J., Jordan, M. (2016). A kernelized Stein discrepancy for
    goodness-of-fit tests. ICML.
    Chwialkowski, K., Strathmann, H., Gretton, A. (2016). A kernel test of goodness of
    fit. ICML.
    """
    x, s, kernel, h = stein_inputs(x, score, kernel, bandwidth, 2)
    # The (n, B) signs, drawn as integers, and the products with the Stein kernel.
    check_memory(
        24 * x.shape[0] * n_bootstrap,
        f"n_bootstrap={n_bootstrap}",
        "999 to 9999 bootstrap replicates resolve p-values to 0.03 to 0.01",
    )
    statistic = _finite(_core.ksd(x, s, kernel, h, unbiased=False), "KSD^2")
    null = _core.ksd_wild_bootstrap(x, s, kernel, h, rademacher_signs(x.shape[0], n_bootstrap, seed))
    return TestResult(statistic, monte_carlo_pvalue(statistic, null), null)
