"""NumPy references for divergent.ot: quantile functions evaluated on a merged grid for
the exact 1-D distances; dense log-domain Sinkhorn (max-shifted log-sum-exp), the same
iterations (epsilon schedule, over-relaxation rule, stopping rule) as the Rust solver;
exact OT as the transport linear program solved by SciPy's HiGHS."""

from __future__ import annotations

import numpy as np

from divergent._validation import as_samples, check_same_dim, check_weights, validate_params
from divergent.ot._emd import (
    EMD_PARAMETERS,
    WASSERSTEIN_PARAMETERS,
    _cost_matrix,
    _histogram,
    _result,
    _same_mass,
)
from divergent.ot._sinkhorn import (
    COST_PARAMETERS,
    SINKHORN_PARAMETERS,
    cost_inputs,
    cost_matrix,
    divergence_from,
    make_result,
    sinkhorn_inputs,
)
from divergent.ot._wasserstein import SLICED_PARAMETERS, WASSERSTEIN_P, _distance, sliced_inputs, wasserstein_1d_inputs

__all__ = [
    "sinkhorn",
    "sinkhorn_from_cost",
    "sinkhorn_divergence",
    "wasserstein_1d",
    "sliced_wasserstein",
    "emd",
    "emd2",
    "wasserstein",
]


def _wpp(u, v, p, uw, vw):
    """W_p^p as (scale, total), W_p^p = scale^p total: both quantile functions on the
    union of their breakpoints, evaluated at the midpoint of each interval (where both
    are constant); for p other than 1 and 2, scale is the largest |difference|."""
    n, m = len(u), len(v)
    uw = np.full(n, 1.0 / n) if uw is None else uw
    vw = np.full(m, 1.0 / m) if vw is None else vw
    iu, iv = np.argsort(u, kind="stable"), np.argsort(v, kind="stable")
    us, vs = u[iu], v[iv]
    cu, cv = np.cumsum(uw[iu]), np.cumsum(vw[iv])
    cu[-1] = cv[-1] = 1.0
    grid = np.unique(np.concatenate([[0.0], np.minimum(cu, 1.0), np.minimum(cv, 1.0)]))
    mid = 0.5 * (grid[1:] + grid[:-1])
    qu = us[np.minimum(np.searchsorted(cu, mid, side="left"), n - 1)]
    qv = vs[np.minimum(np.searchsorted(cv, mid, side="left"), m - 1)]
    gap = np.abs(qu - qv)
    scale = 1.0 if p in (1.0, 2.0) or gap.max() == 0 else float(gap.max())
    return scale, float(np.sum(np.diff(grid) * (gap / scale) ** p))


@validate_params({"p": WASSERSTEIN_P})
def wasserstein_1d(u, v, *, p=1, u_weights=None, v_weights=None) -> float:
    """Reference for :func:`divergent.ot.wasserstein_1d`."""
    u, v, p, uw, vw, e = wasserstein_1d_inputs(u, v, p, u_weights, v_weights)
    return _distance(*_wpp(u, v, p, uw, vw), p, e, "W_p")


@validate_params(SLICED_PARAMETERS)
def sliced_wasserstein(x, y, *, n_projections=200, p=2, seed=None) -> float:
    """Reference for :func:`divergent.ot.sliced_wasserstein` (same directions for a seed)."""
    x, y, p, directions, e = sliced_inputs(x, y, n_projections, p, seed)
    scales, totals = np.array([_wpp(x @ t, y @ t, p, None, None) for t in directions]).T
    top = scales.max()
    return _distance(top, np.mean((scales / top) ** p * totals), p, e, "SW")


# The over-relaxation rule of rust/core/src/ot/sinkhorn/overrelaxation.rs.
_RATE_AFTER, _RATE_WINDOW, _OMEGA_MAX, _GIVE_UP_GROWTH, _GIVE_UP_AFTER = 16, 8, 1.9, 10.0, 16
_PROBE_RATIO, _PROBE_GAP = 16.0, 4
# A rate this close to 1 is no measured contraction (RATE_NOISE there).
_RATE_NOISE = 1e-12


def _optimal_omega(theta):
    return min(2 / (1 + np.sqrt(1 - theta)), _OMEGA_MAX)


