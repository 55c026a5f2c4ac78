"""Special functions the estimators need, in NumPy (scipy is not a runtime dependency)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["digamma", "norm_ppf", "gamma_sf"]

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


# Wichura's AS241 (PPND16) coefficients, highest power first (for np.polyval); relative
# accuracy about 1e-16. Central region |p - 1/2| <= 0.425, then two tail regions in
# r = sqrt(-log min(p, 1 - p)).
_CENTRAL_NUM = (
    2.5090809287301226727e3,
    3.3430575583588128105e4,
    6.7265770927008700853e4,
    4.5921953931549871457e4,
    1.3731693765509461125e4,
    1.9715909503065514427e3,
    1.3314166789178437745e2,
    3.3871328727963666080e0,
)
_CENTRAL_DEN = (
    5.2264952788528545610e3,
    2.8729085735721942674e4,
    3.9307895800092710610e4,
    2.1213794301586595867e4,
    5.3941960214247511077e3,
    6.8718700749205790830e2,
    4.2313330701600911252e1,
    1.0,
)
_NEAR_NUM = (
    7.74545014278341407640e-4,
    2.27238449892691845833e-2,
    2.41780725177450611770e-1,
    1.27045825245236838258e0,
    3.64784832476320460504e0,
    5.76949722146069140550e0,
    4.63033784615654529590e0,
    1.42343711074968357734e0,
)
_NEAR_DEN = (
    1.05075007164441684324e-9,
    5.47593808499534494600e-4,
    1.51986665636164571966e-2,
    1.48103976427480074590e-1,
    6.89767334985100004550e-1,
    1.67638483018380384940e0,
    2.05319162663775882187e0,
    1.0,
)
_FAR_NUM = (
    2.01033439929228813265e-7,
    2.71155556874348757815e-5,
    1.24266094738807843860e-3,
    2.65321895265761230930e-2,
    2.96560571828504891230e-1,
    1.78482653991729133580e0,
    5.46378491116411436990e0,
    6.65790464350110377720e0,
)
_FAR_DEN = (
    2.04426310338993978564e-15,
    1.42151175831644588870e-7,
    1.84631831751005468180e-5,
    7.86869131145613259100e-4,
    1.48753612908506148525e-2,
    1.36929880922735805310e-1,
    5.99832206555887937690e-1,
    1.0,
)


def norm_ppf(p) -> np.ndarray:
    """The standard normal quantile function for p in (0, 1) (Wichura 1988, AS241)."""
    p = np.asarray(p, dtype=np.float64)
    if np.any(~((p > 0) & (p < 1))):
        raise ValueError("norm_ppf is implemented for 0 < p < 1 only")
    q = p - 0.5
    out = np.empty_like(p)
    central = np.abs(q) <= 0.425
    r = 0.180625 - q[central] ** 2
    out[central] = q[central] * np.polyval(_CENTRAL_NUM, r) / np.polyval(_CENTRAL_DEN, r)
    tail = ~central
    r = np.sqrt(-np.log(np.minimum(p[tail], 1.0 - p[tail])))
    near = r <= 5.0
    x = np.empty_like(r)
    x[near] = np.polyval(_NEAR_NUM, r[near] - 1.6) / np.polyval(_NEAR_DEN, r[near] - 1.6)
    x[~near] = np.polyval(_FAR_NUM, r[~near] - 5.0) / np.polyval(_FAR_DEN, r[~near] - 5.0)
    out[tail] = np.where(q[tail] < 0, -x, x)
    return out


def gamma_sf(x: float, shape: float, scale: float = 1.0) -> float:
    """Pr(X > x) for X ~ Gamma(shape, scale): the regularized upper incomplete gamma
    function Q(a, t) at a = shape, t = x / scale, by its power series below t = a + 1
    and its continued fraction (modified Lentz) above (Numerical Recipes, 6.2), both
    to double precision."""
    a, t = float(shape), float(x) / float(scale)
    if not (a > 0 and math.isfinite(a)):
        raise ValueError(f"gamma_sf needs a finite positive shape, got {shape}")
    if t <= 0:
        return 1.0
    if math.isinf(t):
        return 0.0
    log_front = -t + a * math.log(t) - math.lgamma(a)
    if t < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(100_000):
            ap += 1.0
            term *= t / ap
            total += term
            if abs(term) < abs(total) * 1e-17:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    tiny = 1e-300
    b = t + 1.0 - a
    c, d = 1.0 / tiny, 1.0 / b
    h = d
    for i in range(1, 100_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = d if abs(d) > tiny else tiny
        c = b + an / c
        c = c if abs(c) > tiny else tiny
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return math.exp(log_front) * h
