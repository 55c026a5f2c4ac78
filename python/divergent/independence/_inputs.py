"""Validation shared by the independence statistics: paired samples, the bandwidth of
each argument, the permutations of the tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from divergent import _core, _scale
from divergent._bandwidth import check_median, median_pool
from divergent._validation import InvalidParameterError, as_samples, check_memory, check_scalar
from divergent.kernel._mmd import scaled_bandwidth

#: Fewest paired rows: the unbiased statistics divide by n - 3.
MIN_ROWS = 4


@dataclass(frozen=True)
class Bandwidths:
    """The `bandwidth` constraint of the HSIC functions: a positive number (both
    arguments), a pair of them (x's, y's), or None / "median" (each argument's median
    heuristic)."""

    def check(self, value, name: str):
        if value is None or (isinstance(value, str) and value == "median"):
            return None
        if isinstance(value, (tuple, list)) and len(value) == 2 and not any(isinstance(v, str) for v in value):
            return tuple(check_scalar(v, f"{name}[{i}]", "real", low=0, closed="neither") for i, v in enumerate(value))
        if isinstance(value, str):
            raise InvalidParameterError(
                f"unknown {name} {value!r}; expected a positive number, a pair of them, or 'median'"
            )
        return check_scalar(value, name, "real", low=0, closed="neither", hint="or a pair (x's, y's), or None")

    def describe(self) -> str:
        return "a positive number, a pair of them, or None"


BANDWIDTHS = Bandwidths()


def paired(x, y):
    """x and y as float64 (n, dx) and (n, dy) samples with n >= 4, and their own
    power-of-two scale exponents (see `divergent._scale`)."""
    x = as_samples(x, "x", min_samples=MIN_ROWS)
    y = as_samples(y, "y", min_samples=MIN_ROWS)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y must be paired row by row (row i of x observed with row i of y), got "
            f"{x.shape[0]} and {y.shape[0]} rows"
        )
    (x,), ex = _scale.in_range(x)
    (y,), ey = _scale.in_range(y)
    return x, y, ex, ey


def bandwidths(kernel: str, bandwidth, x, y, ex: int, ey: int, median=_core.median_pairwise_distance):
    """(h_x, h_y) on the scaled samples: None for the energy kernel, each argument's
    median heuristic (`median` of its pairwise distances) by default."""
    if kernel == "energy":
        if bandwidth is not None:
            raise ValueError(
                f"the energy kernel -|x - y| has no bandwidth, got bandwidth={bandwidth!r}; leave it at None"
            )
        return None, None
    given = bandwidth if isinstance(bandwidth, tuple) else (bandwidth, bandwidth)
    out = []
    for z, e, h, name in ((x, ex, given[0], "x"), (y, ey, given[1], "y")):
        if h is None:
            try:
                out.append(check_median(median(median_pool(z))))
            except ValueError as err:
                raise ValueError(f"{name}: {err}") from None
        else:
            out.append(scaled_bandwidth(h, e, lambda z=z: float(abs(z).max())))
    return out[0], out[1]


def permutation_orders(n: int, n_permutations: int, seed) -> np.ndarray:
    """(1 + P, n) uint32: the identity (the observed pairing), then P orders of the y's
    drawn with ``np.random.default_rng(seed).permutation`` in turn, so that the same seed
    gives the same permutations in divergent and in divergent.reference."""
    check_memory(
        4.0 * n * (n_permutations + 1), f"n_permutations={n_permutations}", "999 to 9999 permutations are usual"
    )
    rng = np.random.default_rng(seed)
    orders = np.empty((n_permutations + 1, n), dtype=np.uint32)
    orders[0] = np.arange(n)
    for p in range(n_permutations):
        orders[p + 1] = rng.permutation(n)
    return orders


def check_dense(n: int) -> None:
    """The permutation tests in d > 1 store two n x n centred matrices."""
    check_memory(
        16.0 * n * n,
        f"a permutation test on {n} rows (two stored {n} x {n} matrices)",
        "test a random subsample of the rows",
    )
