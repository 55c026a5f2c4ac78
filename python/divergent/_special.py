"""Special functions the estimators need, in NumPy (scipy is not a runtime dependency)."""

from __future__ import annotations

import numpy as np

__all__ = ["digamma"]

# B_2j / (2j), j = 1..7: the coefficients of x^(-2j) in the asymptotic series of digamma.
_ASYMPTOTIC = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)


def digamma(x) -> np.ndarray:
    """psi(x) = d/dx log Gamma(x) for x > 0, to about 1e-15 relative.

    Shifts x up to >= 10 with psi(x) = psi(x + 1) - 1/x, then sums the asymptotic series
    log x - 1/(2x) - sum_j B_2j / (2j x^2j), whose first omitted term is below 1e-17
    there.
    """
    x = np.asarray(x, dtype=np.float64)
    if np.any(~(x > 0)):
        raise ValueError("digamma is implemented for positive arguments only")
    shift = np.zeros_like(x)
    x = x.copy()
    small = x < 10
    while np.any(small):
        shift[small] -= 1.0 / x[small]
        x[small] += 1.0
        small = x < 10
    inv2 = 1.0 / (x * x)
    series = np.zeros_like(x)
    for c in reversed(_ASYMPTOTIC):
        series = inv2 * (c + series)
    return shift + np.log(x) - 0.5 / x - series
