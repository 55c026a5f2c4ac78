"""Entropic optimal transport: log-domain Sinkhorn on point clouds or a cost matrix,
its result object, and the debiased Sinkhorn divergence."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from divergent import _core, _scale
from divergent._results import ConvergenceWarning
from divergent._typing import ArrayLike
from divergent._validation import (
    COUNT,
    NON_NEGATIVE,
    POSITIVE,
    Interval,
    Options,
    as_samples,
    check_same_dim,
    check_weights,
    validate_params,
)

BACKENDS = ("auto", "online", "dense")

#: sinkhorn_from_cost's parameters, and those of sinkhorn and sinkhorn_divergence (also
#: the references', which have no backend for a cost matrix).
COST_PARAMETERS = {"epsilon": POSITIVE, "max_iter": COUNT, "tol": NON_NEGATIVE}
SINKHORN_PARAMETERS = {
    **COST_PARAMETERS,
    "p": Interval("real", 0, closed="neither", hint="the cost is |x - y|^p"),
    "reach": (POSITIVE, None),
    "scaling": (Interval("real", 0, 1, closed="neither", hint="or None for no epsilon-scaling"), None),
    "backend": Options(BACKENDS),
}

#: Largest n * m for which ``SinkhornResult.plan()`` builds the dense coupling (2 GiB).
PLAN_MAX_ENTRIES = 2**28
#: ``backend="auto"`` stores the Gibbs kernel (``backend="dense"``) when it has at most
#: this many entries (8 bytes each: 1 GiB) and, in low dimension, epsilon is at least
#: ``DENSE_AUTO_MIN_EPSILON`` x sqrt(n m / 4e6) x 3^(3 - d) times the median cost
#: (``_median_cost``; for the uniform and Gaussian clouds below 0.7 to 0.8 of the mean
#: cost). The median cost, not the diameter or the mean, sets the scale: a few outliers
#: set those. Measured (2 threads, AVX-512, 2026-12-02; uniform, Gaussian,
#: three-component mixture and Student-t(2) clouds, epsilon from 1e-3 to 1 x the mean
#: cost, tol 1e-6), time of the streamed path over the stored kernel's:
#:
#: | d | n = m | eps / mean cost | uniform | Gaussian | mixture | Student-t |
#: |---:|---:|---:|---:|---:|---:|---:|
#: | 2 | 3,000 | 1e-3 | 0.33 | 0.32 | 0.80 | 0.76 |
#: | 2 | 3,000 | 3e-3 | 0.48 | 0.52 | 0.86 | 1.24 |
#: | 2 | 3,000 | 1e-2 | 0.93 | 1.10 | 2.54 | 2.23 |
#: | 2 | 3,000 | 0.1 | 1.66 | 2.51 | 1.38 | 2.43 |
#: | 3 | 2,000 | 1e-3 | 0.61 | 0.69 | 1.49 | 1.39 |
#: | 3 | 2,000 | 3e-3 | 0.94 | 0.95 | 1.96 | 1.85 |
#: | 3 | 2,000 | 1e-2 | 1.34 | 1.35 | 2.43 | 2.58 |
#: | 3 | 2,000 | 3e-2 to 1 | 1.4-2.4 | 1.5-2.7 | 1.5-3.1 | 2.7-3.0 |
#: | 3 | 6,000 | 1e-3 | 0.35 | 0.30 | 1.63 | 0.75 |
#: | 3 | 6,000 | 3e-3 | 0.54 | 0.52 | 1.78 | 1.40 |
#: | 3 | 6,000 | 1e-2 | 1.09 | 1.00 | 1.55 | 2.81 |
#: | 3 | 6,000 | 3e-2 to 1 | 1.6-2.1 | 1.4-1.7 | 1.1-1.6 | 2.76 (3e-2) |
#: | 8 | 3,000 | 1e-3 to 0.1 | 2.1-2.9 | 1.9-3.4 | 1.3-3.2 | 2.5-3.7 |
#:
#: The streamed soft-min prunes relatively more at larger n (its blocks of points are
#: tighter) and far more in fewer dimensions, so the crossover of the uniform and
#: Gaussian clouds moves up with n and down with d (about 1e-2 at d = 2; between 1e-3
#: and 3e-3 at d = 3, n = 2,000, between 3e-3 and 1e-2 at 6,000; below 1e-3 at d = 8);
#: the limit follows it. Where the clouds are clustered or heavy-tailed at small epsilon
#: in d = 3 the stored kernel stays faster (the streamed path's pruning lags the
#: potentials while they are far from converged), which no cheap statistic of the data
#: foresees (neither the fraction of pairs within the truncation radius nor a local
#: scale does): there the rule reaches 0.56 to 0.72 of the faster backend's speed.
DENSE_AUTO_MAX_ENTRIES = 2**27
DENSE_AUTO_MIN_EPSILON = 2e-3
#: From this dimension on (the pair engine's Gram path, ``GRAM_FROM_D`` in
#: rust/core/src/pairwise/mod.rs) the stored kernel keeps its cost matrix, computed once
#: through the Gram expansion, and the streamed soft-min's block tree prunes little (its
#: blocks' boxes are wide in every direction): "auto" stores the kernel whenever kernel
#: and costs fit in ``DENSE_AUTO_MAX_ENTRIES`` entries together, whatever epsilon. At
#: n = m = 3,000, epsilon = 0.05 x the mean cost, Gaussian clouds, 2 threads: d = 64,
#: 0.15 s stored against 0.38 s streamed; d = 512, see benches/RESULTS.md.
HIGH_DIM = 16
#: Epsilon-scaling anneals on clusters of points (multiscale) once n * m reaches this:
#: each annealing stage then costs (number of clusters)^2 pairs instead of n * m, and
#: the iterations at the final epsilon start from the clusters' potentials carried over
#: to the points. Measured (d = 3, scaling = 0.5, uniform data): at n = m = 20,000 and
#: epsilon = 1e-3 the annealing fell from 4.2 s to 0.05 s with the same number of final
#: iterations; from n = 1,000 to 10,000 the final iterations changed by -9 to +4 and the
#: whole solve took 5-25% less time. With the stored kernel, annealing on clusters means
#: building the kernel once, at the final epsilon, instead of at every stage: at
#: epsilon = 0.01 and scaling = 0.5, 1.43 -> 0.99 s at n = 4,000 and 8.1 -> 6.2 s at
#: 10,000. Smaller problems anneal on the points (as the NumPy reference does), where a
#: cluster would be a sizeable part of the data.
MULTISCALE_MIN_PAIRS = 10**6
#: Number of clusters per side aimed at (each cluster is at least one block of 16 points).
MULTISCALE_CLUSTERS = 4096


@dataclass(frozen=True, eq=False)
class SinkhornResult:
    """Result of an entropic optimal transport solve.

    Attributes
    ----------
    cost : float
        Transport cost <P, C> of the entropic coupling P (the value of POT's
        ``ot.sinkhorn2``).
    value : float
        Dual objective. Balanced: <a, f> + <b, g> (equals OT_eps = <P, C> +
        epsilon KL(P | a x b) at convergence). Unbalanced (``reach`` given):
        rho <a, 1 - exp(-f / rho)> + rho <b, 1 - exp(-g / rho)> - epsilon (<P, 1> -
        <a, 1><b, 1>), rho = reach^p.
    f, g : ndarray, shapes (n,), (m,)
        Dual potentials; the coupling is P_ij = a_i b_j exp((f_i + g_j - C_ij) / epsilon).
    n_iter : int
        Iterations run, one per epsilon-scaling stage included.
    converged : bool
        Whether the marginal errors are within ``tol``: ``marginal_error <= tol``, less
        twice the bound on what truncation skipped (see Notes) where it skipped more
        than round-off.
    marginal_error : float
        L1 residual of the row marginal: sum_i |(P 1)_i - a_i| (balanced; the column
        marginal is exact after the last half-step), or of its optimality condition
        sum_i |(P 1)_i - a_i exp(-f_i / rho)| (unbalanced), as the solver measured it
        (with the "online" backend, on the truncated soft-min: within ``tol / 64`` of
        the sum over every pair).
    epsilon : float
        The regularisation the result is for.
    """

    cost: float
    value: float
    f: np.ndarray = field(repr=False)
    g: np.ndarray = field(repr=False)
    n_iter: int
    converged: bool
    marginal_error: float
    epsilon: float
    #: What the plan's costs come from, owned by the result (so that a change to the
    #: caller's arrays after the call does not change it, and the result pickles):
    #: ("cost", C) or ("points", x, y, p).
    _costs: tuple = field(repr=False, compare=False)
    _a: np.ndarray = field(repr=False, compare=False)
    _b: np.ndarray = field(repr=False, compare=False)
    #: The solve ran on costs divided by 2**_exponent (see `cost_inputs`); `_costs`
    #: holds those costs.
    _exponent: int = field(default=0, repr=False, compare=False)

    def plan(self) -> np.ndarray:
        """The dense (n, m) coupling P_ij = a_i b_j exp((f_i + g_j - C_ij) / epsilon).

        Meant for small problems: it needs n * m floats (refused above 2^28 entries).
        """
        n, m = len(self.f), len(self.g)
        if n * m > PLAN_MAX_ENTRIES:
            raise ValueError(
                f"the plan would have {n} x {m} = {n * m:.3g} entries (limit {PLAN_MAX_ENTRIES:.3g}); "
                f"use the potentials f and g, which determine it, instead"
            )
        # Built in place in the (fresh) cost matrix: one n x m array at the peak.
        kind, *data = self._costs
        plan = data[0].copy() if kind == "cost" else cost_matrix(*data)
        with np.errstate(divide="ignore"):
            la, lb = np.log(self._a), np.log(self._b)
        e = self._exponent
        plan -= np.ldexp(self.f, -e)[:, None]
        plan -= np.ldexp(self.g, -e)[None, :]
        plan /= -math.ldexp(self.epsilon, -e)
        plan += la[:, None]
        plan += lb[None, :]
        return np.exp(plan, out=plan)


def cost_matrix(x: np.ndarray, y: np.ndarray, p: float) -> np.ndarray:
    """|x_i - y_j|^p as a dense (n, m) matrix (differences, not the expanded dot-product
    form, so that coincident points cost exactly 0)."""
    out = np.empty((x.shape[0], y.shape[0]))
    rows = max(1, 2**22 // max(1, y.shape[0] * x.shape[1]))
    for i in range(0, x.shape[0], rows):
        d2 = np.sum((x[i : i + rows, None, :] - y[None, :, :]) ** 2, axis=2)
        out[i : i + rows] = d2 if p == 2 else d2 ** (p / 2)
    return out


def _ot_weights(w, n: int, name: str, *, normalise: bool) -> np.ndarray:
    """Uniform 1/n if None; else validated non-negative weights, normalised to sum 1 for
    balanced OT and kept as given (a measure of any positive mass) for unbalanced OT."""
    if w is None:
        return np.full(n, 1.0 / n)
    normalised = check_weights(w, n, name)
    return normalised if normalise else np.asarray(w, dtype=np.float64).copy()


def epsilon_schedule(diameter: float, p: float, epsilon: float, scaling, max_len: int | None = None) -> list[float]:
    """Epsilons for epsilon-scaling: (diameter * scaling^k)^p for k = 0, 1, ... while above
    `epsilon`, then `epsilon` (GeomLoss's convention: `scaling` is the ratio of successive
    length scales epsilon^(1/p)). Without scaling: [epsilon]. With `max_len`, a schedule
    that would be longer raises ValueError before it is built."""
    if scaling is None:
        return [epsilon]
    if max_len is not None and diameter > 0 and diameter**p > epsilon:
        # (diameter s^k)^p > epsilon  <=>  k < log(epsilon^(1/p) / diameter) / log(s).
        stages = math.log(epsilon ** (1.0 / p) / diameter) / math.log(float(scaling))
        if stages > max_len + 1:
            raise ValueError(
                f"scaling={scaling} gives about {math.ceil(stages)} annealing iterations, which with "
                f"one at epsilon are more than max_iter={max_len}; raise max_iter or lower scaling"
            )
    out = []
    k = 0
    while diameter > 0 and (diameter * scaling**k) ** p > epsilon:
        out.append((diameter * scaling**k) ** p)
        k += 1
    return out + [epsilon]


def _median_cost(x: np.ndarray, y: np.ndarray, p: float) -> float:
    """Median of |x_i - y_j|^p over a fixed subsample of up to 256 x 1024 pairs: the
    typical cost, which (unlike the diameter or the mean) a few outliers do not move."""
    rng = np.random.default_rng(0)
    xs = x[np.sort(rng.choice(len(x), min(len(x), 256), replace=False))]
    ys = y[np.sort(rng.choice(len(y), min(len(y), 1024), replace=False))]
    d2 = np.maximum((xs * xs).sum(1)[:, None] + (ys * ys).sum(1)[None, :] - 2 * xs @ ys.T, 0.0)
    return float(np.median(d2 if p == 2 else d2 ** (p / 2)))


def _pow(base: float, p: float) -> float:
    try:
        return math.pow(base, p)
    except OverflowError:
        return math.inf


def _marginal_penalty(reach, p: float) -> float:
    """rho = reach^p of unbalanced OT, refused where it leaves float64's normal range."""
    rho = _pow(reach, p)
    if not math.isfinite(rho):
        raise ValueError(
            f"reach={reach!r} with p={p:g} makes the marginal penalty reach**p overflow float64; "
            f"for balanced OT (marginals enforced exactly) pass reach=None"
        )
    if not rho >= 1e-300:
        raise ValueError(
            f"reach={reach!r} with p={p:g} makes the marginal penalty reach**p = {rho:.3g} "
            f"underflow (no transport at all); pass a reach comparable to the distances in the data"
        )
    return rho


