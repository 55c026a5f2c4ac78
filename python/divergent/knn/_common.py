"""What the k-NN estimators share: their declared parameters, the checks of k and of zero
distances, the jitter, and the unit ball's volume."""

from __future__ import annotations

import math

import numpy as np

from divergent._validation import COUNT, FLAG, SEED, Interval, Options

#: Relative noise amplitude of ``jitter=True`` (scikit-learn's KSG uses the same).
DEFAULT_JITTER = 1e-10

#: The parameters every k-NN estimator declares (also divergent.dask's and the
#: references').
KNN_PARAMETERS = {
    "k": COUNT,
    "jitter": (Interval("real", 0, hint="or None (no jitter), or True (the default scale)"), FLAG, None),
    "seed": SEED,
}
#: renyi_divergence's alpha, and mutual_information's method.
RENYI_ALPHA = Interval("real", 0, closed="neither", hint="alpha = 1 is kl_divergence")
KSG_METHODS = Options(("ksg1", "ksg2"))


def check_k(k, available: int, what: str) -> int:
    """At least k candidate neighbours in `what`."""
    if k > available:
        raise ValueError(
            f"k={k} is too large: {what} has only {available} candidate neighbour(s) per "
            f"point; pass a smaller k or more samples"
        )
    return k


def jitter_scale(jitter) -> float:
    """The relative noise amplitude that a declared `jitter` (None, a bool or a number)
    asks for."""
    if jitter is None or jitter is False:
        return 0.0
    return DEFAULT_JITTER if jitter is True else jitter


def add_jitter(samples, jitter: float, seed):
    """Add N(0, (jitter * scale_j)^2) noise to every column j of every sample, from one
    generator seeded with `seed`. scale_j is the column's standard deviation (its
    largest magnitude if constant, 1 if zero), so the noise is relative to the data."""
    if jitter == 0:
        return samples
    rng = np.random.default_rng(seed)
    out = []
    for s in samples:
        scale = s.std(axis=0)
        scale = np.where(scale > 0, scale, np.abs(s).max(axis=0))
        scale = np.where(scale > 0, scale, 1.0)
        with np.errstate(over="ignore", invalid="ignore"):
            noisy = s + jitter * scale * rng.standard_normal(s.shape)
        if not np.isfinite(noisy).all():
            raise ValueError(
                f"jitter={jitter!r} times the data's scale overflows float64; jitter is relative "
                f"to each column's spread: pass a small value such as True (1e-10)"
            )
        out.append(noisy)
    return out


def _share_a_row(a: np.ndarray, b: np.ndarray | None) -> bool:
    """Whether two rows of `a` (b None) or a row of `a` and one of `b` are equal."""
    rows = {r.tobytes() for r in np.ascontiguousarray(a + 0.0)}  # + 0.0: -0.0 as 0.0
    if b is None:
        return len(rows) < a.shape[0]
    return any(r.tobytes() in rows for r in np.ascontiguousarray(b + 0.0))


def _ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def check_no_zero(distances, name: str, k: int, where: str, data=None) -> None:
    """Refuse zero k-th neighbour distances. `data` = (query, reference) where the
    reference is None for a search within the query sample: when no two points there
    are equal, the zeros are squared distances below float64's range, and the message
    says so."""
    zero = int(np.count_nonzero(distances == 0))
    if zero and data is not None and not _share_a_row(*data):
        raise ValueError(
            f"{zero} point(s) of {name} have their {_ordinal(k)} nearest neighbour in {where} at a "
            f"distance that underflows float64 to 0, though no two points are equal: the data "
            f"mix scales more than ~1e150 apart (some points or columns far larger than the "
            f"distances between others); standardise the columns or remove the far outliers first"
        )
    if zero:
        raise ValueError(
            f"{zero} point(s) of {name} have their {_ordinal(k)} nearest neighbour in {where} at "
            f"distance 0 (duplicate points), which makes the estimate infinite; remove the "
            f"duplicates, use a k larger than the number of copies, or pass jitter=True to "
            f"add a tiny seeded noise"
        )


def log_unit_ball_volume(d: int) -> float:
    """log of the volume of the Euclidean unit ball in d dimensions."""
    return 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1)
