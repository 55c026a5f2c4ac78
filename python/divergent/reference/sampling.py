"""NumPy references for the samplers: targets, ULA / MALA / underdamped Langevin, SVGD.

Vectorised over chains (one array operation per step for all chains), as a careful NumPy
user would write them. With ``noise="replay"`` they consume exactly the random numbers
the Rust samplers draw (each chain's normal and uniform streams, obtained from
``divergent._core.chain_draws``), so the two agree to round-off; with the default
``noise="numpy"`` they draw from a NumPy generator and agree in distribution only (this
is the fair baseline for timing, as the replay buffer is precomputed).
"""

from __future__ import annotations

import math

import numpy as np

from divergent import _core, targets
from divergent._validation import ARRAY, Options, validate_params
from divergent.reference.kernel import median_bandwidth
from divergent.sampling import (
    LANGEVIN_PARAMETERS,
    METHODS,
    METRICS,
    SVGD_PARAMETERS,
    Trace,
    _langevin_inputs,
    _run_svgd,
)

__all__ = [
    "Gaussian",
    "GaussianMixture",
    "Banana",
    "Funnel",
    "LogisticRegression",
    "langevin",
    "svgd",
    "svgd_direction",
]

_LN_2PI = math.log(2.0 * math.pi)


class _NumpyTarget:
    """Mixin: evaluate the log-density and gradient in NumPy instead of the Rust core.

    The reference targets subclass the public ones (same parameters, same validation)
    and replace only the evaluation.
    """

    def _spec(self):  # not a Rust target
        return None


class Gaussian(_NumpyTarget, targets.Gaussian):
    """NumPy version of :class:`divergent.targets.Gaussian`."""

    def _eval(self, x):
        r = x - self.mean
        g = -(r @ self.precision)
        return self.log_const + 0.5 * np.einsum("ij,ij->i", r, g), g


class GaussianMixture(_NumpyTarget, targets.GaussianMixture):
    """NumPy version of :class:`divergent.targets.GaussianMixture`."""

    def _eval(self, x):
        ls, gs = [], []
        for m, P, c in zip(self._means, self._precisions, self._consts, strict=True):
            r = x - m
            g = -(r @ P)
            ls.append(c + 0.5 * np.einsum("ij,ij->i", r, g))
            gs.append(g)
        L = np.stack(ls, axis=1)
        top = L.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(L - top).sum(axis=1))
        resp = np.exp(L - lse[:, None])
        return lse, np.einsum("ik,kij->ij", resp, np.stack(gs))


class Banana(_NumpyTarget, targets.Banana):
    """NumPy version of :class:`divergent.targets.Banana`."""

    def _eval(self, x):
        s2, b = self.sigma**2, self.b
        t = x[:, 1] + b * x[:, 0] ** 2 - b * s2
        ss = x[:, 0] ** 2 / s2 + t**2 + (x[:, 2:] ** 2).sum(axis=1)
        g = -x.copy()
        g[:, 0] = -x[:, 0] / s2 - 2 * b * x[:, 0] * t
        g[:, 1] = -t
        return -0.5 * self.dim * _LN_2PI - math.log(self.sigma) - 0.5 * ss, g


class Funnel(_NumpyTarget, targets.Funnel):
    """NumPy version of :class:`divergent.targets.Funnel`."""

    def _eval(self, x):
        v, rest = x[:, 0], x[:, 1:]
        m, s2 = self.dim - 1, self.scale**2
        prec = np.exp(-v)
        ss = (rest**2).sum(axis=1)
        g = np.empty_like(x)
        g[:, 0] = -v / s2 - 0.5 * m + 0.5 * ss * prec
        g[:, 1:] = -rest * prec[:, None]
        lp = -0.5 * self.dim * _LN_2PI - math.log(self.scale) - 0.5 * v**2 / s2 - 0.5 * m * v - 0.5 * ss * prec
        return lp, g


class LogisticRegression(_NumpyTarget, targets.LogisticRegression):
    """NumPy version of :class:`divergent.targets.LogisticRegression` (scipy's stable
    log-sigmoid and expit)."""

    def _eval(self, b):
        from scipy.special import expit, log_expit

        z = b @ self.X.T
        s2 = self.prior_scale**2
        loglik = (self.y * log_expit(z) + (1 - self.y) * log_expit(-z)).sum(axis=1)
        prior = -0.5 * (b * b).sum(axis=1) / s2 - self.dim * (math.log(self.prior_scale) + 0.5 * math.log(2 * math.pi))
        return loglik + prior, (self.y - expit(z)) @ self.X - b / s2