def _check_masses(a: np.ndarray, b: np.ndarray) -> None:
    """Unbalanced OT keeps the masses as given; its plan has mass ~ sum a * sum b."""
    ma, mb = float(np.sum(a)), float(np.sum(b))
    if not (math.isfinite(ma) and math.isfinite(mb)) or math.log10(ma) + math.log10(mb) > 300:
        raise ValueError(
            f"a and b have total masses {ma:.3g} and {mb:.3g}, whose product overflows float64 "
            f"in the unbalanced plan; express them in a larger unit (divide a and b by a common "
            f"factor)"
        )


def _diameter(x: np.ndarray, y: np.ndarray) -> float:
    """Diagonal of the bounding box of both samples (GeomLoss's choice)."""
    lo = np.minimum(x.min(axis=0), y.min(axis=0))
    hi = np.maximum(x.max(axis=0), y.max(axis=0))
    return float(np.linalg.norm(hi - lo))


@dataclass(frozen=True)
class SinkhornProblem:
    """Validated inputs of a point-cloud Sinkhorn call (shared with the reference)."""

    x: np.ndarray
    y: np.ndarray
    a: np.ndarray
    b: np.ndarray
    epsilon: float
    p: float
    rho: float | None
    schedule: list
    max_iter: int
    tol: float
    #: The typical cost (``_median_cost``), the scale ``backend="auto"`` reads.
    median_cost: float = 1.0


