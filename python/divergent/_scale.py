"""Exact power-of-two rescaling of samples whose squares would leave the float range.

Squared distances of float64 data beyond ~1e154 overflow, and those of data below
~1e-154 underflow to zero (distinct points become "duplicates"). Every estimator that is
scale-covariant (its value on c x is a known function of its value on x: k-NN
entropies and divergences, Wasserstein distances, energy distance, kernel sums with the
bandwidth scaled along, the median heuristic) divides such data by a power of two, which
is exact in binary floating point (the same neighbours, the same ordering, the same
rounding), computes, and maps the value back. Data inside the safe range are passed
through untouched, so ordinary inputs get bit-identical results and pay one min/max
reduction.
"""

from __future__ import annotations

import math

import numpy as np

#: log2 of the largest magnitude left as it is: (2^250)^2 * d stays finite for any d,
#: and float32's GEMM tiles (2^50)^2 * d likewise.
_SAFE_HIGH = {np.dtype(np.float64): 250, np.dtype(np.float32): 50}
#: log2 of the smallest non-zero magnitude left as it is: its square is a normal number.
_SAFE_LOW = {np.dtype(np.float64): -250, np.dtype(np.float32): -50}


def exponent(*arrays: np.ndarray) -> int:
    """e such that arrays * 2**-e have their largest magnitude in [0.5, 1), or 0 when
    that magnitude is already inside the safe range (or every entry is zero). The arrays
    are finite and share one dtype."""
    top = 0.0
    for a in arrays:
        if a.size:
            top = max(top, abs(float(a.max())), abs(float(a.min())))
    if top == 0.0:
        return 0
    _, e = math.frexp(top)
    dtype = arrays[0].dtype
    if _SAFE_LOW[dtype] <= e <= _SAFE_HIGH[dtype]:
        return 0
    return e


def scaled(a: np.ndarray, e: int) -> np.ndarray:
    """a * 2**-e in a's dtype (exact unless it underflows into the subnormals); `a`
    itself when e is 0."""
    return a if e == 0 else np.ldexp(a, -e).astype(a.dtype, copy=False)


def in_range(*arrays: np.ndarray) -> tuple[list[np.ndarray], int]:
    """The arrays divided by the one power of two 2**e of `exponent` (untouched when e
    is 0), and e."""
    e = exponent(*arrays)
    return [scaled(a, e) for a in arrays], e


def unscaled(value: float, e: int, power: int = 1) -> float:
    """value * 2**(e * power): a value computed on data divided by 2**e, mapped back for
    an estimator homogeneous of degree `power`; +-inf when the true value overflows."""
    if e == 0 or value == 0 or not math.isfinite(value):
        return float(value)
    try:
        return math.ldexp(float(value), e * power)
    except OverflowError:
        return math.copysign(math.inf, value)


def not_representable(what: str, why: str) -> ValueError:
    """The error for a result whose true value lies outside float64's range."""
    return ValueError(f"{what} is outside float64's range (|value| > 1.8e308): {why}")
