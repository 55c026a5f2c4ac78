"""NumPy references for the samplers: targets, ULA / MALA / underdamped Langevin, HMC,
tempered SMC, SVGD.

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
    HMC_PARAMETERS,
    HMC_TARGET_ACCEPT,
    LANGEVIN_PARAMETERS,
    METHODS,
    METRICS,
    SMC_PARAMETERS,
    SVGD_PARAMETERS,
    SMCResult,
    Trace,
    _hmc_inputs,
    _langevin_inputs,
    _run_svgd,
    _smc_reference,
    _u64_seed,
)

__all__ = [
    "Gaussian",
    "GaussianMixture",
    "Banana",
    "Funnel",
    "LogisticRegression",
    "hmc",
    "langevin",
    "smc",
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
        if n < 2:
            return None
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


class _Stream:
    """One kind of stream ("normal", "uniform") of chains first .. first + n, drawn on
    demand; for runs whose number of draws is not known in advance (SMC)."""

    def __init__(self, seed, n, kind, first=0):
        self.args, self.buf, self.i = (seed, n, kind, first), np.empty((n, 0)), 0

    def take(self, k):
        if self.i + k > self.buf.shape[1]:
            seed, n, kind, first = self.args
            count = max(2 * self.buf.shape[1], self.i + k, 64)
            self.buf = _core.chain_draws(seed, n, count, kind, first=first)
        out = self.buf[:, self.i : self.i + k]
        self.i += k
        return out


class _Chees:
    """ChEES adaptation of the trajectory length, as the core's (Adam, beta1 = 0,
    beta2 = 0.95, rate 0.025, on log T; the average of the iterates after burn-in)."""

    def __init__(self, t):
        self.log_t = self.log_t_bar = math.log(t)
        self.second, self.n = 0.0, 0.0

    def n_leapfrog(self, h, u):
        most = min(max(math.exp(self.log_t) / h, 1.0), 1000.0)
        return min(1 + int(u * most), 1000) if u is not None else max(round(most), 1)

    def update(self, x, xp, v, a, t):
        a_sum = a.sum()
        if not a_sum > 0:
            return
        live = a > 0
        m = x.mean(axis=0)
        mp = (a[live, None] * xp[live]).sum(axis=0) / a_sum
        c, cp = x[live] - m, xp[live] - mp
        terms = t * ((cp * cp).sum(axis=1) - (c * c).sum(axis=1)) * (cp * v[live]).sum(axis=1)
        grad = (a[live] * terms).sum() / a_sum
        if not np.isfinite(grad):
            return
        self.n += 1.0
        self.second = 0.95 * self.second + 0.05 * grad * grad
        scale = math.sqrt(self.second / (1.0 - 0.95**self.n))
        if scale > 0:
            self.log_t = min(max(self.log_t + 0.025 * grad / scale, -30.0), 30.0)
        w = self.n**-0.75
        self.log_t_bar = w * self.log_t + (1 - w) * self.log_t_bar


class _DualAveraging:
    """Dual averaging of log h (Hoffman & Gelman 2014, Algorithm 5), as the core's."""

    def __init__(self, h):
        self.mu, self.t, self.h_bar = math.log(10 * h), 0.0, 0.0
        self.log_h = self.log_h_bar = math.log(h)

    def update(self, accept, target):
        self.t += 1.0
        eta = 1.0 / (self.t + 10.0)
        self.h_bar = (1 - eta) * self.h_bar + eta * (target - accept)
        self.log_h = min(max(self.mu - math.sqrt(self.t) / 0.05 * self.h_bar, -60.0), 20.0)
        w = self.t**-0.75
        self.log_h_bar = w * self.log_h + (1 - w) * self.log_h_bar
        return math.exp(self.log_h)


