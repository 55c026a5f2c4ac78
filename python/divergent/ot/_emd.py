"""Exact optimal transport: the network simplex, from histograms and a cost matrix, or
from point clouds."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from divergent import _core
from divergent._results import ConvergenceWarning
from divergent._typing import ArrayLike
from divergent._validation import (
    Interval,
    as_samples,
    check_memory,
    check_same_dim,
    check_weights,
    real_array,
    validate_params,
)
from divergent.ot._wasserstein import WASSERSTEIN_P

__all__ = ["emd", "emd2", "wasserstein", "EMDResult"]

#: Relative difference of the histograms' masses accepted as equal (then b is rescaled
#: to a's mass); POT accepts 1e-6 on unit masses.
MASS_RTOL = 1e-6

EMD_PARAMETERS = {"max_iter": Interval("int", 1, hint="the network simplex needs a few times n + m pivots")}
WASSERSTEIN_PARAMETERS = {"p": WASSERSTEIN_P}


@dataclass(frozen=True)
class EMDResult:
    """An optimal transport plan and its certificate.

    Attributes
    ----------
    cost : float
        The optimal cost sum_ij P_ij M_ij.
    rows, cols : ndarray of int64
    values : ndarray of float64
        The plan's positive entries P[rows[k], cols[k]] = values[k], at most n + m - 1
        (a basic solution), sorted by row then column.
    f, g : ndarray of float64, shapes (n,) and (m,)
        Dual potentials: M_ij - f_i - g_j >= 0 for all i, j up to round-off, with
        equality on the plan's entries, so that cost = a.f + b.g. Unique only up to
        f + c, g - c (and more on degenerate problems); shifted so that a.f = b.g, as
        POT's ``center_dual``.
    n_iter : int
        Pivots of the network simplex.
    status : {"optimal", "max_iter_reached"}
        With "max_iter_reached" the plan is feasible but not optimal.
    shape : tuple of int
        (n, m).
    """

    cost: float
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    f: np.ndarray
    g: np.ndarray
    n_iter: int
    status: str
    shape: tuple = field(default=(0, 0))

    def plan(self) -> np.ndarray:
        """The dense n x m transport plan."""
        out = np.zeros(self.shape)
        out[self.rows, self.cols] = self.values
        return out


def _histogram(w, n: int, name: str, other: str) -> np.ndarray:
    """`w` as n non-negative masses, or uniform 1/n when empty or None."""
    if w is None or (np.ndim(w) == 1 and len(w) == 0):
        return np.full(n, 1.0 / n)
    h = real_array(w, name).astype(np.float64)
    if h.ndim != 1 or h.shape[0] != n:
        raise ValueError(f"{name} must be a 1-D histogram of length {n} ({other}), got shape {h.shape}")
    if not np.isfinite(h).all():
        raise ValueError(f"{name} contains NaN or infinity")
    if (h < 0).any():
        raise ValueError(f"{name} must be non-negative; found {h.min()!r}")
    if not h.sum() > 0:
        raise ValueError(f"{name} has no mass: every entry is 0")
    return h


def _same_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """b rescaled to a's mass, after checking that they agree to MASS_RTOL."""
    sa, sb = math.fsum(a), math.fsum(b)
    if abs(sa - sb) > MASS_RTOL * max(sa, sb):
        raise ValueError(
            f"a and b must carry the same mass, got {sa!r} and {sb!r}; normalise both "
            f"(or use sinkhorn with reach= for unbalanced transport)"
        )
    return b * (sa / sb) if sa != sb else b


def _cost_matrix(M) -> np.ndarray:
    c = real_array(M, "M").astype(np.float64)
    if c.ndim != 2 or 0 in c.shape:
        raise ValueError(f"M must be a non-empty 2-D cost matrix (n, m), got shape {c.shape}")
    if not np.isfinite(c).all():
        raise ValueError("M contains NaN or infinity")
    if (c < 0).any():
        raise ValueError(f"M must be non-negative; found {c.min()!r} (add a constant: the plan does not change)")
    return np.ascontiguousarray(c)


def _result(out, a, b, shape) -> EMDResult:
    cost, rows, cols, values, f, g, n_iter, optimal = out
    if not optimal:
        warnings.warn(
            f"the network simplex stopped at max_iter={n_iter} pivots before optimality; the plan "
            f"is feasible but its cost is an upper bound: raise max_iter",
            ConvergenceWarning,
            stacklevel=3,
        )
    # Centre the duals: a.(f + c) = b.(g - c).
    c = (b @ g - a @ f) / (2 * math.fsum(a))
    return EMDResult(
        cost=float(cost),
        rows=rows.astype(np.int64),
        cols=cols.astype(np.int64),
        values=values,
        f=f + c,
        g=g - c,
        n_iter=int(n_iter),
        status="optimal" if optimal else "max_iter_reached",
        shape=shape,
    )


