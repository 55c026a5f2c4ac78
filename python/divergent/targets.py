"""Target distributions for the samplers: log-densities with gradients, evaluated in Rust.

Every target has ``dim``, ``logp(x)``, ``score(x)`` (grad log p) and
``logp_and_grad(x)``; ``x`` is one point of shape (d,) or a batch of shape (n, d).
The built-in targets (``Gaussian``, ``GaussianMixture``, ``Banana``, ``Funnel``) are
evaluated by the Rust core, in parallel over points and without Python in the sampler's
inner loop; ``Custom`` wraps a vectorised Python callable, called once per sampler step
for all chains. All built-in log-densities are normalised.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from divergent import _core
from divergent._typing import ArrayLike
from divergent._validation import COUNT, POSITIVE, REAL, Interval, real_array, validate_params

__all__ = ["Target", "Gaussian", "GaussianMixture", "Banana", "Funnel", "LogisticRegression", "Custom"]

_LN_2PI = math.log(2.0 * math.pi)


def _vector(v, name: str, d: int | None = None) -> np.ndarray:
    arr = np.atleast_1d(real_array(v, name).astype(np.float64))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {np.shape(v)}")
    if d is not None and arr.size != d:
        raise ValueError(f"{name} has length {arr.size}, expected {d}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


def _gaussian_params(mean, cov, name: str = "cov"):
    """(mean, cov, precision, log normalising constant) of N(mean, cov), with one Cholesky."""
    mean = _vector(mean, "mean")
    d = mean.size
    S = real_array(cov, name).astype(np.float64)
    if S.ndim == 0:
        S = S * np.eye(d)
    elif S.ndim == 1 and S.size == d:
        S = np.diag(S)
    elif S.shape != (d, d):
        raise ValueError(
            f"{name} has shape {S.shape}; for a mean of length {d} expected a ({d}, {d}) "
            f"covariance matrix, a length-{d} vector of variances or a scalar variance"
        )
    if not np.isfinite(S).all():
        raise ValueError(f"{name} contains NaN or infinity")
    if not np.allclose(S, S.T, rtol=1e-10, atol=1e-12 * np.abs(S).max()):
        raise ValueError(f"{name} is not symmetric; a covariance matrix must equal its transpose")
    try:
        L = np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        raise ValueError(
            f"{name} is not positive definite; a covariance matrix must be symmetric positive "
            f"definite (check for zero variances or linearly dependent coordinates)"
        ) from None
    L_inv = np.linalg.solve(L, np.eye(d))
    precision = L_inv.T @ L_inv
    precision = 0.5 * (precision + precision.T)
    log_const = -0.5 * d * _LN_2PI - np.log(np.diagonal(L)).sum()
    return mean, S, precision, float(log_const)


def _points(x, d: int):
    """x as a (n, d) float64 array of finite values, and whether it was a single point."""
    arr = real_array(x, "x").astype(np.float64, copy=False)
    single = arr.ndim == 1
    if single:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != d:
        raise ValueError(f"expected a point of shape ({d},) or points of shape (n, {d}), got shape {np.shape(x)}")
    finite = np.isfinite(arr)
    if not finite.all():
        row = int(np.argwhere(~finite)[0, 0])
        raise ValueError(f"x contains NaN or infinity (point {row}); evaluate the target at finite points")
    return arr, single


def _check_values(lp: np.ndarray, g: np.ndarray, x: np.ndarray, custom: bool) -> None:
    """Refuse NaN, and log p = +inf, from an evaluation at finite points; for a built-in
    target (whose density is positive everywhere) also -inf and an infinite gradient,
    which mean the point is too far out for float64. A custom target may return
    log p = -inf outside its support."""
    grad_bad = ~np.isfinite(g).all(axis=1)
    if custom:
        bad = np.isnan(lp) | (lp == np.inf) | ((lp != -np.inf) & grad_bad)
    else:
        bad = ~np.isfinite(lp) | grad_bad
    if bad.any():
        row = int(np.argmax(bad))
        if custom:
            raise ValueError(
                f"the custom target's logp_and_grad returned NaN or infinity at point {row} "
                f"(logp={float(lp[row])!r}); it must return finite values, or logp = -inf outside the support"
            )
        raise ValueError(
            f"log p or its gradient is not representable in float64 at point {row} (largest "
            f"|coordinate| {float(np.abs(x[row]).max()):.3g}): the point is too far out in the "
            f"tails of this target"
        )


class Target:
    """Base class: a differentiable log-density on R^dim."""

    dim: int

    def _spec(self):
        """(kind, means, precisions, log constants, scalars) for the Rust core, or None."""
        return None

    def _eval(self, x: np.ndarray):
        """(logp (n,), grad (n, d)) for validated points x (n, d); the Rust core by default."""
        return _core.target_logp_grad(self._spec(), x)

    def logp_and_grad(self, x):
        """log p(x) and grad log p(x) for a point (d,) or points (n, d)."""
        arr, single = _points(x, self.dim)
        lp, g = self._eval(arr)
        _check_values(lp, g, arr, isinstance(self, Custom))
        return (float(lp[0]), g[0]) if single else (lp, g)

    def logp(self, x):
        """log p(x) for a point (d,) (a float) or points (n, d) (an array (n,))."""
        return self.logp_and_grad(x)[0]

    def score(self, x):
        """grad log p(x), of the shape of x."""
        return self.logp_and_grad(x)[1]

    def __call__(self, x):
        """The score, so a target can be passed wherever a score callable is expected."""
        return self.score(x)


def _mixture_spec(means, precisions, consts):
    return (
        "mixture",
        np.ascontiguousarray(means),
        np.ascontiguousarray(precisions),
        np.ascontiguousarray(consts, dtype=np.float64),
        [],
    )


class Gaussian(Target):
    """The multivariate normal N(mean, cov).

    .. math::

        \\log p(x) = -\\tfrac12 (x - \\mu)^\\top \\Sigma^{-1} (x - \\mu)
                     - \\tfrac12 \\log\\det(2\\pi\\Sigma)

    The covariance is factored once (Cholesky) when the target is built; each evaluation
    is then one matrix product per block of points.

    Parameters
    ----------
    mean : array_like, shape (d,)
    cov : array_like, shape (d, d), (d,) or scalar
        A symmetric positive definite covariance, a vector of variances, or one variance.

    Examples
    --------
    >>> import divergent as dv
    >>> t = dv.targets.Gaussian([0.0, 1.0], [[1.0, 0.5], [0.5, 2.0]])
    >>> t.score([1.0, 1.0])
    array([-1.14285714,  0.28571429])
    """

    def __init__(self, mean: ArrayLike, cov: ArrayLike):
        self.mean, self.cov, self.precision, self.log_const = _gaussian_params(mean, cov)
        self.dim = self.mean.size

    def _spec(self):
        return _mixture_spec(self.mean[None, :], self.precision[None, :, :], [self.log_const])

    def __repr__(self):
        return f"Gaussian(dim={self.dim})"


class GaussianMixture(Target):
    """A finite mixture of normals, sum_k w_k N(mean_k, cov_k).

    .. math::

        \\log p(x) = \\log \\sum_k w_k \\, \\mathcal N(x; \\mu_k, \\Sigma_k),\\qquad
        \\nabla \\log p(x) = -\\sum_k r_k(x) \\Sigma_k^{-1} (x - \\mu_k)

    with responsibilities r_k(x) = w_k N_k(x) / p(x), computed by log-sum-exp so that
    points far from every component do not underflow.

    Parameters
    ----------
    weights : array_like, shape (K,)
        Non-negative mixture weights summing to 1.
    means : array_like, shape (K, d)
    covs : array_like, shape (K, d, d), (K, d) or (K,)
        One covariance (or variances, or a variance) per component.
    """

    def __init__(self, weights: ArrayLike, means: ArrayLike, covs: ArrayLike):
        w = _vector(weights, "weights")
        if (w < 0).any():
            raise ValueError("weights must be non-negative")
        if abs(w.sum() - 1.0) > 1e-8:
            raise ValueError(f"weights must sum to 1, got sum {w.sum()!r}; divide them by their sum")
        means = real_array(means, "means").astype(np.float64)
        if means.ndim != 2 or means.shape[0] != w.size:
            raise ValueError(f"means must have shape (K, d) = ({w.size}, d), got {means.shape}")
        covs = real_array(covs, "covs").astype(np.float64)
        if covs.shape[:1] != (w.size,):
            raise ValueError(f"covs must have one covariance per component ({w.size}), got shape {covs.shape}")
        params = [_gaussian_params(means[k], covs[k], f"covs[{k}]") for k in range(w.size)]
        self.weights, self.means = w, means
        self.dim = means.shape[1]
        self.covs = np.stack([p[1] for p in params])
        # A zero-weight component contributes nothing (its log weight is -inf): drop it.
        kept = [(p, wk) for p, wk in zip(params, w, strict=True) if wk > 0]
        self._means = np.stack([p[0] for p, _ in kept])
        self._precisions = np.stack([p[2] for p, _ in kept])
        self._consts = np.array([p[3] + np.log(wk) for p, wk in kept])

    def _spec(self):
        return _mixture_spec(self._means, self._precisions, self._consts)

    def __repr__(self):
        return f"GaussianMixture(n_components={self.weights.size}, dim={self.dim})"


class Banana(Target):
    """Haario et al.'s twisted Gaussian ("banana").

    If x ~ N(0, diag(sigma^2, 1, ..., 1)) then y = (x1, x2 - b x1^2 + b sigma^2, x3, ...)
    has the banana density

    .. math::

        \\log p(y) = \\log\\mathcal N(y_1; 0, \\sigma^2)
                     + \\log\\mathcal N(y_2 + b y_1^2 - b\\sigma^2; 0, 1)
                     + \\sum_{i\\ge 3} \\log\\mathcal N(y_i; 0, 1)

    (the map has unit Jacobian, so this is normalised; E[y] = 0). Larger b bends it more.

    Parameters
    ----------
    dim : int, default 2
    b : float, default 0.1
        Curvature (Haario et al. use 0.03 and 0.1).
    sigma : float, default 10.0
        Scale of the first coordinate.

    References
    ----------
    Haario, Saksman & Tamminen (1999). Adaptive proposal distribution for random walk
    Metropolis algorithm. Computational Statistics 14, 375-395.
    """

    @validate_params({"dim": Interval("int", 2), "b": REAL, "sigma": POSITIVE})
    def __init__(self, dim: int = 2, b: float = 0.1, sigma: float = 10.0):
        self.dim, self.b, self.sigma = dim, b, sigma

    def _spec(self):
        return ("banana", np.zeros((1, self.dim)), np.zeros((1, 1, 1)), np.zeros(1), [self.b, self.sigma])

    def __repr__(self):
        return f"Banana(dim={self.dim}, b={self.b}, sigma={self.sigma})"


class Funnel(Target):
    """Neal's funnel: v ~ N(0, scale^2) and x_i | v ~ N(0, e^v), i = 1, ..., dim - 1.

    .. math::

        \\log p(v, x) = \\log\\mathcal N(v; 0, s^2) + \\sum_{i=1}^{d-1} \\log\\mathcal N(x_i; 0, e^{v})

    The first coordinate is v. Its neck (v << 0) is the classic trap for samplers with
    one global step size.

    Parameters
    ----------
    dim : int, default 10
    scale : float, default 3.0

    References
    ----------
    Neal (2003). Slice sampling. Annals of Statistics 31(3), 705-767.
    """

    @validate_params({"dim": Interval("int", 2), "scale": POSITIVE})
    def __init__(self, dim: int = 10, scale: float = 3.0):
        self.dim, self.scale = dim, scale

    def _spec(self):
        return ("funnel", np.zeros((1, self.dim)), np.zeros((1, 1, 1)), np.zeros(1), [self.scale])

    def __repr__(self):
        return f"Funnel(dim={self.dim}, scale={self.scale})"


class LogisticRegression(Target):
    r"""The posterior of Bayesian logistic regression, the standard real-data benchmark.

    .. math::

        \log p(\beta) = \sum_j \big[y_j\, x_j^\top \beta - \log(1 + e^{x_j^\top \beta})\big]
                        - \frac{|\beta|^2}{2 s^2} - d \log(s \sqrt{2\pi})

    for labels y_j in {0, 1}, rows x_j of X, and the prior N(0, s^2 I) (normalised; the
    likelihood is the Bernoulli's, so log p is the log posterior up to the evidence).
    Evaluated in Rust: for a block of chains, the linear predictors are one matrix product
    B X^T and the gradient (y - sigmoid(B X^T)) X - B / s^2 another. Add a column of ones
    to X for an intercept.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Features (standardise them: the prior's scale is the same for every coefficient).
    y : array_like, shape (n,)
        Labels, 0 or 1 (bool or numbers).
    prior_scale : float, default 1.0
        The prior's standard deviation s.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> X = np.array([[1.0, 0.5], [1.0, -1.0], [1.0, 2.0]])
    >>> t = dv.targets.LogisticRegression(X, [1, 0, 1], prior_scale=2.0)
    >>> t.dim
    2
    """

    @validate_params({"prior_scale": POSITIVE})
    def __init__(self, X: ArrayLike, y: ArrayLike, *, prior_scale: float = 1.0):
        x = real_array(X, "X").astype(np.float64)
        if x.ndim != 2 or 0 in x.shape:
            raise ValueError(f"X must be a non-empty 2-D array (n_samples, n_features), got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("X contains NaN or infinity")
        labels = real_array(y, "y")
        if labels.shape != (x.shape[0],):
            raise ValueError(f"y must have one label per row of X, shape ({x.shape[0]},), got {labels.shape}")
        if not np.isin(labels, (0, 1)).all():
            raise ValueError("y must hold labels 0 and 1 only (encode the two classes as 0 and 1)")
        self.X, self.y = np.ascontiguousarray(x), labels.astype(np.float64)
        self.prior_scale = prior_scale
        self.dim = x.shape[1]

    def _spec(self):
        empty = np.zeros((0, self.dim, self.dim))
        return ("logistic", self.X, empty, self.y, [float(self.prior_scale)])

    def __repr__(self):
        return f"LogisticRegression(n={self.X.shape[0]}, dim={self.dim}, prior_scale={self.prior_scale:g})"


class Custom(Target):
    """A target given by a vectorised Python callable.

    Parameters
    ----------
    logp_and_grad : callable
        Maps an array of shape (n, dim) to ``(logp, grad)`` with shapes (n,) and
        (n, dim). The samplers call it once per step with the points of all chains.
    dim : int
        Dimension of the space.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> t = dv.targets.Custom(lambda x: (-0.5 * (x ** 2).sum(1), -x), dim=3)
    >>> t.logp(np.zeros(3))
    -0.0
    """

    @validate_params({"dim": COUNT})
    def __init__(self, logp_and_grad: Callable[[np.ndarray], tuple[ArrayLike, ArrayLike]], dim: int):
        if not callable(logp_and_grad):
            raise TypeError(f"logp_and_grad must be callable, got {type(logp_and_grad).__name__}")
        self.dim = dim
        self.func = logp_and_grad

    def _evaluate(self, x: np.ndarray, where: str):
        out = self.func(x)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise ValueError(f"the custom target's logp_and_grad must return a tuple (logp, grad){where}")
        n = x.shape[0]
        lp = real_array(out[0], "the custom target's logp")
        lp = np.ascontiguousarray(lp, dtype=np.float64).reshape(-1) if lp.ndim <= 1 else None
        g = np.ascontiguousarray(real_array(out[1], "the custom target's grad"), dtype=np.float64)
        if lp is None or lp.shape != (n,) or g.shape != (n, self.dim):
            raise ValueError(
                f"the custom target's logp_and_grad returned logp of shape {np.shape(out[0])} and "
                f"grad of shape {np.shape(out[1])}{where}; expected ({n},) and ({n}, {self.dim})"
            )
        return lp, g

    def _sampler_callback(self):
        """The callable the Rust sampler calls once per step (step 0 is the start)."""
        step = [0]

        def call(x):
            try:
                return self._evaluate(x, f" at step {step[0]}")
            finally:
                step[0] += 1

        return call

    def _eval(self, x: np.ndarray):
        return self._evaluate(x, "")

    def __repr__(self):
        return f"Custom({getattr(self.func, '__name__', 'callable')}, dim={self.dim})"