@validate_params(
    {
        **{k: v for k, v in HMC_PARAMETERS.items() if k != "progress"},
        "metric": (Options(METRICS), ARRAY),
        "noise": Options(("numpy", "replay")),
    }
)
def hmc(
    target,
    *,
    n_chains=4,
    n_steps=1000,
    step_size,
    n_leapfrog=10,
    jitter=True,
    metric="identity",
    burn_in=0,
    adapt_step_size=False,
    adapt_trajectory=False,
    x0=None,
    thin=1,
    seed=None,
    noise="numpy",
) -> Trace:
    """Reference for :func:`divergent.sampling.hmc`; ``noise="replay"`` reproduces it."""
    diag, dense, adapt_metric, x0, seed = _hmc_inputs(
        target, n_chains, n_steps, burn_in, thin, adapt_step_size, metric, x0, seed, adapt_trajectory
    )
    c, d, total = n_chains, target.dim, burn_in + n_steps
    if noise == "replay":
        rng = _Replay(seed, c, total * d + (d if x0 is None else 0), total)
        # The path lengths' stream: the uniforms of chain index 2^63 - 1.
        lengths = _core.chain_draws(seed, 1, total if jitter else 0, "uniform", first=2**63 - 1)[0]
    else:
        rng = _Numpy(seed, c)
        lengths = rng.rng.random(total)
    x = rng.normal(d).copy() if x0 is None else np.array(x0)
    lp, g = target.logp_and_grad(x)
    _check(lp, g, 0, False)
    mass = _Metric(diag if diag is not None else dense, d)
    warmup = _Warmup(adapt_metric, burn_in)
    h = step_size
    averaging = _DualAveraging(h)
    chees = _Chees(step_size * n_leapfrog) if adapt_trajectory else None
    n_draws = n_steps // thin
    samples = np.empty((c, n_draws, d))
    logps, accepts, energies = np.empty((c, n_draws)), np.empty((c, n_draws)), np.empty((c, n_draws))
    divergings, n_ls = np.empty((c, n_draws), dtype=bool), []
    draw = 0
    for step in range(1, total + 1):
        burning = step <= burn_in
        if chees is not None:
            n_l = chees.n_leapfrog(h, lengths[step - 1] if jitter else None)
        else:
            n_l = 1 + min(int(lengths[step - 1] * n_leapfrog), n_leapfrog - 1) if jitter else n_leapfrog
        p = mass.momentum(rng.normal(d))
        h0 = -lp + 0.5 * (p * mass.times(p)).sum(axis=1)
        xs, gs, lp0, lp_path = x, g, lp, lp.copy()
        dead = np.zeros(c, dtype=bool)
        p = p + 0.5 * h * g
        for ell in range(n_l):
            x = np.where(dead[:, None], x, x + h * mass.times(p))
            # A trajectory may leave the target's domain: evaluated unchecked, it ends there.
            with np.errstate(all="ignore"):
                lp_new, g = target._eval(x)
            out = ~dead & ~(np.isfinite(lp_new) & np.isfinite(g).all(axis=1))
            dead |= out
            x = np.where(out[:, None], xs, x)
            lp_path = np.where(dead, lp_path, lp_new)
            kick = 0.5 * h if ell + 1 == n_l else h
            p = np.where(dead[:, None], p, p + kick * g)
        u = rng.uniform()
        with np.errstate(invalid="ignore", over="ignore"):
            h1 = np.where(dead, np.inf, -lp_path + 0.5 * (p * mass.times(p)).sum(axis=1))
            error = h1 - h0
            diverging = dead | np.isnan(error) | (error > 1000.0)
            accept = np.where(diverging, 0.0, np.minimum(np.exp(-error), 1.0))
        take = ~diverging & (u < accept)
        energy = np.where(take, h1, h0)
        if burning and chees is not None:
            chees.update(xs, x, mass.times(p), accept, n_l * h)
            if step == burn_in:
                chees.log_t = chees.log_t_bar
        x, g, lp = np.where(take[:, None], x, xs), np.where(take[:, None], g, gs), np.where(take, lp_path, lp0)
        if burning:
            estimate = warmup.observe(step, x)
            if estimate is not None:
                mass, averaging = _Metric(estimate, d), _DualAveraging(h)
            if adapt_step_size:
                h = averaging.update(accept.mean(), HMC_TARGET_ACCEPT)
                if step == burn_in:
                    h = math.exp(averaging.log_h_bar)
        elif (step - burn_in) % thin == 0 and draw < n_draws:
            samples[:, draw], logps[:, draw], accepts[:, draw] = x, lp, accept
            energies[:, draw], divergings[:, draw] = energy, diverging
            n_ls.append(n_l)
            draw += 1
    stats = {
        "acceptance_rate": accepts,
        "diverging": divergings,
        "energy": energies,
        "n_steps": np.broadcast_to(np.array(n_ls, dtype=np.int64)[None, :], logps.shape),
    }
    return Trace(
        samples=samples,
        logp=logps,
        acceptance_rate=accepts.mean(axis=1),
        step_size=np.full(c, h),
        method="hmc",
        seed=seed,
        sample_stats=stats,
        metric=None if mass.identity else mass.m,
        trajectory_length=step_size * n_leapfrog if chees is None else math.exp(chees.log_t),
    )