def sinkhorn_inputs(x, y, a, b, epsilon, p, reach, max_iter, tol, scaling) -> SinkhornProblem:
    x, y = as_samples(x, "x"), as_samples(y, "y")
    check_same_dim(x, y)
    rho = None if reach is None else _marginal_penalty(reach, p)
    a = _ot_weights(a, x.shape[0], "a", normalise=rho is None)
    b = _ot_weights(b, y.shape[0], "b", normalise=rho is None)
    if rho is not None:
        _check_masses(a, b)
    diameter = _diameter(x, y)
    if not math.isfinite(diameter) or not math.isfinite(_pow(diameter, p)):
        raise ValueError(
            f"the costs |x - y|^p overflow float64 (the samples' diameter is {diameter:.3g}, "
            f"p={p:g}); rescale the data or use a smaller p"
        )
    check_epsilon_resolves(epsilon, _pow(diameter, p), what="the samples' diameter^p")
    schedule = epsilon_schedule(diameter, p, epsilon, scaling, max_len=max_iter)
    if len(schedule) > max_iter:
        raise ValueError(
            f"scaling={scaling} gives {len(schedule) - 1} annealing iterations, which with one "
            f"at epsilon are more than max_iter={max_iter}; raise max_iter or lower scaling"
        )
    return SinkhornProblem(x, y, a, b, epsilon, p, rho, schedule, max_iter, tol, _median_cost(x, y, p))