@validate_params(EMD_PARAMETERS)
def emd(a: ArrayLike, b: ArrayLike, M: ArrayLike, max_iter: int = 10**7) -> EMDResult:
    r"""Exact optimal transport between histograms: the network simplex.

    Solves the transport linear program

    .. math::

        \min_{P \ge 0,\; P 1 = a,\; P^T 1 = b} \sum_{ij} P_{ij} M_{ij}

    by the primal network simplex on the bipartite network (Bonneel et al. 2011, after
    LEMON), with block-search pivoting and a strongly feasible spanning tree
    (anti-cycling). Exact up to floating-point round-off: the plan is a vertex of the
    transport polytope with at most n + m - 1 entries, and the duals certify it.
    Sequential and deterministic; as POT's ``ot.emd`` but the plan is returned sparse.
    Memory: M and one byte per entry beside it.

    Parameters
    ----------
    a : array_like, shape (n,)
        Source histogram (masses >= 0); empty or None: uniform 1/n.
    b : array_like, shape (m,)
        Target histogram, with the same total mass as a (to a relative 1e-6; b is then
        rescaled to a's mass); empty or None: uniform 1/m.
    M : array_like, shape (n, m)
        Costs, finite and >= 0.
    max_iter : int, default 10**7
        Pivots before stopping with ``status="max_iter_reached"`` (and a
        :class:`ConvergenceWarning`).

    Returns
    -------
    EMDResult
        ``cost``, the plan as ``rows``, ``cols``, ``values`` (and ``plan()``), the duals
        ``f``, ``g``, ``n_iter`` and ``status``.

    References
    ----------
    Bonneel, N., van de Panne, M., Paris, S., Heidrich, W. (2011). Displacement
    interpolation using Lagrangian mass transport. ACM Transactions on Graphics 30(6).
    Kovacs, P. (2015). Minimum-cost flow algorithms: an experimental evaluation.
    Optimization Methods and Software 30(1), 94-127.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> res = dv.ot.emd([0.5, 0.5], [0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]])
    >>> res.cost, res.plan()
    (0.0, array([[0.5, 0. ],
           [0. , 0.5]]))
    """
    c = _cost_matrix(M)
    n, m = c.shape
    a = _histogram(a, n, "a", "one mass per row of M")
    b = _same_mass(a, _histogram(b, m, "b", "one mass per column of M"))
    check_memory(9 * n * m, f"a {n} x {m} transport problem", "")
    return _result(_core.emd(a, b, c, max_iter), a, b, (n, m))


@validate_params(EMD_PARAMETERS)
def emd2(a: ArrayLike, b: ArrayLike, M: ArrayLike, max_iter: int = 10**7) -> float:
    """The optimal transport cost of :func:`emd` (POT's ``ot.emd2``).

    Parameters
    ----------
    a : array_like, shape (n,)
        Source histogram; empty or None: uniform.
    b : array_like, shape (m,)
        Target histogram of a's mass; empty or None: uniform.
    M : array_like, shape (n, m)
        Costs, finite and >= 0.
    max_iter : int, default 10**7
        Pivots of the network simplex.

    Returns
    -------
    float
        min over plans P of sum_ij P_ij M_ij.

    Examples
    --------
    >>> import divergent as dv
    >>> dv.ot.emd2([1.0, 0.0], [0.0, 1.0], [[0.0, 2.0], [2.0, 0.0]])
    2.0
    """
    return emd(a, b, M, max_iter=max_iter).cost


@validate_params(WASSERSTEIN_PARAMETERS)
def wasserstein(
    x: ArrayLike, y: ArrayLike, p: float = 2, a: ArrayLike | None = None, b: ArrayLike | None = None
) -> float:
    r"""The exact Wasserstein distance W_p between two point clouds.

    .. math::

        W_p = \Big(\min_{P \in \Pi(a, b)} \sum_{ij} P_{ij}\, |x_i - y_j|^p\Big)^{1/p},

    the p-th root of :func:`emd2` on the costs |x_i - y_j|^p (Euclidean), which the
    pair engine computes in parallel tiles (the Gram path in high dimension, exact
    re-check where it cancels). The points are first divided by a power of two near
    their extent, so that every cost lies in [0, 1]. As for any float64 simplex, plans
    whose costs differ by less than ~1e-15 of the largest cost are not told apart,
    which matters only for large p where (W_p / max |x_i - y_j|)^p is that small; the
    W_inf limit is then :func:`wasserstein_1d`'s in 1-D.

    Parameters
    ----------
    x : array_like, shape (n, d) or (n,)
    y : array_like, shape (m, d) or (m,)
    p : float, default 2
        Order, in [1, 1000].
    a, b : array_like, optional
        Weights of the points (non-negative, normalised); default uniform.

    Returns
    -------
    float
        W_p (not W_p^p).

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(300, 2))
    >>> round(dv.ot.wasserstein(x, x + [3.0, 4.0]), 12)
    5.0
    """
    x, y = as_samples(x, "x"), as_samples(y, "y")
    check_same_dim(x, y)
    n, m = x.shape[0], y.shape[0]
    a = np.full(n, 1.0 / n) if a is None else check_weights(a, n, "a")
    b = np.full(m, 1.0 / m) if b is None else check_weights(b, m, "b")
    b = _same_mass(a, b)
    lo, hi = np.minimum(x.min(0), y.min(0)), np.maximum(x.max(0), y.max(0))
    half_span = float((hi / 2 - lo / 2).max())  # halves: no overflow
    if half_span == 0:
        return 0.0
    # Scaled exactly by 2**-e and moved to the corner of the bounding box, whose
    # diagonal is then at most 1: every cost |x_i - y_j|^p lies in [0, 1].
    e = math.frexp(half_span)[1] + 1
    lo_s = np.ldexp(lo, -e)
    diagonal = float(np.sqrt(np.sum((np.ldexp(hi, -e) - lo_s) ** 2)))
    shift = math.frexp(diagonal)[1]
    xs, ys = np.ldexp(np.ldexp(x, -e) - lo_s, -shift), np.ldexp(np.ldexp(y, -e) - lo_s, -shift)
    e += shift
    check_memory(9 * n * m, f"the {n} x {m} cost matrix", "sinkhorn streams the costs")
    # No pivot limit: the solve ends at the optimum (or on Ctrl-C).
    res = _result(_core.emd_points(xs, ys, a, b, float(p), 2**63), a, b, (n, m))
    return math.ldexp(res.cost ** (1.0 / p), e)
