"""k-NN estimators of entropy and of the KL, Renyi and Jensen-Shannon divergences."""

from __future__ import annotations

import math

import numpy as np

from divergent import _core, _scale
from divergent._special import digamma
from divergent._typing import ArrayLike, Seed
from divergent._validation import InvalidParameterError, as_samples, check_same_dim, common_dtype, validate_params
from divergent.knn._common import (
    KNN_PARAMETERS,
    RENYI_ALPHA,
    add_jitter,
    check_k,
    check_no_zero,
    jitter_scale,
    log_unit_ball_volume,
)


def entropy_inputs(x, k, jitter, seed):
    """(x, k, offset): validated, jittered and brought into range (`divergent._scale`:
    divided by a power of two where squared distances would overflow or underflow, which
    keeps the neighbours); the entropy of the original x is that of the returned one plus
    offset = d e log 2. The divergences and mutual informations are invariant under the
    common scale."""
    # float32 stays float32: the brute-force search computes in it and finds exactly the
    # neighbours of the float64 values (the tree reads them as float64).
    x = as_samples(x, "x", min_samples=2, float32=True)
    k = check_k(k, x.shape[0] - 1, "x")
    (x,), e = _scale.in_range(*add_jitter([x], jitter_scale(jitter), seed))
    return x, k, x.shape[1] * e * math.log(2.0)


def entropy_from_distances(eps: np.ndarray, d: int, k: int) -> float:
    n = eps.shape[0]
    return float(digamma(n) - digamma(k) + log_unit_ball_volume(d) + d * np.mean(np.log(eps)))


@validate_params(KNN_PARAMETERS)
def entropy(x: ArrayLike, *, k: int = 3, jitter: bool | float | None = None, seed: Seed = None) -> float:
    r"""Kozachenko-Leonenko estimate of the differential entropy H(P) in nats.

    .. math::

        \hat H = \psi(n) - \psi(k) + \log V_d + \frac{d}{n} \sum_{i=1}^n \log \varepsilon_i,

    with :math:`\varepsilon_i` the Euclidean distance from :math:`x_i` to its k-th
    nearest neighbour among the other points and :math:`V_d` the volume of the unit
    ball. Asymptotically unbiased and consistent for densities with finite entropy; the
    bias at finite n comes from the density varying inside each k-NN ball (largest in
    the tails and for large d), the variance is about Var(log p(X)) / n. Larger k lowers
    the variance and raises the bias.

    Parameters
    ----------
    x : array_like, shape (n, d) or (n,)
        Samples of P; n >= k + 1.
    k : int, default 3
        Neighbour order.
    jitter : None, True or float, default None
        Relative amplitude of a Gaussian noise added to every coordinate (scaled by the
        column's standard deviation) to break duplicates; True means 1e-10. None: no
        noise, and duplicates that make a distance zero raise ValueError.
    seed : None, int or numpy Generator
        Seed of the jitter noise.

    Returns
    -------
    float
        Entropy estimate in nats.

    References
    ----------
    Kozachenko, L. F. & Leonenko, N. N. (1987). Sample estimate of the entropy of a
    random vector. Problems of Information Transmission 23(2), 95-101.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> x = np.random.default_rng(0).standard_normal(20_000)
    >>> round(dv.entropy(x), 2)  # 0.5 * log(2 pi e) = 1.419
    1.42
    """
    x, k, offset = entropy_inputs(x, k, jitter, seed)
    eps = _core.knn(x, k, metric="euclidean", queries=None, all=False)[0]
    check_no_zero(eps, "x", k, "x", (x, None))
    return entropy_from_distances(eps, x.shape[1], k) + offset


def divergence_inputs(x, y, k, jitter, seed):
    x = as_samples(x, "x", min_samples=2, float32=True)
    y = as_samples(y, "y", float32=True)
    check_same_dim(x, y)
    x, y = common_dtype(x, y)
    k = check_k(k, min(x.shape[0] - 1, y.shape[0]), "x (n - 1 others) or y (m points)")
    (x, y), _ = _scale.in_range(*add_jitter([x, y], jitter_scale(jitter), seed))
    return x, y, k


def neighbour_distances(x, y, k):
    """(rho, nu): k-th neighbour distances of each x_i in x (itself excluded) and in y,
    checked for zeros."""
    rho, nu = _core.kth_self_and_cross(x, y, k)
    check_no_zero(rho, "x", k, "x", (x, None))
    check_no_zero(nu, "x", k, "y", (x, y))
    return rho, nu