#: The smallest epsilon, relative to the largest cost, that the solvers accept: round-off
#: in the costs (2^-52 of the largest) moves the plan's exponents (f + g - C) / epsilon
#: by up to 2^-12 at this epsilon, and by more than 1 (every plan entry wrong by a factor)
#: below 2^-52. Values near it need epsilon-scaling to converge in any case.
EPSILON_MIN_RELATIVE = 2.0**-40


def check_epsilon_resolves(epsilon: float, largest_cost: float, e: int = 0, what: str = "the largest cost") -> None:
    """A ValueError, naming epsilon and the smallest that works, where epsilon is too
    small for float64 to resolve the plan against costs up to `largest_cost`; the test
    is made on both divided by 2**e, the units the solver runs in."""
    smallest_scaled = max(math.ldexp(largest_cost, -e) * EPSILON_MIN_RELATIVE, np.finfo(np.float64).tiny)
    if math.ldexp(epsilon, -e) < smallest_scaled:
        if smallest_scaled == np.finfo(np.float64).tiny:
            raise ValueError(
                f"epsilon={epsilon!r} is below float64's normal range; the smallest that works is 2.2e-308"
            )
        raise ValueError(
            f"epsilon={epsilon!r} is below what float64 resolves against {what} "
            f"({largest_cost:.4g}): the costs' round-off would decide the plan. The smallest "
            f"epsilon that works is {math.ldexp(smallest_scaled, e):.4g} ({EPSILON_MIN_RELATIVE:.3g} x "
            f"{what}); near it, use epsilon-scaling (scaling=0.5) to converge"
        )


def cost_inputs(cost, a, b, epsilon, max_iter, tol):
    """Validated inputs of `sinkhorn_from_cost`: the costs and epsilon divided by the
    power of two 2**e of `_scale.exponent` (0 inside its range; Sinkhorn is covariant:
    the potentials, cost and value of c C at c epsilon are c times those at epsilon),
    and e."""
    c = np.asarray(cost)
    if c.dtype.kind not in "biuf":
        raise TypeError(f"cost must be a numeric matrix, got dtype {c.dtype}")
    if c.ndim != 2 or 0 in c.shape:
        raise ValueError(f"cost must be a non-empty 2-D matrix (n, m), got shape {c.shape}")
    c = c.astype(np.float64, copy=False)
    if not np.isfinite(c).all():
        raise ValueError("cost contains NaN or infinity; every entry must be finite")
    largest = float(np.abs(c).max())
    e = _scale.exponent(c)
    check_epsilon_resolves(epsilon, largest, e)
    a = _ot_weights(a, c.shape[0], "a", normalise=True)
    b = _ot_weights(b, c.shape[1], "b", normalise=True)
    return _scale.scaled(c, e), a, b, math.ldexp(epsilon, -e), max_iter, tol, e