class _Replay:
    """The Rust samplers' per-chain streams, precomputed (for tests; memory O(chains x steps x d))."""

    def __init__(self, seed, n_chains, n_normals, n_uniforms):
        self.z = _core.chain_draws(seed, n_chains, n_normals, "normal")
        self.u = _core.chain_draws(seed, n_chains, n_uniforms, "uniform")
        self.iz = self.iu = 0

    def normal(self, d):
        out = self.z[:, self.iz : self.iz + d]
        self.iz += d
        return out

    def uniform(self):
        out = self.u[:, self.iu]
        self.iu += 1
        return out


class _Numpy:
    def __init__(self, seed, n_chains):
        self.rng, self.c = np.random.default_rng(seed), n_chains

    def normal(self, d):
        return self.rng.standard_normal((self.c, d))

    def uniform(self):
        return self.rng.random(self.c)


def _check(lp, g, step, allow_neg_inf):
    bad = np.isnan(lp) | (lp == np.inf) | ((lp == -np.inf) & (not allow_neg_inf))
    bad |= np.isfinite(lp) & ~np.isfinite(g).all(axis=1)
    if bad.any():
        raise ValueError(f"the target returned a non-finite value for chain {int(np.argmax(bad))} at step {step}")


def _window_ends(burn_in):
    """The ends of the metric windows in burn-in (the core's ``metric::window_ends``) and
    the last iteration of the first buffer."""
    if burn_in >= 150:
        first, last, base = 75, 50, 25
    else:
        first, last = int(0.15 * burn_in), int(0.1 * burn_in)
        base = burn_in - first - last
    stop, ends, start, size = burn_in - last, [], first, max(base, 1)
    while start < stop:
        end = start + size
        if end + 2 * size > stop:
            end = stop
        ends.append(end)
        start, size = end, 2 * size
    return ends, first


class _Warmup:
    """The pooled-chain metric estimate of burn-in, window by window (Stan's regularisation)."""

    def __init__(self, adapt, burn_in):
        self.adapt = adapt
        self.ends, self.first = _window_ends(burn_in) if adapt else ([], 0)
        self.rows = []

    def observe(self, step, x):
        if not self.ends:
            return None
        if step > self.first:
            self.rows.append(x.copy())
        if step not in self.ends:
            return None
        pooled = np.concatenate(self.rows)
        self.rows = []
        n = pooled.shape[0]
        w, ridge = n / (n + 5.0), 1e-3 * 5.0 / (n + 5.0)
        if self.adapt == "dense":
            return w * np.cov(pooled, rowvar=False) + ridge * np.eye(x.shape[1])
        return w * pooled.var(axis=0, ddof=1) + ridge


class _Metric:
    """M^-1 (the metric) as a (d,) diagonal or (d, d) matrix, with C (C C' = M^-1)."""

    def __init__(self, m, d):
        self.identity = m is None
        self.m = np.ones(d) if m is None else np.asarray(m, dtype=np.float64)
        self.dense = self.m.ndim == 2
        self.c = np.linalg.cholesky(self.m) if self.dense else np.sqrt(self.m)

    def times(self, v):  # M^-1 v for rows v
        return v @ self.m if self.dense else v * self.m

    def scale(self, z):  # C z for rows z
        return z @ self.c.T if self.dense else z * self.c

    def momentum(self, z):  # C^-T z for rows z
        if self.dense:
            from scipy.linalg import solve_triangular

            return solve_triangular(self.c.T, z.T, lower=False).T
        return z / self.c


