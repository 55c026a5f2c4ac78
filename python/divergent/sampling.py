"""Langevin samplers and Hamiltonian Monte Carlo on many chains at once, tempered
sequential Monte Carlo with a log-evidence estimate, and Stein variational gradient
descent.

The inner loops run in Rust: for the built-in targets of :mod:`divergent.targets` no
Python runs between the first and the last step; a :class:`~divergent.targets.Custom`
target is called once per step with the points of all chains. Chains run in parallel and
each draws from its own random stream, derived from (seed, chain index), so a seed gives
the same samples for any number of threads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np

from divergent import _core
from divergent._progress import progress_bar
from divergent._typing import ArrayLike, Seed
from divergent._validation import (
    ARRAY,
    COUNT,
    FLAG,
    NON_NEGATIVE_INT,
    POSITIVE,
    SEED,
    Interval,
    InvalidParameterError,
    Options,
    as_samples,
    real_array,
    validate_params,
)
from divergent.diagnostics import ess as _ess
from divergent.diagnostics import mcse as _mcse
from divergent.diagnostics import rhat as _rhat
from divergent.kernel import median_bandwidth
from divergent.targets import Custom, Gaussian, Target

__all__ = ["langevin", "hmc", "smc", "svgd", "Trace", "SMCResult", "ess", "rhat", "mcse"]

ess, rhat, mcse = _ess, _rhat, _mcse

METHODS = ("ula", "mala", "underdamped")

#: langevin's and svgd's parameters (also the references').
LANGEVIN_PARAMETERS = {
    "n_chains": COUNT,
    "n_steps": COUNT,
    "step_size": POSITIVE,
    "method": Options(METHODS),
    "friction": POSITIVE,
    "burn_in": NON_NEGATIVE_INT,
    "thin": COUNT,
    "seed": SEED,
    "adapt_step_size": FLAG,
    "progress": FLAG,
}
#: hmc's parameters, and the mean acceptance probability its step-size adaptation aims
#: at (Stan's default; 0.65 is optimal in high dimension, Beskos et al. 2013, and a
#: higher target buys fewer divergences on curved targets).
HMC_PARAMETERS = {
    "n_chains": COUNT,
    "n_steps": COUNT,
    "step_size": POSITIVE,
    "n_leapfrog": COUNT,
    "jitter": FLAG,
    "burn_in": NON_NEGATIVE_INT,
    "adapt_step_size": FLAG,
    "adapt_trajectory": FLAG,
    "thin": COUNT,
    "seed": SEED,
    "progress": FLAG,
}
HMC_TARGET_ACCEPT = 0.8
#: smc reports its progress as the temperature times this (the core's PROGRESS_UNITS).
SMC_PROGRESS_UNITS = 1e6
#: The named metrics of langevin and hmc.
METRICS = ("identity", "diag", "dense")
#: smc's parameters.
SMC_PARAMETERS = {
    "n_particles": Interval("int", 2),
    "kernel": Options(("mala", "hmc")),
    "n_mcmc_steps": NON_NEGATIVE_INT,
    "ess_threshold": Interval("real", 0, 1, closed="right"),
    "seed": SEED,
    "progress": FLAG,
}
SVGD_PARAMETERS = {"n_steps": NON_NEGATIVE_INT, "step_size": POSITIVE, "bandwidth": (POSITIVE, Options(("median",)))}


@dataclass(frozen=True)
class Trace:
    """The output of :func:`langevin`.

    Attributes
    ----------
    samples : ndarray, shape (n_chains, n_draws, d)
        The kept states, after burn-in and thinning.
    logp : ndarray, shape (n_chains, n_draws)
        log p at each kept state.
    acceptance_rate : ndarray, shape (n_chains,)
        Fraction of accepted MALA proposals over the steps after burn-in; 1.0 for ULA and
        underdamped Langevin, which take every step; for HMC the mean acceptance
        probability min(1, exp(-energy error)).
    step_size : ndarray, shape (n_chains,)
        Each chain's step size after burn-in (different from the one given only with
        ``adapt_step_size=True``).
    method : str
    seed : int
        The seed of the run (drawn when ``seed=None``); pass it back to reproduce the run.
    sample_stats : dict of ndarray, shape (n_chains, n_draws) each
        Per-draw statistics in ArviZ's names: ``lp`` and ``step_size`` always; for HMC
        also ``acceptance_rate``, ``diverging`` (bool), ``energy`` (the Hamiltonian of
        the kept state, for ArviZ's BFMI) and ``n_steps`` (leapfrog steps).
    metric : ndarray or None
        The inverse mass matrix (Langevin: the preconditioner) after burn-in ((d,)
        diagonal or (d, d)); None for the identity.
    trajectory_length : float or None
        HMC: the integration time after burn-in (``step_size * n_leapfrog``, or the one
        ``adapt_trajectory`` found); None for the Langevin samplers.
    """

    samples: np.ndarray = field(repr=False)
    logp: np.ndarray = field(repr=False)
    acceptance_rate: np.ndarray
    step_size: np.ndarray
    method: str
    seed: int
    sample_stats: dict = field(default_factory=dict, repr=False)
    metric: np.ndarray | None = field(default=None, repr=False)
    trajectory_length: float | None = None

    def __post_init__(self):
        stats = {"lp": self.logp, "step_size": np.broadcast_to(self.step_size[:, None], self.logp.shape)}
        object.__setattr__(self, "sample_stats", {**stats, **self.sample_stats})

    @property
    def n_chains(self) -> int:
        return self.samples.shape[0]

    @property
    def n_draws(self) -> int:
        return self.samples.shape[1]

    def ess(self, method="bulk") -> np.ndarray:
        """Effective sample size of each coordinate, shape (d,); see :func:`divergent.diagnostics.ess`."""
        return np.atleast_1d(_ess(self.samples, method=method))

    def mcse(self) -> np.ndarray:
        """Monte Carlo standard error of each coordinate's mean, shape (d,); see
        :func:`divergent.diagnostics.mcse`."""
        return np.atleast_1d(_mcse(self.samples))

    def rhat(self) -> np.ndarray:
        """Rank-normalised split R-hat of each coordinate, shape (d,); see :func:`divergent.diagnostics.rhat`."""
        return np.atleast_1d(_rhat(self.samples))

    def to_arviz(self):
        """An ``arviz.InferenceData`` with posterior variable ``x`` (chain, draw, x_dim_0) and
        the sample statistics of :attr:`sample_stats`. Needs ArviZ (``pip install arviz``)."""
        try:
            import arviz as az
        except ImportError:
            raise ImportError("to_arviz needs ArviZ: pip install arviz") from None
        return az.from_dict(
            posterior={"x": self.samples},
            sample_stats={k: np.asarray(v) for k, v in self.sample_stats.items()},
        )


def _u64_seed(seed) -> int:
    """The core's 64-bit seed from a declared `seed`."""
    if isinstance(seed, int):
        if seed >= 2**64:
            raise InvalidParameterError(f"seed must be below 2**64, got {seed}")
        return seed
    return int(np.random.default_rng(seed).integers(0, 2**63))


def _langevin_inputs(
    target, n_chains, n_steps, step_size, method, x0, friction, burn_in, thin, seed, adapt_step_size, metric
):
    _check_target(target)
    if n_steps < thin:
        raise ValueError(f"n_steps ({n_steps}) must be at least thin ({thin}) to keep any draw")
    if adapt_step_size and method != "mala":
        raise ValueError("adapt_step_size is for method='mala' (it targets MALA's acceptance rate 0.574)")
    if adapt_step_size and burn_in == 0:
        raise ValueError("adapt_step_size adapts during burn-in only; set burn_in > 0")
    x0 = _start(target, n_chains, x0)
    metric = _metric_input(metric, target.dim, burn_in)
    return method, n_chains, n_steps, step_size, x0, friction, burn_in, thin, _u64_seed(seed), metric


def _check_target(target) -> None:
    if not isinstance(target, Target):
        raise TypeError(
            f"target must be a divergent.targets target (Gaussian, GaussianMixture, Banana, Funnel "
            f"or Custom), got {type(target).__name__}; wrap a callable with "
            f"divergent.targets.Custom(logp_and_grad, dim)"
        )


def _target_args(target) -> tuple:
    """The core's (spec, custom) pair for a target: a built-in's parameters, or a Custom
    target's batch callback."""
    if isinstance(target, Custom):
        return None, target._sampler_callback()
    return target._spec(), None


def _start(target, n_chains: int, x0):
    """The chains' starting points (n_chains, d) as float64, or None (drawn from N(0, I))."""
    d = target.dim
    if x0 is not None:
        x0 = real_array(x0, "x0").astype(np.float64, copy=False)
        if x0.shape == (d,):
            x0 = np.broadcast_to(x0, (n_chains, d))
        if x0.shape != (n_chains, d):
            raise ValueError(
                f"x0 has shape {x0.shape}; expected ({n_chains}, {d}) (one point per chain) or "
                f"({d},) (the same start for every chain)"
            )
        if not np.isfinite(x0).all():
            raise ValueError("x0 contains NaN or infinity")
        x0 = np.ascontiguousarray(x0)
    return x0


@validate_params({**LANGEVIN_PARAMETERS, "metric": (Options(METRICS), ARRAY)})
def langevin(
    target: Target,
    *,
    n_chains: int = 4,
    n_steps: int = 1000,
    step_size: float,
    method: Literal["ula", "mala", "underdamped"] = "mala",
    x0: ArrayLike | None = None,
    friction: float = 1.0,
    burn_in: int = 0,
    thin: int = 1,
    seed: Seed = None,
    adapt_step_size: bool = False,
    metric: Literal["identity", "diag", "dense"] | ArrayLike = "identity",
    progress: bool = False,
) -> Trace:
    """Sample from a target with Langevin dynamics on many chains in parallel.

    With step h and g = grad log p:

    - ``"ula"`` (unadjusted Langevin): x' = x + h g(x) + sqrt(2h) xi, xi ~ N(0, I). Biased
      at finite h: for N(0, s^2) its stationary variance is s^2 / (1 - h / (2 s^2)).
    - ``"mala"`` (Metropolis-adjusted): the ULA move is a proposal y, accepted with
      probability min(1, p(y) q(x | y) / (p(x) q(y | x))),
      q(y | x) proportional to exp(-|y - x - h g(x)|^2 / (4h)). Exact for any h.
    - ``"underdamped"`` (kinetic Langevin, unit mass, friction gamma), BAOAB splitting
      (Leimkuhler & Matthews 2013): v += h/2 g(x); x += h/2 v;
      v = e^{-gamma h} v + sqrt(1 - e^{-2 gamma h}) xi; x += h/2 v; v += h/2 g(x).
      One gradient per step; its bias is O(h^2) and for Gaussians BAOAB samples the
      position exactly at any stable h.

    With a metric M^{-1} (C C' = M^{-1}), ULA and MALA propose
    y = x + h M^{-1} g(x) + sqrt(2h) C xi, the Langevin diffusion preconditioned by M^{-1}
    (Girolami & Calderhead 2011, with a constant metric); for a Gaussian target with
    covariance S, M^{-1} = S makes every direction mix at the same pace, and the best
    step no longer depends on the condition number. Underdamped Langevin then runs with
    mass matrix M (momentum refreshed from N(0, M), drifts x += h/2 M^{-1} v).

    Parameters
    ----------
    target : divergent.targets.Target
        A built-in target (evaluated in Rust) or ``Custom(logp_and_grad, dim)``.
    n_chains : int, default 4
    n_steps : int, default 1000
        Steps after burn-in; every ``thin``-th is kept, so n_draws = n_steps // thin.
    step_size : float
        h above (required; there is no safe default across targets).
    method : {"mala", "ula", "underdamped"}, default "mala"
    x0 : array_like, shape (n_chains, d) or (d,), optional
        Starting points. Default: independent N(0, I) draws from each chain's stream.
    friction : float, default 1.0
        gamma of the underdamped dynamics.
    burn_in : int, default 0
        Steps run and discarded before the n_steps.
    thin : int, default 1
    seed : int, numpy Generator or None
        The run is a deterministic function of the seed, whatever the thread count.
    adapt_step_size : bool, default False
        MALA only: during burn-in, adapt each chain's log step size by Robbins-Monro
        (gain t^-0.6) toward an acceptance rate of 0.574 (Roberts & Rosenthal 1998); the
        step size is frozen afterwards, so the kept chain is a valid MCMC.
    metric : {"identity", "diag", "dense"} or array_like, default "identity"
        M^{-1} above: an array (d,) (its diagonal) or (d, d), symmetric positive
        definite, e.g. a covariance estimate; or "diag" / "dense" to estimate it during
        burn-in from the pooled chains in windows that double (Stan's schedule; every
        chain's state at every step of a window, regularised towards the identity),
        then frozen. Each estimate restarts the step-size adaptation's gains.
    progress : bool, default False
        Show a progress bar over the steps (tqdm when installed, else a line on stderr).

    Returns
    -------
    Trace
        ``samples`` (n_chains, n_draws, d), ``logp``, ``acceptance_rate``, ``step_size``,
        ``metric`` (the one used after burn-in; None for the identity), with ``ess()``,
        ``rhat()`` and ``to_arviz()``.

    Raises
    ------
    ValueError
        For invalid arguments, and when the target returns NaN or +inf (or ULA and
        underdamped leave its support) at some step: the message names the chain and the
        step; a diverging chain usually means the step size is too large.

    Notes
    -----
    Chain c draws its normals from ChaCha8 stream 2c and MALA's uniforms from stream
    2c + 1 of a key derived from the seed (``divergent.reference.sampling`` replays them).
    Each step evaluates the target once for all chains: a block GEMM for Gaussians, one
    call for a Custom target.

    References
    ----------
    Roberts & Tweedie (1996). Exponential convergence of Langevin distributions and their
    discrete approximations. Bernoulli 2(4), 341-363.
    Roberts & Rosenthal (1998). Optimal scaling of discrete approximations to Langevin
    diffusions. JRSS B 60(1), 255-268.
    Girolami & Calderhead (2011). Riemann manifold Langevin and Hamiltonian Monte Carlo
    methods. JRSS B 73(2), 123-214.
    Leimkuhler & Matthews (2013). Rational construction of stochastic numerical methods
    for molecular sampling. Applied Mathematics Research eXpress 2013(1), 34-56.

    Examples
    --------
    >>> import divergent as dv
    >>> t = dv.targets.Gaussian([1.0, -1.0], [[1.0, 0.8], [0.8, 1.0]])
    >>> tr = dv.langevin(t, n_chains=8, n_steps=2000, step_size=0.3, burn_in=200, seed=0)
    >>> tr.samples.shape
    (8, 2000, 2)
    >>> bool(abs(tr.samples[..., 0].mean() - 1.0) < 0.1)
    True
    """
    (method, n_chains, n_steps, step_size, x0, friction, burn_in, thin, seed, metric) = _langevin_inputs(
        target, n_chains, n_steps, step_size, method, x0, friction, burn_in, thin, seed, adapt_step_size, metric
    )
    diag, dense, adapt_metric = metric
    spec, custom = _target_args(target)
    with progress_bar(progress, burn_in + n_steps, method) as report:
        samples, logp, accepted, steps, used = _core.langevin(
            spec,
            custom,
            target.dim,
            x0,
            n_chains,
            method,
            n_steps,
            burn_in,
            thin,
            step_size,
            friction,
            bool(adapt_step_size),
            seed,
            metric_diag=diag,
            metric_dense=dense,
            adapt_metric=adapt_metric,
            progress=report,
        )
    return Trace(
        samples=samples,
        logp=logp,
        acceptance_rate=accepted / n_steps,
        step_size=steps,
        method=method,
        seed=seed,
        metric=used,
    )


def _metric_input(metric, d: int, burn_in: int):
    """(diagonal or None, dense matrix or None, adaptation or None) of a metric argument."""
    if isinstance(metric, str):
        if metric != "identity" and burn_in == 0:
            raise ValueError(f"metric={metric!r} is estimated during burn-in; set burn_in > 0 or pass the matrix")
        return None, None, None if metric == "identity" else metric
    m = real_array(metric, "metric").astype(np.float64)
    if m.shape not in ((d,), (d, d)):
        raise ValueError(
            f"metric has shape {m.shape}; the inverse mass matrix of a d = {d} target is ({d},) or ({d}, {d})"
        )
    if not np.isfinite(m).all():
        raise ValueError("metric contains NaN or infinity")
    if m.ndim == 1:
        if not (m > 0).all():
            raise ValueError("a diagonal metric must be positive (the inverse masses)")
        return np.ascontiguousarray(m), None, None
    if not np.allclose(m, m.T, rtol=1e-10, atol=0):
        raise ValueError("metric is not symmetric; pass the inverse mass matrix (e.g. a covariance estimate)")
    try:
        np.linalg.cholesky(m)
    except np.linalg.LinAlgError:
        raise ValueError("metric is not positive definite; pass a covariance of full rank") from None
    return None, np.ascontiguousarray(0.5 * (m + m.T)), None


def _hmc_inputs(target, n_chains, n_steps, burn_in, thin, adapt_step_size, metric, x0, seed, adapt_trajectory):
    """hmc's checks across arguments: (metric diagonal, dense, adaptation, x0, seed)."""
    _check_target(target)
    if n_steps < thin:
        raise ValueError(f"n_steps ({n_steps}) must be at least thin ({thin}) to keep any draw")
    if adapt_step_size and burn_in == 0:
        raise ValueError("adapt_step_size adapts during burn-in only; set burn_in > 0")
    if adapt_trajectory and burn_in == 0:
        raise ValueError("adapt_trajectory adapts during burn-in only; set burn_in > 0")
    diag, dense, adapt_metric = _metric_input(metric, target.dim, burn_in)
    return diag, dense, adapt_metric, _start(target, n_chains, x0), _u64_seed(seed)


@validate_params({**HMC_PARAMETERS, "metric": (Options(METRICS), ARRAY)})
def hmc(
    target: Target,
    *,
    n_chains: int = 4,
    n_steps: int = 1000,
    step_size: float,
    n_leapfrog: int = 10,
    jitter: bool = True,
    metric: Literal["identity", "diag", "dense"] | ArrayLike = "identity",
    burn_in: int = 0,
    adapt_step_size: bool = False,
    adapt_trajectory: bool = False,
    x0: ArrayLike | None = None,
    thin: int = 1,
    seed: Seed = None,
    progress: bool = False,
) -> Trace:
    r"""Hamiltonian Monte Carlo on many chains in parallel.

    With log-density log p, gradient g and inverse mass matrix M^{-1} (the metric), each
    iteration draws a momentum p ~ N(0, M), runs L leapfrog steps of size h on
    H(x, p) = -log p(x) + p^T M^{-1} p / 2,

    .. math::

        p \leftarrow p + \tfrac h2 g(x), \quad
        \big(x \leftarrow x + h M^{-1} p, \quad p \leftarrow p + h g(x)\big)^L,

    the last kick a half one, and accepts the end point with probability
    min(1, exp(H_0 - H_1)). All chains run the same L in an iteration, so each leapfrog
    step evaluates the target once for all of them; with ``jitter`` L is drawn uniformly
    from 1 to ``n_leapfrog`` at each iteration (Neal 2011), which breaks the periodic
    paths a fixed length can fall into. An energy error H_1 - H_0 above 1000, or a
    non-finite log-density or gradient on the path, marks the transition divergent
    (``sample_stats["diverging"]``, Stan's and ArviZ's convention): it is rejected and
    the run goes on.

    Parameters
    ----------
    target : divergent.targets.Target
        What to sample (a built-in target is evaluated in Rust; a Custom one is called
        once per leapfrog step with the points of all chains).
    n_chains : int, default 4
    n_steps : int, default 1000
        Iterations kept after burn-in (before thinning).
    step_size : float
        The leapfrog step h (the initial one with ``adapt_step_size``).
    n_leapfrog : int, default 10
        Leapfrog steps per iteration (their largest number with ``jitter``).
    jitter : bool, default True
        Draw each iteration's number of leapfrog steps uniformly from 1..n_leapfrog.
    metric : {"identity", "diag", "dense"} or array_like, default "identity"
        The inverse mass matrix, ideally the target's covariance: an array (d,) (its
        diagonal) or (d, d); or "diag" / "dense" to estimate it during burn-in from the
        pooled chains, in windows that double (Stan's schedule: a first buffer of 75
        iterations, windows of 25, 50, 100, ..., a last buffer of 50 where only the
        step size moves; proportionally shorter for a burn-in under 150), regularised
        towards the identity as Stan does. Many chains make the estimate good early.
    burn_in : int, default 0
        Iterations run before the kept ones, in which the adaptation happens.
    adapt_step_size : bool, default False
        Adapt one step size for all chains by dual averaging during burn-in (Hoffman &
        Gelman 2014) towards a mean acceptance probability of 0.8, restarting after each
        metric window; the run then uses the averaged step size.
    adapt_trajectory : bool, default False
        Tune the trajectory length T (integration time, initially
        ``step_size * n_leapfrog``) during burn-in by ChEES (Hoffman, Radul & Sountsov
        2021): Adam steps on log T up the acceptance-weighted gradient of the chains'
        expected squared change in squared distance from their mean,
        E[(|x' - E x'|^2 - |x - E x|^2)^2] / 4, estimated across the chains at each
        iteration (many chains make it good); the run then uses the average of the
        iterates. Each iteration takes T / h leapfrog steps (with ``jitter``, 1 + floor(u
        T / h) for a uniform u), at most 1000; ``n_leapfrog`` then only sets the start.
    x0 : array_like, shape (n_chains, d) or (d,), optional
        Starting points; by default N(0, I) draws.
    thin : int, default 1
        Keep every thin-th iteration.
    seed : int, numpy SeedSequence or Generator, optional
    progress : bool, default False
        Show a progress bar over the iterations (tqdm when installed, else a line on
        stderr).

    Returns
    -------
    Trace
        ``samples`` (n_chains, n_draws, d), ``logp``, ``acceptance_rate`` (per chain),
        ``step_size``, ``metric``, ``trajectory_length`` and ``sample_stats``
        (``acceptance_rate``, ``diverging``, ``energy``, ``n_steps``, ``lp``,
        ``step_size`` per draw).

    Raises
    ------
    ValueError
        For invalid arguments (a metric of the wrong shape, not symmetric positive
        definite or not finite), or a target that is not finite at the starting points.

    Notes
    -----
    Chain c draws its momenta from stream 2c and its acceptance uniforms from stream
    2c + 1 of a key derived from the seed, the path lengths from a stream of their own:
    the same samples for any number of threads.

    References
    ----------
    Neal, R. M. (2011). MCMC using Hamiltonian dynamics. Handbook of Markov Chain Monte
    Carlo, ch. 5.
    Hoffman, M. D., Gelman, A. (2014). The No-U-Turn sampler. JMLR 15, 1593-1623 (dual
    averaging of the step size).
    Hoffman, M. D., Radul, A., Sountsov, P. (2021). An adaptive-MCMC scheme for setting
    trajectory lengths in Hamiltonian Monte Carlo. AISTATS 2021 (ChEES).
    Betancourt, M. (2017). A conceptual introduction to Hamiltonian Monte Carlo.
    arXiv:1701.02434.

    Examples
    --------
    >>> import divergent as dv
    >>> t = dv.targets.Gaussian([0.0, 0.0], [[4.0, 1.9], [1.9, 1.0]])
    >>> tr = dv.sampling.hmc(t, n_chains=16, n_steps=500, step_size=0.3, metric="dense",
    ...                      burn_in=300, adapt_step_size=True, seed=0)
    >>> tr.samples.shape
    (16, 500, 2)
    >>> bool(abs(tr.samples[..., 0].var() - 4.0) < 0.5)
    True
    """
    diag, dense, adapt_metric, x0, seed = _hmc_inputs(
        target, n_chains, n_steps, burn_in, thin, adapt_step_size, metric, x0, seed, adapt_trajectory
    )
    spec, custom = _target_args(target)
    with progress_bar(progress, burn_in + n_steps, "hmc") as report:
        samples, logp, accept, diverging, energy, n_l, h, used, length = _core.hmc(
            spec,
            custom,
            target.dim,
            x0,
            n_chains,
            n_steps=n_steps,
            burn_in=burn_in,
            thin=thin,
            step_size=step_size,
            n_leapfrog=n_leapfrog,
            jitter=jitter,
            metric_diag=diag,
            metric_dense=dense,
            adapt_metric=adapt_metric,
            adapt_step_size=adapt_step_size,
            target_accept=HMC_TARGET_ACCEPT,
            seed=seed,
            adapt_trajectory=adapt_trajectory,
            progress=report,
        )
    stats = {
        "acceptance_rate": accept,
        "diverging": diverging,
        "energy": energy,
        "n_steps": np.broadcast_to(n_l.astype(np.int64)[None, :], logp.shape),
    }
    return Trace(
        samples=samples,
        logp=logp,
        acceptance_rate=accept.mean(axis=1),
        step_size=np.full(n_chains, h),
        method="hmc",
        seed=seed,
        sample_stats=stats,
        metric=used,
        trajectory_length=length,
    )


@dataclass(frozen=True)
class SMCResult:
    """The output of :func:`smc`.

    Attributes
    ----------
    samples : ndarray, shape (n_particles, d)
        The particles at the target.
    log_weights : ndarray, shape (n_particles,)
        Their normalised log-weights (``logsumexp(log_weights) == 0``); equal after a
        final resampling.
    log_evidence : float
        The estimate of log Z = log of the integral of exp(target.logp).
    temperatures : ndarray, shape (T + 1,)
        The tempering path 0 = b_0 < ... < b_T = 1.
    acceptance_rate : ndarray, shape (T,)
        Mean acceptance probability of the MCMC moves at each temperature after the first.
    step_size : ndarray, shape (T,)
        The MALA step size at each temperature (before the preconditioning by the
        particles' standard deviations).
    seed : int
        The seed of the run (drawn when ``seed=None``).
    """

    samples: np.ndarray = field(repr=False)
    log_weights: np.ndarray = field(repr=False)
    log_evidence: float
    temperatures: np.ndarray = field(repr=False)
    acceptance_rate: np.ndarray = field(repr=False)
    step_size: np.ndarray = field(repr=False)
    seed: int

    @property
    def ess(self) -> float:
        """Effective sample size of the final weights, (sum w)^2 / sum w^2."""
        w = np.exp(self.log_weights - self.log_weights.max())
        return float(w.sum() ** 2 / (w * w).sum())

    @property
    def n_temperatures(self) -> int:
        """T, the number of tempering stages."""
        return len(self.temperatures) - 1


def _smc_reference(target, reference):
    """The reference's (mean (d,), covariance (d, d) or None for the identity)."""
    _check_target(target)
    d = target.dim
    if reference is None:
        return np.zeros(d), None
    if isinstance(reference, Gaussian):
        if reference.dim != d:
            raise ValueError(
                f"reference has dimension {reference.dim} but the target has {d}; give a "
                f"reference of the target's dimension"
            )
        return reference.mean.reshape(d), reference.cov.reshape(d, d)
    raise TypeError(
        f"reference must be a divergent.targets.Gaussian (a normalised density drawn exactly) "
        f"or None for N(0, I), got {type(reference).__name__}"
    )


@validate_params(SMC_PARAMETERS)
def smc(
    target: Target,
    *,
    n_particles: int = 2048,
    reference: Gaussian | None = None,
    kernel: Literal["mala", "hmc"] = "mala",
    n_mcmc_steps: int = 5,
    ess_threshold: float = 0.5,
    seed: Seed = None,
    progress: bool = False,
) -> SMCResult:
    r"""Adaptive tempered sequential Monte Carlo, with the target's log-normalising constant.

    The particles start as exact draws from a normalised reference r and follow the
    geometric path :math:`\pi_b \propto r^{1-b} p^b` to the target p = exp(target.logp)
    (b = 1). At each stage the next temperature b' is found by bisection as the largest
    at which the reweighted particles keep ``ess_threshold`` x n_particles effective
    samples, the particles are reweighted by :math:`(p/r)^{b'-b}` and resampled
    (systematic resampling), and each takes ``n_mcmc_steps`` MALA steps targeting
    :math:`\pi_{b'}`, preconditioned by the particles' standard deviation per coordinate,
    with a step size carried from stage to stage towards an acceptance of 0.574. The
    log-evidence adds up the logs of the weighted means of the incremental weights:

    .. math::

        \log \hat Z = \sum_{t=1}^{T} \log \sum_i W_i^{(t-1)}
                        \Big(\frac{p(x_i)}{r(x_i)}\Big)^{b_t - b_{t-1}}.

    :math:`\hat Z` is unbiased; :math:`\log \hat Z` is biased low by about half its
    variance, which falls as 1 / n_particles (Del Moral, Doucet & Jasra 2006). Several
    seeds show its spread.

    Parameters
    ----------
    target : divergent.targets.Target
        What to sample; its ``logp`` may be unnormalised (and -inf outside a support).
    n_particles : int, default 2048
    reference : divergent.targets.Gaussian, optional
        The normalised starting distribution; N(0, I) by default. It should cover the
        target: a reference close to the target needs fewer temperatures.
    kernel : {"mala", "hmc"}, default "mala"
        The MCMC move at each temperature: MALA as above, or HMC with 5 leapfrog steps
        and the particles' variances as the inverse mass matrix, its step size carried
        towards an acceptance of 0.65 (better on correlated or high-dimensional
        targets, at 5 target evaluations per step). An HMC path that leaves the
        target's domain is rejected.
    n_mcmc_steps : int, default 5
        MCMC steps per particle at each temperature (0 gives importance sampling along
        the path, with no moves).
    ess_threshold : float in (0, 1], default 0.5
        The fraction of effective samples kept at each reweighting; closer to 1 gives
        more, smaller temperature steps.
    seed : int, numpy SeedSequence or Generator, optional
    progress : bool, default False
        Show a progress bar over the temperature, from 0 to 1.

    Returns
    -------
    SMCResult
        ``samples``, ``log_weights``, ``log_evidence``, ``temperatures``,
        ``acceptance_rate``, ``step_size``.

    Raises
    ------
    ValueError
        For invalid arguments, a reference of another dimension, or a target that is
        NaN or +inf at a particle (or -inf at all of the reference's draws).

    Notes
    -----
    Particle slot i draws its proposals and acceptance uniforms from the streams of
    chain i of the samplers' scheme (:func:`langevin`'s), and the resampling from those
    of index n_particles: the same result for any number of threads.

    References
    ----------
    Del Moral, P., Doucet, A., Jasra, A. (2006). Sequential Monte Carlo samplers. JRSS B
    68(3), 411-436.
    Jasra, A., Stephens, D. A., Doucet, A., Tsagaris, T. (2011). Inference for Lévy-driven
    stochastic volatility models via adaptive sequential Monte Carlo. Scand. J. Stat. 38
    (adaptive temperatures by the ESS).

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> t = dv.targets.Gaussian([1.0, -1.0], [[1.0, 0.3], [0.3, 0.5]])
    >>> r = dv.sampling.smc(t, n_particles=1024, seed=0)
    >>> bool(abs(r.log_evidence) < 0.1)  # a normalised target: log Z = 0
    True
    >>> r.samples.shape
    (1024, 2)
    """
    d = target.dim
    ref_mean, ref_cov = _smc_reference(target, reference)
    seed = _u64_seed(seed)
    spec, custom = _target_args(target)
    with progress_bar(progress, 1.0, "smc", unit="temperature", scale=SMC_PROGRESS_UNITS) as report:
        samples, log_w, log_z, temps, accept, steps = _core.smc(
            spec,
            custom,
            d,
            ref_mean=ref_mean,
            ref_cov=ref_cov,
            n_particles=n_particles,
            n_mcmc_steps=n_mcmc_steps,
            ess_threshold=ess_threshold,
            seed=seed,
            kernel=kernel,
            progress=report,
        )
    return SMCResult(
        samples=samples,
        log_weights=log_w,
        log_evidence=float(log_z),
        temperatures=temps,
        acceptance_rate=accept,
        step_size=steps,
        seed=seed,
    )


def _score_function(score, d):
    """A function (n, d) -> (n, d) float64 from a target or a callable; checked per step."""
    if isinstance(score, Target):
        if score.dim != d:
            raise ValueError(f"the target has dimension {score.dim} but the particles have {d} features")
        return score.score
    if callable(score):
        return score
    raise TypeError(f"score must be a divergent target or a callable (n, d) -> (n, d), got {type(score).__name__}")


def _svgd_inputs(score, particles, n_steps, step_size, bandwidth):
    x = as_samples(particles, "particles", min_samples=2 if bandwidth == "median" else 1)
    return _score_function(score, x.shape[1]), np.array(x, dtype=np.float64, order="C"), n_steps, step_size, bandwidth


def svgd_bandwidth(x: np.ndarray, median=median_bandwidth) -> float:
    """Liu & Wang's median heuristic for SVGD: h = med / sqrt(2 log(n + 1)).

    In the parameterisation exp(-|x - y|^2 / (2 h^2)) this is their exp(-|x - y|^2 / t)
    with t = med^2 / log(n + 1): a typical pair then has k = 1 / (n + 1), so each
    particle's kernel weights sum to about 2 (itself and one neighbour's worth) whatever
    n is, and the attraction and repulsion terms stay balanced as n grows.
    """
    return median(x) / math.sqrt(2.0 * math.log(x.shape[0] + 1.0))


def _checked_score(fn, x: np.ndarray, step: int) -> np.ndarray:
    s = real_array(fn(x), "the score's result").astype(np.float64, copy=False)
    if s.shape != x.shape:
        raise ValueError(f"score returned shape {s.shape} at step {step}; expected the particles' shape {x.shape}")
    if not np.isfinite(s).all():
        row = int(np.argwhere(~np.isfinite(s))[0, 0])
        raise ValueError(
            f"score returned NaN or infinity for particle {row} at step {step}; if the particles "
            f"diverged, reduce step_size"
        )
    return np.ascontiguousarray(s)


@validate_params(SVGD_PARAMETERS)
def svgd(
    score: Target | Callable[[np.ndarray], ArrayLike],
    particles: ArrayLike,
    *,
    n_steps: int = 500,
    step_size: float = 0.1,
    bandwidth: float | Literal["median"] = "median",
) -> np.ndarray:
    """Stein variational gradient descent (Liu & Wang 2016).

    Moves n particles along the kernelised Stein direction

    .. math::

        x_i \\leftarrow x_i + \\epsilon\\, \\phi(x_i), \\qquad
        \\phi(x_i) = \\frac1n \\sum_j \\Big[ k(x_j, x_i)\\, \\nabla\\log p(x_j)
                     + \\nabla_{x_j} k(x_j, x_i) \\Big]

    with the Gaussian kernel k(x, y) = exp(-|x - y|^2 / (2 h^2)): the first term pulls the
    particles toward high density, the second keeps them apart. The n x n interaction is
    computed in Rust by the streamed kernel-product engine (no n x n matrix is stored),
    O(n^2 d) per step.

    Parameters
    ----------
    score : divergent.targets.Target or callable
        grad log p; a callable maps (n, d) particles to (n, d) scores.
    particles : array_like, shape (n, d)
        Initial particles.
    n_steps : int, default 500
    step_size : float, default 0.1
        epsilon above (plain gradient steps).
    bandwidth : "median" or float, default "median"
        "median": Liu & Wang's heuristic h = med / sqrt(2 log(n + 1)), med the median
        pairwise distance of the current particles, recomputed every step (exact up to
        5000 particles, else on a fixed-seed subset of 5000).

    Returns
    -------
    ndarray, shape (n, d)
        The particles after n_steps.

    References
    ----------
    Liu & Wang (2016). Stein variational gradient descent: a general purpose Bayesian
    inference algorithm. NeurIPS 29.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> x0 = np.random.default_rng(0).normal(size=(200, 2)) * 0.1 + 3.0
    >>> x = dv.svgd(dv.targets.Gaussian([0.0, 0.0], 1.0), x0, n_steps=1000, step_size=0.3)
    >>> bool(np.abs(x.mean(axis=0)).max() < 0.1)
    True
    """
    return _run_svgd(score, particles, n_steps, step_size, bandwidth, _core.svgd_direction, median_bandwidth)


def _run_svgd(score, particles, n_steps, step_size, bandwidth, direction, median) -> np.ndarray:
    """The SVGD loop, with the direction phi(x, s, h) and the median distance as parameters
    (the Rust engine here, the dense NumPy versions in the reference)."""
    fn, x, n_steps, step_size, bandwidth = _svgd_inputs(score, particles, n_steps, step_size, bandwidth)
    for step in range(n_steps):
        s = _checked_score(fn, x, step)
        h = svgd_bandwidth(x, median) if bandwidth == "median" else bandwidth
        with np.errstate(over="ignore", invalid="ignore"):
            x += step_size * direction(x, s, h)  # x is the private copy made by _svgd_inputs
        if not np.isfinite(x).all():
            row = int(np.argwhere(~np.isfinite(x))[0, 0])
            raise ValueError(
                f"particle {row} left the float64 range at step {step} (the update overflowed); reduce step_size"
            )
    return x
