"""The MMD permutation two-sample test."""

from __future__ import annotations

from typing import Literal

import numpy as np

from divergent import _core, _scale
from divergent._results import TestResult, monte_carlo_pvalue
from divergent._typing import ArrayLike, Seed
from divergent._validation import COUNT, SEED, check_memory, validate_params
from divergent.kernel._mmd import MMD_PARAMETERS, _finite, _mmd_inputs

#: mmd_test's parameters (also those of divergent.dask's and the reference's).
MMD_TEST_PARAMETERS = {**MMD_PARAMETERS, "n_permutations": COUNT, "seed": SEED}
del MMD_TEST_PARAMETERS["estimator"]


def permutation_masks(n: int, total: int, n_permutations: int, seed) -> np.ndarray:
    """(P, total) booleans: row p marks the first n points of the p-th random permutation.

    Drawn with ``np.random.default_rng(seed).permutation`` in order, so the same seed gives
    the same permutations in divergent and in divergent.reference.
    """
    rng = np.random.default_rng(seed)
    masks = np.zeros((n_permutations, total), dtype=bool)
    for p in range(n_permutations):
        masks[p, rng.permutation(total)[:n]] = True
    return masks


def observed_and_permutation_masks(n: int, total: int, n_permutations: int, seed) -> np.ndarray:
    """(1 + P, total) booleans: the observed split (the first n points) in row 0, then
    the rows of `permutation_masks`."""
    masks = np.zeros((1 + n_permutations, total), dtype=bool)
    masks[0, :n] = True
    masks[1:] = permutation_masks(n, total, n_permutations, seed)
    return masks


def _test_inputs(x, y, kernel, bandwidth, n_permutations, seed, median):
    x, y, h, e = _mmd_inputs(x, y, kernel, bandwidth, "unbiased", median)
    # The 0/1 split masks and the N x B products K V.
    check_memory(
        9 * (x.shape[0] + y.shape[0]) * (n_permutations + 1),
        f"n_permutations={n_permutations}",
        "999 to 9999 permutations resolve p-values to 0.03 to 0.01",
    )
    return x, y, h, e, n_permutations, seed


def unscaled_null(null: np.ndarray, e: int, kernel: str) -> np.ndarray:
    """The permutation statistics computed on data divided by 2**e, mapped back (only the
    energy kernel is not scale invariant: degree 1)."""
    return np.ldexp(null, e) if kernel == "energy" and e else null


@validate_params(MMD_TEST_PARAMETERS)
def mmd_test(
    x: ArrayLike,
    y: ArrayLike,
    *,
    kernel: Literal["gaussian", "laplace", "imq", "energy"] = "gaussian",
    bandwidth: float | Literal["median"] = "median",
    n_permutations: int = 999,
    seed: Seed = None,
) -> TestResult:
    r"""Permutation test of P = Q with the unbiased MMD^2 statistic.

    The pooled sample z = [x; y] is split at random into groups of sizes n and m,
    ``n_permutations`` times; the statistic on each split forms the null distribution and

    .. math::

        p = \frac{1 + \#\{b : \mathrm{MMD}^2_b \ge \mathrm{MMD}^2\}}{1 + B},

    which makes the test exact: under P = Q, Pr(p <= alpha) <= alpha for every alpha.

    All permutations share one pass over the pooled kernel matrix: with v_b the 0/1 group
    vector of split b and K the kernel matrix (zero diagonal), every statistic follows
    from U = K [1, v_1, ..., v_B], which the Rust core streams tile by tile (K is never
    stored) through a blocked matrix product. Cost O(N^2 (d + B)) for N = n + m; memory
    O(N B).

    Parameters
    ----------
    x : array_like, shape (n, d) or (n,)
    y : array_like, shape (m, d) or (m,)
    kernel : {"gaussian", "laplace", "imq", "energy"}, default "gaussian"
    bandwidth : float or "median", default "median"
        Fixed once from the pooled sample (it is permutation invariant).
    n_permutations : int, default 999
    seed : int, numpy Generator or None
        Seeds ``np.random.default_rng``; the same seed gives the same permutations and
        therefore the same result for any number of threads.

    Returns
    -------
    TestResult
        ``statistic`` (the unbiased MMD^2, as :func:`mmd`), ``pvalue`` and
        ``null_distribution`` (one statistic per permutation).

    References
    ----------
    Gretton, A., Borgwardt, K. M., Rasch, M. J., Schoelkopf, B., Smola, A. (2012).
    A kernel two-sample test. JMLR 13, 723-773.
    Phipson, B., Smyth, G. K. (2010). Permutation p-values should never be zero.
    Statistical Applications in Genetics and Molecular Biology 9(1).

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> rng = np.random.default_rng(0)
    >>> res = dv.mmd_test(rng.normal(size=(200, 2)), rng.normal(1, 1, size=(200, 2)), seed=0)
    >>> res.pvalue
    0.001
    """
    x, y, h, e, n_permutations, seed = _test_inputs(
        x, y, kernel, bandwidth, n_permutations, seed, _core.median_pairwise_distance
    )
    z = np.concatenate([x, y])
    # The observed split rides along as one more column of the null's single pass over
    # the pooled kernel matrix, so the statistic costs no pass of its own.
    masks = observed_and_permutation_masks(x.shape[0], z.shape[0], n_permutations, seed)
    values = _core.mmd_permutation_null(z, masks, kernel, h)
    power = int(kernel == "energy")
    statistic, null = _finite(float(values[0]), "MMD^2", e, power), unscaled_null(values[1:], e, kernel)
    scale = _scale.unscaled(kernel_scale(kernel, z), e, power)
    return TestResult(statistic, monte_carlo_pvalue(statistic, null, scale), null)


def kernel_scale(kernel: str, z: np.ndarray) -> float:
    """Magnitude of the kernel values: 1 for the bounded kernels, and for the energy kernel
    sqrt(E|z - z'|^2) = sqrt(2 tr Cov z), which bounds the mean distance."""
    return 1.0 if kernel != "energy" else float(np.sqrt(2 * z.var(axis=0).sum()))