def _warn_unconverged(what: str, n_iter: int, error: float, tol: float) -> None:
    warnings.warn(
        f"{what} did not converge in {n_iter} iterations: marginal error {error:.3g} > "
        f"tol={tol:g}. The result is not the entropic optimum; raise max_iter, enable "
        f"epsilon-scaling (scaling=0.5) or increase epsilon",
        ConvergenceWarning,
        stacklevel=4,  # _warn_unconverged <- make_result / divergence_from <- public function <- caller
    )


def owned(array: np.ndarray, *sources) -> np.ndarray:
    """`array`, or a copy of it where it shares memory with one of `sources` (the
    caller's inputs; nested lists, which were converted into fresh arrays, are skipped)."""
    shared = any(not isinstance(s, (list, tuple)) and np.may_share_memory(array, s) for s in sources if s is not None)
    return array.copy() if shared else array


def make_result(out, epsilon, tol, costs, a, b, what="Sinkhorn", exponent=0) -> SinkhornResult:
    """A SinkhornResult from a solver's (f, g, n_iter, error, converged, value, cost,
    mass), for costs divided by 2**exponent (cost, value and potentials multiplied back);
    `costs` is the plan's source, ("cost", C) or ("points", x, y, p), arrays the result
    may keep (see `owned`), like the weights a and b (fresh arrays from `_ot_weights`)."""
    f, g, n_iter, error, converged, value, cost, _mass = out
    if not converged:
        _warn_unconverged(what, n_iter, error, tol)
    if not (math.isfinite(cost) and math.isfinite(value)):
        raise RuntimeError(
            f"{what} produced a non-finite cost ({cost}) or value ({value}) from finite "
            f"inputs; please report this with the inputs that caused it"
        )
    return SinkhornResult(
        cost=_scale.unscaled(cost, exponent),
        value=_scale.unscaled(value, exponent),
        f=np.ldexp(np.asarray(f), exponent) if exponent else np.asarray(f),
        g=np.ldexp(np.asarray(g), exponent) if exponent else np.asarray(g),
        n_iter=int(n_iter),
        converged=bool(converged),
        marginal_error=float(error),
        epsilon=epsilon,
        _costs=costs,
        _a=a,
        _b=b,
        _exponent=exponent,
    )


def _use_dense(backend, n: int, m: int, pb: SinkhornProblem) -> bool:
    if backend == "auto":
        if pb.x.shape[1] >= HIGH_DIM:
            return 2 * n * m <= DENSE_AUTO_MAX_ENTRIES
        d = pb.x.shape[1]
        limit = DENSE_AUTO_MIN_EPSILON * math.sqrt(n * m / 4e6) * 3.0 ** (3 - d) * pb.median_cost
        return n * m <= DENSE_AUTO_MAX_ENTRIES and pb.epsilon >= limit
    return backend == "dense"