class _Overrelaxation:
    def __init__(self):
        self.errors, self.omega, self.at_switch, self.relaxed, self.gave_up = [], 1.0, 0.0, 0, False
        # The last iteration's relaxation, and the plain probes (see Overrelaxation::next).
        self.last, self.probing, self.ratio, self.since_probe = 1.0, None, None, 0

    def _window_rate(self):
        return (self.errors[-1] / self.errors[-1 - _RATE_WINDOW]) ** (1 / _RATE_WINDOW)

    def _retune(self, err):
        r = self._window_rate()
        if not (np.isfinite(r) and self.omega - 1 < r < 1 - _RATE_NOISE):
            return
        q = np.sqrt(r)
        rho = (r + self.omega - 1) / (q * self.omega)
        if rho * rho < 1 - _RATE_NOISE:
            omega = _optimal_omega(rho * rho)
            if omega > self.omega + 0.01:
                self.omega, self.at_switch, self.relaxed = omega, err, 0

    def next(self, err, tol):
        if self.probing is not None:
            self.ratio, self.probing, self.since_probe = self.probing / err, None, 0
            self.last = max(self.omega, 1.0)
            return self.last
        self.last = self._step(err, tol)
        if self.last > 1.0:
            self.since_probe += 1
            ratio = _PROBE_RATIO if self.ratio is None else self.ratio
            due = self.ratio is None or self.since_probe >= _PROBE_GAP
            if due and np.isfinite(err) and err <= ratio * tol:
                self.probing, self.last = err, 1.0
        return self.last

    def _step(self, err, tol):
        self.errors.append(err)
        if self.gave_up or not np.isfinite(err):
            self.omega = 1.0
        elif self.omega > 1.0:
            self.relaxed += 1
            checkpoint = self.relaxed >= _GIVE_UP_AFTER and self.relaxed % _RATE_WINDOW == 0
            stalled = checkpoint and err >= self.errors[-1 - _RATE_WINDOW] * (1 - _RATE_NOISE)
            if stalled or err > _GIVE_UP_GROWTH * self.at_switch:
                self.gave_up, self.omega = True, 1.0
            elif err <= tol:
                self.omega = 1.0
            elif checkpoint:
                self._retune(err)
        elif len(self.errors) == _RATE_AFTER + 1 and err > tol:
            theta = self._window_rate()
            if np.isfinite(theta) and 0 < theta < 1 - _RATE_NOISE:
                self.omega = _optimal_omega(theta)
                self.at_switch = err
        self.omega = max(self.omega, 1.0)
        return self.omega


def _logw(w):
    with np.errstate(divide="ignore"):
        return np.log(w)


def _logsumexp_rows(e):
    """log sum_j exp(e_ij) per row, shifted by the row maximum (finite, since every row
    has a finite entry: some weight is positive)."""
    m = e.max(axis=1)
    return m + np.log(np.exp(e - m[:, None]).sum(axis=1))


def _softmin(c, lw, h, eps):
    """-eps log sum_j exp(lw_j + (h_j - c_ij) / eps) for every row i of c."""
    return -eps * _logsumexp_rows(lw[None, :] + (h[None, :] - c) / eps)


def _residual(a, f, s, eps, rho):
    rows = np.where(a > 0, a * np.exp((f - s) / eps), 0.0)
    target = a if rho is None else a * np.exp(-f / rho)
    return float(np.abs(rows - target).sum()), float(rows.sum())


def _dual(a, f, b, g, eps, rho, mass):
    if rho is None:
        return float(a @ f + b @ g)
    term = lambda w, h: float(np.sum(-w * rho * np.expm1(-h / rho)))  # noqa: E731
    return term(a, f) + term(b, g) - eps * (mass - a.sum() * b.sum())


def _solve(c, a, b, schedule, rho, max_iter, tol, want_cost):
    la, lb = _logw(a), _logw(b)
    f, g = np.zeros(len(a)), np.zeros(len(b))
    n_iter = final_iters = 0
    err, mass = np.inf, np.nan
    relax = _Overrelaxation()
    for stage, eps in enumerate(schedule):
        last = stage + 1 == len(schedule)
        lam = 1.0 if rho is None else rho / (rho + eps)
        while True:
            sf = _softmin(c, lb, g, eps)
            omega = 1.0
            if last and final_iters > 0:
                err, mass = _residual(a, f, sf, eps, rho)
                if n_iter >= max_iter or (err <= tol and relax.last <= 1.0):
                    break
                omega = relax.next(err, tol)
                if n_iter + 1 >= max_iter:
                    omega = 1.0  # the last iteration is plain: exact column marginal
            f = lam * sf if omega == 1.0 else (1 - omega) * f + omega * (lam * sf)
            sg = _softmin(c.T, la, f, eps)
            g = lam * sg if omega == 1.0 else (1 - omega) * g + omega * (lam * sg)
            n_iter += 1
            if not last:
                break
            final_iters += 1
    eps = schedule[-1]
    cost = np.nan
    if want_cost:
        plan = np.exp(la[:, None] + lb[None, :] + (f[:, None] + g[None, :] - c) / eps)
        cost = float(np.sum(plan * c))
    value = _dual(a, f, b, g, eps, rho, mass)
    return f, g, n_iter, err, err <= tol, value, cost, mass


def _solve_symmetric(c, a, schedule, rho, max_iter, tol):
    la = _logw(a)
    f = np.zeros(len(a))
    n_iter = final_iters = 0
    err, mass = np.inf, np.nan
    for stage, eps in enumerate(schedule):
        last = stage + 1 == len(schedule)
        lam = 1.0 if rho is None else rho / (rho + eps)
        while True:
            sf = _softmin(c, la, f, eps)
            if last and final_iters > 0:
                err, mass = _residual(a, f, sf, eps, rho)
                if err <= tol or n_iter >= max_iter:
                    break
            f = lam * sf if n_iter == 0 else 0.5 * (f + lam * sf)
            n_iter += 1
            if not last:
                break
            final_iters += 1
    value = _dual(a, f, a, f, schedule[-1], rho, mass)
    return f, f.copy(), n_iter, err, err <= tol, value, np.nan, mass


