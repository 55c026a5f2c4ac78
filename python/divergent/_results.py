"""Result objects."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class TestResult:
    """Result of a hypothesis test, like ``scipy.stats.PermutationTestResult``.

    Attributes
    ----------
    statistic : float
        The observed test statistic.
    pvalue : float
        (1 + #{null >= statistic}) / (1 + len(null_distribution)): never 0, and exact
        (valid at every level) for permutation tests.
    null_distribution : ndarray
        The statistic recomputed under each permutation or bootstrap draw.
    """

    __test__ = False  # not a pytest test class despite the name

    statistic: float
    pvalue: float
    null_distribution: np.ndarray = field(repr=False)


def monte_carlo_pvalue(statistic: float, null: np.ndarray, scale: float = 0.0) -> float:
    """(1 + #{null >= statistic}) / (1 + len(null)), ties counted up to round-off.

    A resample that reproduces the observed split gives a null value equal to the
    statistic in exact arithmetic but summed in another order; as in
    ``scipy.stats.permutation_test``, values within 100 eps of the statistic count as
    ties. `scale` is the magnitude of the terms the statistic is a difference of (its
    round-off is relative to them, not to the statistic).
    """
    gamma = 100 * np.finfo(np.float64).eps * max(abs(statistic), scale)
    return float((1 + np.count_nonzero(null >= statistic - gamma)) / (1 + len(null)))


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped at ``max_iter`` before reaching its tolerance.

    The result it returned is reported with ``converged=False``; raise ``max_iter``,
    enable epsilon-scaling or increase epsilon.
    """