def kl_from_distances(rho, nu, d, m) -> float:
    n = rho.shape[0]
    return float(d * np.mean(np.log(nu) - np.log(rho)) + math.log(m / (n - 1)))


@validate_params(KNN_PARAMETERS)
def kl_divergence(
    x: ArrayLike, y: ArrayLike, *, k: int = 1, jitter: bool | float | None = None, seed: Seed = None
) -> float:
    r"""k-NN estimate of the Kullback-Leibler divergence KL(P || Q), x ~ P, y ~ Q.

    .. math::

        \widehat{KL} = \frac{d}{n} \sum_{i=1}^n \log \frac{\nu_k(i)}{\rho_k(i)}
                       + \log \frac{m}{n - 1},

    with :math:`\rho_k(i)` the distance from :math:`x_i` to its k-th nearest neighbour
    among the other points of x and :math:`\nu_k(i)` that to its k-th nearest
    neighbour in y. The digamma corrections of the two density estimates cancel because
    both use the same k. Asymptotically unbiased and mean-square consistent (Wang,
    Kulkarni & Verdu 2009); it can be negative at finite n. Its variance grows where
    Q has little mass under P's support (large nu).

    Parameters
    ----------
    x : array_like, shape (n, d)
        Samples of P; n >= k + 1.
    y : array_like, shape (m, d)
        Samples of Q; m >= k.
    k : int, default 1
    jitter, seed
        As in :func:`entropy`; the noise is added to both samples.

    Returns
    -------
    float
        KL estimate in nats.

    References
    ----------
    Wang, Q., Kulkarni, S. R. & Verdu, S. (2009). Divergence estimation for
    multidimensional densities via k-nearest-neighbor distances. IEEE Transactions on
    Information Theory 55(5), 2392-2405.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.standard_normal((20_000, 2)), rng.standard_normal((20_000, 2)) + 1
    >>> round(dv.kl_divergence(x, y, k=5), 1)  # |mu|^2 / 2 = 1
    1.0
    """
    x, y, k = divergence_inputs(x, y, k, jitter, seed)
    rho, nu = neighbour_distances(x, y, k)
    return kl_from_distances(rho, nu, x.shape[1], y.shape[0])


def check_alpha(alpha, k: int) -> float:
    """A declared alpha that the estimator with this k can take."""
    if alpha == 1:
        raise InvalidParameterError("alpha = 1 is the Kullback-Leibler divergence: use kl_divergence(x, y)")
    if alpha >= k + 1:
        raise ValueError(
            f"alpha={alpha} needs k > alpha - 1 for the bias correction Gamma(k - alpha + 1) "
            f"to exist; pass k >= {math.floor(alpha)}"
        )
    return alpha


def renyi_from_distances(rho, nu, d, m, k, alpha) -> float:
    n = rho.shape[0]
    log_b = 2 * math.lgamma(k) - math.lgamma(k - alpha + 1) - math.lgamma(k + alpha - 1)
    t = (1 - alpha) * (math.log(n - 1) - math.log(m) + d * (np.log(rho) - np.log(nu)))
    top = t.max()
    log_mean = top + math.log(np.mean(np.exp(t - top)))
    return float((log_mean + log_b) / (alpha - 1))