@validate_params(SINKHORN_PARAMETERS)
def sinkhorn(
    x, y, *, a=None, b=None, epsilon=0.05, p=2, reach=None, max_iter=1000, tol=1e-6, scaling=None, backend="auto"
):
    """Reference for :func:`divergent.ot.sinkhorn` (dense cost matrix whatever the backend)."""
    pb = sinkhorn_inputs(x, y, a, b, epsilon, p, reach, max_iter, tol, scaling)
    c = cost_matrix(pb.x, pb.y, pb.p)
    out = _solve(c, pb.a, pb.b, pb.schedule, pb.rho, pb.max_iter, pb.tol, True)
    return make_result(out, pb.epsilon, pb.tol, ("cost", c), pb.a, pb.b)


@validate_params(COST_PARAMETERS)
def sinkhorn_from_cost(cost, a=None, b=None, *, epsilon, max_iter=1000, tol=1e-6):
    """Reference for :func:`divergent.ot.sinkhorn_from_cost`."""
    c, a, b, eps_scaled, max_iter, tol, e = cost_inputs(cost, a, b, epsilon, max_iter, tol)
    out = _solve(c, a, b, [eps_scaled], None, max_iter, tol, True)
    return make_result(out, float(epsilon), tol, ("cost", c.copy()), a, b, exponent=e)


@validate_params(SINKHORN_PARAMETERS)
def sinkhorn_divergence(
    x, y, *, a=None, b=None, epsilon=0.05, p=2, reach=None, max_iter=1000, tol=1e-6, scaling=None, backend="auto"
):
    """Reference for :func:`divergent.ot.sinkhorn_divergence`."""
    pb = sinkhorn_inputs(x, y, a, b, epsilon, p, reach, max_iter, tol, scaling)
    args = (pb.schedule, pb.rho, pb.max_iter, pb.tol)
    outs = [
        _solve(cost_matrix(pb.x, pb.y, pb.p), pb.a, pb.b, *args, False),
        _solve_symmetric(cost_matrix(pb.x, pb.x, pb.p), pb.a, *args),
        _solve_symmetric(cost_matrix(pb.y, pb.y, pb.p), pb.b, *args),
    ]
    return divergence_from(outs, pb)


@validate_params(EMD_PARAMETERS)
def emd(a, b, M, max_iter=10**7):
    """Reference for :func:`divergent.ot.emd`: the transport LP (n m variables, n + m
    equality constraints) by ``scipy.optimize.linprog(method="highs")``; the duals are
    the equality constraints' marginals. ``max_iter`` bounds HiGHS's iterations."""
    from scipy import sparse
    from scipy.optimize import linprog

    c = _cost_matrix(M)
    n, m = c.shape
    a = _histogram(a, n, "a", "one mass per row of M")
    b = _same_mass(a, _histogram(b, m, "b", "one mass per column of M"))
    rows = sparse.kron(sparse.eye(n), np.ones((1, m)))
    cols = sparse.kron(np.ones((1, n)), sparse.eye(m))
    lp = linprog(
        c.ravel(),
        A_eq=sparse.vstack([rows, cols]).tocsr(),
        b_eq=np.concatenate([a, b]),
        bounds=(0, None),
        method="highs",
        options={"maxiter": max_iter},
    )
    if lp.x is None:
        raise RuntimeError(f"linprog failed: {lp.message}")
    plan = lp.x.reshape(n, m)
    i, j = np.nonzero(plan > 0)
    duals = lp.eqlin.marginals
    out = (float(c.ravel() @ lp.x), i, j, plan[i, j], duals[:n], duals[n:], lp.nit, lp.status == 0)
    return _result(out, a, b, (n, m))


@validate_params(EMD_PARAMETERS)
def emd2(a, b, M, max_iter=10**7):
    """Reference for :func:`divergent.ot.emd2`."""
    return emd(a, b, M, max_iter=max_iter).cost


@validate_params(WASSERSTEIN_PARAMETERS)
def wasserstein(x, y, p=2, a=None, b=None):
    """Reference for :func:`divergent.ot.wasserstein`: the dense cost matrix by NumPy
    broadcasting, then the LP of :func:`emd`."""
    x, y = as_samples(x, "x"), as_samples(y, "y")
    check_same_dim(x, y)
    n, m = x.shape[0], y.shape[0]
    a = np.full(n, 1.0 / n) if a is None else check_weights(a, n, "a")
    b = np.full(m, 1.0 / m) if b is None else check_weights(b, m, "b")
    dist = np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))
    scale = dist.max()
    if scale == 0:
        return 0.0
    return scale * emd2(a, b, (dist / scale) ** p) ** (1.0 / p)