def _log_sum_exp(v):
    m = v.max()
    return m if m == -np.inf else m + math.log(np.exp(v - m).sum())


def _ess(log_w):
    m = log_w.max()
    if m == -np.inf:
        return 0.0
    w = np.exp(log_w - m)
    return w.sum() ** 2 / (w * w).sum()


def _reweighted(log_w, lt, lr, db):
    with np.errstate(invalid="ignore"):
        return np.where(lt == -np.inf, -np.inf, log_w + db * (lt - lr))


def _next_temperature(log_w, lt, lr, b, threshold):
    """The core's bisection for the next temperature, step for step."""
    target = threshold * len(log_w)
    if _ess(_reweighted(log_w, lt, lr, 1.0 - b)) >= target:
        return 1.0
    lo, hi = b, 1.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if _ess(_reweighted(log_w, lt, lr, mid - b)) >= target:
            lo = mid
        else:
            hi = mid
    return lo if lo > b else hi


def _smc_hmc_move(target, ref_eval, normals, uniforms, b, h, m, x, gt, gr, lt, lr):
    """The core's HMC move of smc (5 leapfrog steps, inverse mass diag(m)); returns the
    new state and the mean acceptance probability."""
    n = x.shape[0]
    scale = np.sqrt(m)
    p = normals.take(x.shape[1]) / scale
    e0 = -((1.0 - b) * lr + b * lt) + 0.5 * (p * p * m).sum(axis=1)
    dead = lt == -np.inf
    y, lry, lty = x.copy(), lr.copy(), lt.copy()
    gty, gry = gt.copy(), gr.copy()
    p = p + 0.5 * h * ((1.0 - b) * gr + b * gt)
    for ell in range(5):
        y = np.where(dead[:, None], y, y + h * m * p)
        with np.errstate(all="ignore"):
            lt_new, g_new = target._eval(y)
        out = ~dead & ~(np.isfinite(lt_new) & np.isfinite(g_new).all(axis=1))
        dead |= out
        lr_new, gr_new = ref_eval(y)
        live = ~dead
        lty, lry = np.where(live, lt_new, lty), np.where(live, lr_new, lry)
        gty, gry = np.where(live[:, None], g_new, gty), np.where(live[:, None], gr_new, gry)
        kick = 0.5 * h if ell == 4 else h
        p = np.where(live[:, None], p + kick * ((1.0 - b) * gry + b * gty), p)
    log_u = np.log(uniforms.take(1)[:, 0])
    with np.errstate(invalid="ignore", over="ignore"):
        log_alpha = e0 - (-((1.0 - b) * lry + b * lty) + 0.5 * (p * p * m).sum(axis=1))
        alpha = np.where(dead | np.isnan(log_alpha), 0.0, np.exp(np.minimum(log_alpha, 0.0)))
    move = ~dead & (log_u < log_alpha)
    x, gt, gr = (np.where(move[:, None], new, old) for new, old in ((y, x), (gty, gt), (gry, gr)))
    lt, lr = np.where(move, lty, lt), np.where(move, lry, lr)
    return x, gt, gr, lt, lr, alpha.sum() / n