def _cluster_points(n: int, m: int, schedule) -> int:
    """Largest cluster for multiscale annealing (either backend), or 0 for annealing on
    the points."""
    if len(schedule) < 2 or n * m < MULTISCALE_MIN_PAIRS:
        return 0
    return max(16, -(-max(n, m) // MULTISCALE_CLUSTERS))


_SINKHORN_NOTES = r"""
    Notes
    -----
    Log-domain Sinkhorn: with potentials f, g the updates are

    .. math::

        f_i = -\lambda \varepsilon \log \sum_j b_j e^{(g_j - C_{ij})/\varepsilon},\qquad
        g_j = -\lambda \varepsilon \log \sum_i a_i e^{(f_i - C_{ij})/\varepsilon},

    with :math:`\lambda = 1` (balanced) or :math:`\rho / (\rho + \varepsilon)`,
    :math:`\rho = \mathrm{reach}^p` (unbalanced, KL marginal penalties). Every soft-min
    is a streamed, tiled log-sum-exp over the cost computed on the fly: memory is
    O(n + m) and no value overflows or underflows for any epsilon. Each iteration costs
    at most n m exponentials: g's terms are f's times a factor per point, taken in the
    same pass (or 2 n m where that pass cannot bound what truncation left out of g's
    sums); the number of iterations grows like (diameter^p / epsilon) without
    epsilon-scaling, far more slowly with it (``scaling=0.5`` to 0.9).

    Truncation ("online" backend): points are kept in the order of a tree of spatial
    clusters, and terms are skipped, whole clusters at a time, only where a bound on the
    cost puts all skipped terms of a row below ``tol / 64`` of its sum (times the total
    weight; a fraction 1e-12 or less, round-off, when ``tol`` is smaller). The marginals
    measured on the truncated kernel are then within ``tol / 64`` of the exact ones on
    each side, and the stopping test holds ``marginal_error`` to ``tol`` minus that
    bound for both, so ``converged`` means the exact coupling's marginal error is at most
    ``tol``; the cost moves far less (it is first-order insensitive to the potentials at
    a fixed point: 1e-11 relative at n = 20,000, epsilon = 1e-3, tol = 1e-3). At small
    epsilon this leaves the pairs the coupling actually uses. Multiscale: for large
    problems the annealing stages of epsilon-scaling run between cluster means
    (about ``MULTISCALE_CLUSTERS`` per side), and the clusters' potentials are carried
    over to the points by one soft-min each (Schmitzer 2019; GeomLoss's multiscale
    mode); the iterations at ``epsilon`` then run on the points to ``tol`` as usual.
"""


@validate_params(SINKHORN_PARAMETERS)
def sinkhorn(
    x: ArrayLike,
    y: ArrayLike,
    *,
    a: ArrayLike | None = None,
    b: ArrayLike | None = None,
    epsilon: float = 0.05,
    p: float = 2,
    reach: float | None = None,
    max_iter: int = 1000,
    tol: float = 1e-6,
    scaling: float | None = None,
    backend: Literal["auto", "online", "dense"] = "auto",
) -> SinkhornResult:
    r"""Entropic optimal transport between two point clouds (log-domain Sinkhorn).

        Solves

        .. math::

            \mathrm{OT}_\varepsilon(a, b) = \min_{P \in \Pi(a, b)} \langle P, C\rangle
            + \varepsilon\, \mathrm{KL}(P \,|\, a \otimes b), \qquad C_{ij} = |x_i - y_j|^p,

        or, with ``reach``, its unbalanced version where the marginal constraints become
        penalties :math:`\rho\,\mathrm{KL}(P 1 | a) + \rho\,\mathrm{KL}(P^\top 1 | b)`,
        :math:`\rho = \mathrm{reach}^p`.

        Parameters
        ----------
        x : array_like, shape (n, d) or (n,)
        y : array_like, shape (m, d) or (m,)
        a, b : array_like, shapes (n,), (m,), optional
            Non-negative weights (default uniform). Normalised to sum 1 for balanced OT;
            taken as given (any positive total mass) when ``reach`` is set.
        epsilon : float, default 0.05
            Entropic regularisation, absolute, in units of the cost (data diameter^p sets
            the scale: epsilon = 1e-3 diameter^p is a sharp approximation of OT). At least
            2^-40 diameter^p: below, the costs' round-off decides the plan (ValueError).
        p : float > 0, default 2
            Cost exponent (p = 1 and p = 2 are specialised).
        reach : float, optional
            Unbalanced OT: the length scale beyond which mass is destroyed rather than moved.
        max_iter : int, default 1000
            Most iterations (each updates f then g), annealing stages included.
        tol : float, default 1e-6
            Stop when the L1 marginal residual ``marginal_error`` is at most ``tol``.
        scaling : float in (0, 1), optional
            Epsilon-scaling: one iteration at each epsilon (diameter * scaling^k)^p from the
            data diameter down, warm-starting the potentials, then iterations at ``epsilon``
            until converged. Values 0.5-0.9 cut the iterations at small epsilon. For large
            problems (n * m >= ``MULTISCALE_MIN_PAIRS``) the annealing runs on clusters of
            points (multiscale), and only the iterations at ``epsilon`` on the points.
        backend : {"auto", "online", "dense"}, default "auto"
            "online" computes the cost on the fly (O(n + m) memory), truncated to the pairs
            that matter; "dense" stores the n x m Gibbs kernel exp((f + g - C) / epsilon)
            (8 n m bytes) and iterates in the kernel domain, re-absorbing the potentials
            into it as they move (Schmitzer 2019): one memory-bound pass over the kernel
            per iteration (both products) instead of an exponential per pair, up to twice
            as fast when nearly every pair matters (n = m = 4,000 at epsilon = 0.01 of a
            squared diameter of 3). "auto" picks "dense" when the kernel
            has at most ``DENSE_AUTO_MAX_ENTRIES`` entries and, below d = 16, epsilon >=
            ``DENSE_AUTO_MIN_EPSILON`` x sqrt(n m / 4e6) x 3^(3 - d) x the median cost (from
            d = 16 whenever kernel and costs fit). Both give the same iterates up to round-off.

        Returns
        -------
        SinkhornResult
            ``cost`` (<P, C>, as POT's ``ot.sinkhorn2``), ``value`` (the dual objective),
            potentials ``f``, ``g``, ``n_iter``, ``converged``, ``marginal_error``, and
            ``plan()``. A :class:`ConvergenceWarning` is issued when ``max_iter`` is hit.
    {notes}
        References
        ----------
        Cuturi, M. (2013). Sinkhorn distances: lightspeed computation of optimal transport.
        NeurIPS. Schmitzer, B. (2019). Stabilized sparse scaling algorithms for entropy
        regularized transport problems. SIAM J. Sci. Comput. 41(3). Chizat, L., Peyre, G.,
        Schmitzer, B., Vialard, F.-X. (2018). Scaling algorithms for unbalanced optimal
        transport problems. Math. Comp. 87. Feydy, J. (2020). Geometric data analysis,
        beyond convolutions. PhD thesis, ENS Paris-Saclay.

        Examples
        --------
        >>> import numpy as np, divergent as dv
        >>> x = np.random.default_rng(0).random((500, 2))
        >>> res = dv.ot.sinkhorn(x, x + [0.5, 0.0], epsilon=0.01, scaling=0.7)
        >>> res.converged, round(res.cost, 3)  # |t|^2 = 0.25 plus the entropic blur
        (True, 0.259)
    """
    pb = sinkhorn_inputs(x, y, a, b, epsilon, p, reach, max_iter, tol, scaling)
    n, m = pb.x.shape[0], pb.y.shape[0]
    dense = _use_dense(backend, n, m, pb)
    clusters = _cluster_points(n, m, pb.schedule)
    out = _core.sinkhorn_points(
        pb.x,
        pb.y,
        pb.a,
        pb.b,
        p=pb.p,
        schedule=pb.schedule,
        rho=pb.rho,
        max_iter=pb.max_iter,
        tol=pb.tol,
        dense=dense,
        want_cost=True,
        cluster_points=clusters,
    )
    costs = ("points", owned(pb.x, x), owned(pb.y, y), pb.p)
    return make_result(out, pb.epsilon, pb.tol, costs, pb.a, pb.b)


sinkhorn.__doc__ = sinkhorn.__doc__.replace("{notes}", _SINKHORN_NOTES)


@validate_params({**COST_PARAMETERS, "backend": SINKHORN_PARAMETERS["backend"]})
def sinkhorn_from_cost(
    cost: ArrayLike,
    a: ArrayLike | None = None,
    b: ArrayLike | None = None,
    *,
    epsilon: float,
    max_iter: int = 1000,
    tol: float = 1e-6,
    backend: Literal["auto", "online", "dense"] = "auto",
) -> SinkhornResult:
    r"""Entropic optimal transport between histograms for a given cost matrix.

    The log-domain counterpart of POT's ``ot.sinkhorn2(a, b, cost, epsilon)``: stable for
    any epsilon, with the same result at convergence. See :func:`sinkhorn` for the
    problem, the iterations and the result.

    Parameters
    ----------
    cost : array_like, shape (n, m)
        Finite cost matrix.
    a, b : array_like, shapes (n,), (m,), optional
        Non-negative histograms (default uniform), normalised to sum 1.
    epsilon : float
        Entropic regularisation, in units of the cost; at least 2^-40 times the largest
        cost (below, the costs' round-off decides the plan: ValueError). Costs beyond
        2^+-250 are solved divided by a power of two, with the same result.
    max_iter : int, default 1000
    tol : float, default 1e-6
        Tolerance on the L1 marginal residual.
    backend : {"auto", "online", "dense"}, default "auto"
        "online" computes exp(-C / epsilon) for every pair once per iteration (both
        potentials' sums from the same terms, except at the few iterations where the
        relaxation factor changes, or throughout with a zero weight in ``b``: those read
        a transposed copy of the cost matrix, made on first use); "dense" stores the Gibbs
        kernel with absorbed potentials (8 n m more bytes) and iterates in the kernel
        domain, as in :func:`sinkhorn`: one memory-bound pass over it per iteration,
        2 to 2.5 times as fast (n = m = 4,000, squared distances in the unit cube,
        epsilon = 0.01: 0.34 s against 0.82 s; 1e-3: 0.87 s against 1.79 s). "auto"
        picks "dense" when the kernel has at most
        ``DENSE_AUTO_MAX_ENTRIES // 2`` entries. Both give the same iterates up to
        round-off.

    Returns
    -------
    SinkhornResult

    References
    ----------
    Cuturi, M. (2013). Sinkhorn distances: lightspeed computation of optimal transport.
    NeurIPS. Peyre, G., Cuturi, M. (2019). Computational optimal transport, Section 4.4
    (log-domain iterations). Found. Trends Mach. Learn. 11(5-6).

    Examples
    --------
    >>> import divergent as dv
    >>> res = dv.ot.sinkhorn_from_cost([[0.0, 1.0], [1.0, 0.0]], epsilon=0.01)
    >>> round(res.cost, 6), res.converged
    (0.0, True)
    """
    c, a, b, eps_scaled, max_iter, tol, e = cost_inputs(cost, a, b, epsilon, max_iter, tol)
    # Unlike point clouds, a matrix gives the online path no truncation to win with: the
    # kernel was faster wherever it fit (rebuilds for drift stay rare even at epsilon =
    # 3e-5 of the costs' spread). Half the points' limit: the matrix is held twice more.
    dense = c.size <= DENSE_AUTO_MAX_ENTRIES // 2 if backend == "auto" else backend == "dense"
    out = _core.sinkhorn_matrix(
        c, a, b, schedule=[eps_scaled], rho=None, max_iter=max_iter, tol=tol, want_cost=True, dense=dense
    )
    return make_result(out, float(epsilon), tol, ("cost", owned(c, cost)), a, b, exponent=e)


@validate_params(SINKHORN_PARAMETERS)
def sinkhorn_divergence(
    x: ArrayLike,
    y: ArrayLike,
    *,
    a: ArrayLike | None = None,
    b: ArrayLike | None = None,
    epsilon: float = 0.05,
    p: float = 2,
    reach: float | None = None,
    max_iter: int = 1000,
    tol: float = 1e-6,
    scaling: float | None = None,
    backend: Literal["auto", "online", "dense"] = "auto",
) -> float:
    r"""Debiased Sinkhorn divergence between two point clouds.

    .. math::

        S_\varepsilon(a, b) = \mathrm{OT}_\varepsilon(a, b)
        - \tfrac12 \mathrm{OT}_\varepsilon(a, a) - \tfrac12 \mathrm{OT}_\varepsilon(b, b)
        + \tfrac{\varepsilon}{2} (m_a - m_b)^2,

    on the dual values (``SinkhornResult.value``); the last term (total masses m_a,
    m_b) only matters for unbalanced OT. S is 0 for a = b, non-negative and convex, and
    interpolates between MMD (large epsilon) and OT_0 (epsilon -> 0): for p = 2 it
    approaches W_2^2 with a bias O(epsilon^2) rather than the O(epsilon log 1/epsilon)
    of OT_eps. The self terms use the symmetric averaged update f <- (f + T(f)) / 2,
    which converges in a few iterations.

    Parameters
    ----------
    x, y, a, b, epsilon, p, reach, max_iter, tol, scaling, backend
        As in :func:`sinkhorn`.

    Returns
    -------
    float

    References
    ----------
    Feydy, J., Sejourne, T., Vialard, F.-X., Amari, S., Trouve, A., Peyre, G. (2019).
    Interpolating between optimal transport and MMD using Sinkhorn divergences. AISTATS.
    Sejourne, T., Feydy, J., Vialard, F.-X., Trouve, A., Peyre, G. (2019). Sinkhorn
    divergences for unbalanced optimal transport. arXiv:1910.12958.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> x = np.random.default_rng(0).random((500, 2))
    >>> round(dv.ot.sinkhorn_divergence(x, x + [0.5, 0.0], epsilon=0.01, scaling=0.7), 6)
    0.25
    """
    pb = sinkhorn_inputs(x, y, a, b, epsilon, p, reach, max_iter, tol, scaling)
    n, m = pb.x.shape[0], pb.y.shape[0]
    core = _core
    sizes = ((n, m), (n, n), (m, m))
    dense = [_use_dense(backend, *nm, pb) for nm in sizes]
    clusters = [_cluster_points(*nm, pb.schedule) for nm in sizes]
    outs = [
        core.sinkhorn_points(
            pb.x, pb.y, pb.a, pb.b, pb.p, pb.schedule, pb.rho, pb.max_iter, pb.tol, dense[0], False, clusters[0]
        ),
        core.sinkhorn_points_symmetric(
            pb.x, pb.a, pb.p, pb.schedule, pb.rho, pb.max_iter, pb.tol, dense[1], clusters[1]
        ),
        core.sinkhorn_points_symmetric(
            pb.y, pb.b, pb.p, pb.schedule, pb.rho, pb.max_iter, pb.tol, dense[2], clusters[2]
        ),
    ]
    return divergence_from(outs, pb)


def divergence_from(outs, pb: SinkhornProblem) -> float:
    """S_eps from the (x, y), (x, x) and (y, y) solver outputs; warns if one stopped early."""
    for out, what in zip(outs, ("OT(a, b)", "OT(a, a)", "OT(b, b)"), strict=True):
        if not out[4]:
            _warn_unconverged(f"Sinkhorn for {what}", out[2], out[3], pb.tol)
    mass_gap = pb.a.sum() - pb.b.sum()
    return float(outs[0][5] - 0.5 * outs[1][5] - 0.5 * outs[2][5] + 0.5 * pb.epsilon * mass_gap**2)