@validate_params(
    {
        **{k: v for k, v in LANGEVIN_PARAMETERS.items() if k != "progress"},
        "metric": (Options(METRICS), ARRAY),
        "noise": Options(("numpy", "replay")),
    }
)
def langevin(
    target,
    *,
    n_chains=4,
    n_steps=1000,
    step_size,
    method="mala",
    x0=None,
    friction=1.0,
    burn_in=0,
    thin=1,
    seed=None,
    adapt_step_size=False,
    metric="identity",
    noise="numpy",
) -> Trace:
    """Reference for :func:`divergent.sampling.langevin`; ``noise="replay"`` reproduces it."""
    (method, c, n_steps, h0, x0, gamma, burn_in, thin, seed, metric) = _langevin_inputs(
        target, n_chains, n_steps, step_size, method, x0, friction, burn_in, thin, seed, adapt_step_size, metric
    )
    assert method in METHODS
    diag, dense, adapt_metric = metric
    given = diag if diag is not None else dense
    pre = given is not None or adapt_metric is not None
    warmup = _Warmup(adapt_metric, burn_in)
    mass = _Metric(given, target.dim)
    d, total = target.dim, burn_in + n_steps
    if noise == "replay":
        n_normals = total * d + (d if x0 is None else 0) + (d if method == "underdamped" else 0)
        rng = _Replay(seed, c, n_normals, total if method == "mala" else 0)
    else:
        rng = _Numpy(seed, c)
    x = rng.normal(d).copy() if x0 is None else np.array(x0)
    lp, g = target.logp_and_grad(x)
    _check(lp, g, 0, False)
    h = np.full(c, h0)
    log_h = np.log(h)
    v = None
    if method == "underdamped":
        v = rng.normal(d).copy()
        v = mass.momentum(v) if pre else v
    pg = mass.times(g) if pre else None
    accepted = np.zeros(c, dtype=np.int64)
    n_draws = n_steps // thin
    samples, logps = np.empty((c, n_draws, d)), np.empty((c, n_draws))
    draw, rm_start = 0, 0
    for step in range(1, total + 1):
        burning = step <= burn_in
        if method in ("ula", "mala"):
            xi = rng.normal(d)
            log_u = np.log(rng.uniform()) if method == "mala" else None
            if pre:
                y = x + h[:, None] * pg + np.sqrt(2 * h)[:, None] * mass.scale(xi)
            else:
                y = x + h[:, None] * g + np.sqrt(2 * h)[:, None] * xi
            lpy, gy = target.logp_and_grad(y)
            _check(lpy, gy, step, method == "mala")
            pgy = mass.times(gy) if pre else None
            if method == "mala":
                with np.errstate(invalid="ignore"):
                    if pre:
                        a, sg = y - x - h[:, None] * pg, g + gy
                        ratio = lpy - lp - 0.5 * (a * sg).sum(axis=1) - 0.25 * h * (sg * (pg + pgy)).sum(axis=1)
                    else:
                        fwd = ((y - x - h[:, None] * g) ** 2).sum(axis=1)
                        bwd = ((x - y - h[:, None] * gy) ** 2).sum(axis=1)
                        ratio = lpy - lp + (fwd - bwd) / (4 * h)
                    log_alpha = np.where(lpy == -np.inf, -np.inf, ratio)
                accept = log_u < log_alpha
                if adapt_step_size and burning:
                    alpha = np.where(log_alpha >= 0, 1.0, np.exp(np.minimum(log_alpha, 0.0)))
                    log_h = np.clip(log_h + (step - rm_start) ** -0.6 * (alpha - 0.574), -60.0, 20.0)
            else:
                accept = np.ones(c, dtype=bool)
            x = np.where(accept[:, None], y, x)
            g = np.where(accept[:, None], gy, g)
            if pre:
                pg = np.where(accept[:, None], pgy, pg)
            lp = np.where(accept, lpy, lp)
            if adapt_step_size and burning:
                h = np.exp(log_h)
        else:
            c1 = np.exp(-gamma * h)
            c2 = np.sqrt(-np.expm1(-2 * gamma * h))
            xi = rng.normal(d)
            v = v + 0.5 * h[:, None] * g
            if pre:
                x = x + 0.5 * h[:, None] * mass.times(v)
                v = c1[:, None] * v + c2[:, None] * mass.momentum(xi)
                x = x + 0.5 * h[:, None] * mass.times(v)
            else:
                x = x + 0.5 * h[:, None] * v
                v = c1[:, None] * v + c2[:, None] * xi
                x = x + 0.5 * h[:, None] * v
            lp, g = target.logp_and_grad(x)
            _check(lp, g, step, False)
            v = v + 0.5 * h[:, None] * g
            accept = np.ones(c, dtype=bool)
        if burning:
            estimate = warmup.observe(step, x)
            if estimate is not None:
                mass, rm_start = _Metric(estimate, d), step
                pg = mass.times(g)
        if not burning:
            accepted += accept
            if (step - burn_in) % thin == 0 and draw < n_draws:
                samples[:, draw], logps[:, draw] = x, lp
                draw += 1
    used = None if mass.identity else mass.m
    return Trace(
        samples=samples,
        logp=logps,
        acceptance_rate=accepted / n_steps,
        step_size=h,
        method=method,
        seed=seed,
        metric=used,
    )


def svgd_direction(x, score, bandwidth) -> np.ndarray:
    """phi(x_i) = (1/n) sum_j [k(x_j, x_i) s_j + (x_i - x_j) k(x_j, x_i) / h^2], dense."""
    x, score = np.asarray(x, dtype=np.float64), np.asarray(score, dtype=np.float64)
    diff = x[:, None, :] - x[None, :, :]
    K = np.exp(-(diff**2).sum(axis=2) / (2 * bandwidth**2))
    return (K @ score + (K[:, :, None] * diff).sum(axis=1) / bandwidth**2) / x.shape[0]


@validate_params(SVGD_PARAMETERS)
def svgd(score, particles, *, n_steps=500, step_size=0.1, bandwidth="median") -> np.ndarray:
    """Reference for :func:`divergent.sampling.svgd` (dense n x n kernel per step)."""
    return _run_svgd(score, particles, n_steps, step_size, bandwidth, svgd_direction, median_bandwidth)