@validate_params({k: v for k, v in SMC_PARAMETERS.items() if k != "progress"})
def smc(
    target, *, n_particles=2048, reference=None, kernel="mala", n_mcmc_steps=5, ess_threshold=0.5, seed=None
) -> SMCResult:
    """Reference for :func:`divergent.sampling.smc`, replaying the core's streams: the
    same particles, weights and log-evidence to round-off."""
    from scipy.linalg import solve_triangular

    mean, cov = _smc_reference(target, reference)
    seed, n, d = _u64_seed(seed), n_particles, target.dim
    chol = None if cov is None else np.linalg.cholesky(cov)
    log_norm = -(0.0 if chol is None else np.log(np.diag(chol)).sum()) - 0.5 * d * _LN_2PI

    def ref_eval(x):
        r = x - mean
        if chol is None:
            return log_norm - 0.5 * (r * r).sum(axis=1), -r
        z = solve_triangular(chol, r.T, lower=True)
        return log_norm - 0.5 * (z * z).sum(axis=0), -solve_triangular(chol.T, z, lower=False).T

    normals, uniforms = _Stream(seed, n, "normal"), _Stream(seed, n, "uniform")
    resampling = _Stream(seed, 1, "uniform", first=n)
    z = normals.take(d)
    x = mean + (z if chol is None else z @ chol.T)
    lt, gt = target.logp_and_grad(x)
    _check(lt, gt, 0, True)
    lr, gr = ref_eval(x)
    log_w = np.full(n, -math.log(n))
    b, log_z, temps, acceptance, steps = 0.0, 0.0, [0.0], [], []
    h = d ** (-1.0 / 3.0)
    while b < 1.0:
        b_next = _next_temperature(log_w, lt, lr, b, ess_threshold)
        buf = _reweighted(log_w, lt, lr, b_next - b)
        inc = _log_sum_exp(buf)
        if not np.isfinite(inc):
            raise ValueError(f"the incremental weights at temperature {b_next:.3e} are not finite")
        log_z += inc
        log_w, b = buf - inc, b_next
        temps.append(b)
        if b < 1.0 or _ess(log_w) < ess_threshold * n:
            # Systematic resampling: the core's running sum is NumPy's cumsum.
            pos = (resampling.take(1)[0, 0] + np.arange(n)) / n
            anc = np.minimum(np.searchsorted(np.cumsum(np.exp(log_w)), pos, side="right"), n - 1)
            x, gt, gr, lt, lr = x[anc], gt[anc], gr[anc], lt[anc], lr[anc]
            log_w = np.full(n, -math.log(n))
        w = np.exp(log_w)
        centre = (w[:, None] * x).sum(axis=0) / w.sum()
        scale = np.sqrt((w[:, None] * (x - centre) ** 2).sum(axis=0) / w.sum())
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        m = scale * scale
        acc_sum = 0.0
        steps.append(h)
        for _ in range(n_mcmc_steps):
            if kernel == "hmc":
                x, gt, gr, lt, lr, a = _smc_hmc_move(target, ref_eval, normals, uniforms, b, h, m, x, gt, gr, lt, lr)
                acc_sum += a
                h = min(max(h * math.exp(2.0 * (a - 0.65)), 1e-12), 1e3)
                continue
            s = math.sqrt(2.0 * h)
            gx = (1.0 - b) * gr + b * gt
            y = x + h * m * gx + s * scale * normals.take(d)
            lty, gty = target.logp_and_grad(y)
            _check(lty, gty, 1, True)
            log_u = np.log(uniforms.take(1)[:, 0])
            lry, gry = ref_eval(y)
            gy = (1.0 - b) * gry + b * gty
            a, r = y - x - h * m * gx, x - y - h * m * gy
            with np.errstate(invalid="ignore"):
                log_alpha = (1.0 - b) * lry + b * lty - ((1.0 - b) * lr + b * lt)
                log_alpha += ((a * a / m).sum(axis=1) - (r * r / m).sum(axis=1)) / (4.0 * h)
            live = lty != -np.inf
            move = live & (log_u < log_alpha)
            x, gt, gr = (np.where(move[:, None], new, old) for new, old in ((y, x), (gty, gt), (gry, gr)))
            lt, lr = np.where(move, lty, lt), np.where(move, lry, lr)
            alpha = np.where(live, np.exp(np.minimum(log_alpha, 0.0)), 0.0)
            acc_sum += alpha.sum() / n
        acc = acc_sum / n_mcmc_steps if n_mcmc_steps > 0 else math.nan
        acceptance.append(acc)
        if n_mcmc_steps > 0 and kernel == "mala":
            h = min(max(h * math.exp(2.0 * (acc - 0.574)), 1e-12), 1e3)
    return SMCResult(
        samples=x,
        log_weights=log_w,
        log_evidence=float(log_z),
        temperatures=np.array(temps),
        acceptance_rate=np.array(acceptance),
        step_size=np.array(steps),
        seed=seed,
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