@validate_params({**KNN_PARAMETERS, "alpha": RENYI_ALPHA})
def renyi_divergence(
    x: ArrayLike, y: ArrayLike, *, alpha: float, k: int = 5, jitter: bool | float | None = None, seed: Seed = None
) -> float:
    r"""k-NN estimate of the Renyi divergence of order alpha, D_alpha(P || Q).

    .. math::

        \hat D_\alpha = \frac{1}{\alpha - 1} \log \left[ \frac{B_{k,\alpha}}{n}
            \sum_{i=1}^n \left( \frac{(n - 1)\, \rho_k(i)^d}{m\, \nu_k(i)^d}
            \right)^{1 - \alpha} \right],
        \qquad B_{k,\alpha} = \frac{\Gamma(k)^2}{\Gamma(k - \alpha + 1)\,
            \Gamma(k + \alpha - 1)},

    with :math:`\rho_k, \nu_k` as in :func:`kl_divergence`. The inner mean is an
    asymptotically unbiased estimate of :math:`\int p^\alpha q^{1 - \alpha}` thanks to
    :math:`B_{k,\alpha}` (Poczos & Schneider 2011); the log makes the divergence
    estimate consistent but biased at finite n. Needs alpha < k + 1. Its variance grows
    quickly with |1 - alpha| (heavy-tailed ratios), so prefer alpha in (0, 1) or larger k.

    Parameters
    ----------
    x : array_like, shape (n, d)
        Samples of P; n >= k + 1.
    y : array_like, shape (m, d)
        Samples of Q; m >= k.
    alpha : float
        Order, positive and not 1 (use :func:`kl_divergence` for 1).
    k : int, default 5
    jitter, seed
        As in :func:`entropy`.

    Returns
    -------
    float
        Renyi divergence estimate in nats.

    References
    ----------
    Poczos, B. & Schneider, J. (2011). On the estimation of alpha-divergences. AISTATS,
    JMLR W&CP 15, 609-617.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.standard_normal((20_000, 1)), rng.standard_normal((20_000, 1)) + 1
    >>> d = dv.renyi_divergence(x, y, alpha=0.5)  # alpha |mu|^2 / 2 = 0.25, sd ~ 0.01
    >>> abs(d - 0.25) < 0.04
    True
    """
    x, y, k = divergence_inputs(x, y, k, jitter, seed)
    alpha = check_alpha(alpha, k)
    rho, nu = neighbour_distances(x, y, k)
    return renyi_from_distances(rho, nu, x.shape[1], y.shape[0], k, alpha)


def js_inputs(x, y, k, jitter, seed):
    x = as_samples(x, "x", min_samples=2, float32=True)
    y = as_samples(y, "y", min_samples=2, float32=True)
    check_same_dim(x, y)
    x, y = common_dtype(x, y)
    k = check_k(k, min(x.shape[0], y.shape[0]) - 1, "the smaller of x and y")
    (x, y), _ = _scale.in_range(*add_jitter([x, y], jitter_scale(jitter), seed))
    return x, y, k


@validate_params(KNN_PARAMETERS)
def js_divergence(
    x: ArrayLike, y: ArrayLike, *, k: int = 3, jitter: bool | float | None = None, seed: Seed = None
) -> float:
    r"""Jensen-Shannon divergence from Kozachenko-Leonenko entropy estimates.

    .. math::

        \widehat{JS} = \hat H(z) - \pi_x \hat H(x) - \pi_y \hat H(y),
        \qquad \pi_x = \frac{n}{n + m},\ \pi_y = \frac{m}{n + m},

    with z the pooled sample, which is a sample of the mixture
    :math:`\pi_x P + \pi_y Q`. For n = m this is the usual JS divergence (weights 1/2,
    at most log 2); for n != m it is the JS divergence with weights
    :math:`(\pi_x, \pi_y)` (Lin 1991), the mutual information between a pooled point
    and its sample label. Pass equal sample sizes for the symmetric version. The
    entropy biases largely cancel between the three terms; the estimate can be slightly
    negative when P = Q.

    Parameters
    ----------
    x : array_like, shape (n, d)
    y : array_like, shape (m, d)
        n, m >= k + 1.
    k : int, default 3
    jitter, seed
        As in :func:`entropy`; duplicates across x and y also matter (pooled sample).

    Returns
    -------
    float
        JS divergence estimate in nats.

    References
    ----------
    Lin, J. (1991). Divergence measures based on the Shannon entropy. IEEE Transactions
    on Information Theory 37(1), 145-151.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.uniform(0, 1, 20_000), rng.uniform(2, 3, 20_000)
    >>> round(dv.js_divergence(x, y), 3)  # disjoint supports: log 2 = 0.693
    0.693
    """
    x, y, k = js_inputs(x, y, k, jitter, seed)
    z = np.concatenate([x, y])
    parts = {}
    for name, s in (("x", x), ("y", y), ("the pooled sample [x; y]", z)):
        eps = _core.knn(s, k, metric="euclidean", queries=None, all=False)[0]
        check_no_zero(eps, name, k, "the same sample", (s, None))
        parts[name] = entropy_from_distances(eps, s.shape[1], k)
    n, m = x.shape[0], y.shape[0]
    return float(parts["the pooled sample [x; y]"] - (n * parts["x"] + m * parts["y"]) / (n + m))
