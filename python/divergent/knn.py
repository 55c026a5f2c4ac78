r"""Nearest-neighbour estimators of entropy, divergences and mutual information.

Non-parametric and consistent: each estimator turns distances to the k-th nearest
neighbour into local density estimates and corrects the bias of their logarithms with
digamma terms. The neighbour searches are exact and run in the Rust core (parallel,
deterministic, ties broken by index): a k-d tree below 16 dimensions, brute force above,
where a tree visits nearly every leaf (Euclidean: inner products through GEMM tiles in
the input's precision, every candidate near the k-th distance recomputed in float64;
max-norm: SIMD scans). float32 input is searched as float32 and gives exactly the
neighbours, hence the estimates, of the same values as float64. The formulas are
evaluated here.

Duplicate points make some of these distances zero and the estimates infinite. They are
detected and reported; pass ``jitter=True`` to add a tiny seeded noise instead (what
scikit-learn's ``mutual_info_regression`` always does).

Distances are Euclidean, except in the KSG mutual-information estimators, which use the
max-norm (Chebyshev) in every space as Kraskov et al. do.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from divergent import _core, _scale
from divergent._special import digamma
from divergent._validation import (
    as_samples,
    check_choice,
    check_positive_int,
    check_same_dim,
    check_seed,
    common_dtype,
)

__all__ = [
    "entropy",
    "kl_divergence",
    "renyi_divergence",
    "js_divergence",
    "mutual_information",
    "conditional_mutual_information",
]

#: Relative noise amplitude of ``jitter=True`` (scikit-learn's KSG uses the same).
DEFAULT_JITTER = 1e-10


def check_k(k, available: int, what: str) -> int:
    """k >= 1 with at least k candidate neighbours in `what`."""
    k = check_positive_int(k, "k")
    if k > available:
        raise ValueError(
            f"k={k} is too large: {what} has only {available} candidate neighbour(s) per "
            f"point; pass a smaller k or more samples"
        )
    return k


def check_jitter(jitter) -> float:
    if jitter is None or jitter is False:
        return 0.0
    if jitter is True:
        return DEFAULT_JITTER
    if isinstance(jitter, (bool, np.bool_)) or not isinstance(jitter, numbers.Real):
        raise TypeError(f"jitter must be None, True or a non-negative float, got {jitter!r}")
    if not (math.isfinite(jitter) and jitter >= 0):
        raise ValueError(f"jitter must be a non-negative finite float, got {jitter!r}")
    return float(jitter)


def add_jitter(samples, jitter: float, seed):
    """Add N(0, (jitter * scale_j)^2) noise to every column j of every sample, from one
    generator seeded with `seed`. scale_j is the column's standard deviation (its
    largest magnitude if constant, 1 if zero), so the noise is relative to the data."""
    if jitter == 0:
        return samples
    rng = np.random.default_rng(check_seed(seed))
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
    (x,), e = _scale.in_range(*add_jitter([x], check_jitter(jitter), seed))
    return x, k, x.shape[1] * e * math.log(2.0)


def entropy_from_distances(eps: np.ndarray, d: int, k: int) -> float:
    n = eps.shape[0]
    return float(digamma(n) - digamma(k) + log_unit_ball_volume(d) + d * np.mean(np.log(eps)))


def entropy(x, *, k=3, jitter=None, seed=None) -> float:
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

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> x = np.random.default_rng(0).standard_normal(20_000)
    >>> round(dv.entropy(x), 2)  # 0.5 * log(2 pi e) = 1.419
    1.42

    References
    ----------
    Kozachenko, L. F. & Leonenko, N. N. (1987). Sample estimate of the entropy of a
    random vector. Problems of Information Transmission 23(2), 95-101.
    """
    x, k, offset = entropy_inputs(x, k, jitter, seed)
    eps = _core.knn(x, k, "euclidean", None, False)[0]
    check_no_zero(eps, "x", k, "x", (x, None))
    return entropy_from_distances(eps, x.shape[1], k) + offset


def divergence_inputs(x, y, k, jitter, seed):
    x = as_samples(x, "x", min_samples=2, float32=True)
    y = as_samples(y, "y", float32=True)
    check_same_dim(x, y)
    x, y = common_dtype(x, y)
    k = check_k(k, min(x.shape[0] - 1, y.shape[0]), "x (n - 1 others) or y (m points)")
    (x, y), _ = _scale.in_range(*add_jitter([x, y], check_jitter(jitter), seed))
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


def kl_divergence(x, y, *, k=1, jitter=None, seed=None) -> float:
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

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.standard_normal((20_000, 2)), rng.standard_normal((20_000, 2)) + 1
    >>> round(dv.kl_divergence(x, y, k=5), 1)  # |mu|^2 / 2 = 1
    1.0

    References
    ----------
    Wang, Q., Kulkarni, S. R. & Verdu, S. (2009). Divergence estimation for
    multidimensional densities via k-nearest-neighbor distances. IEEE Transactions on
    Information Theory 55(5), 2392-2405.
    """
    x, y, k = divergence_inputs(x, y, k, jitter, seed)
    rho, nu = neighbour_distances(x, y, k)
    return kl_from_distances(rho, nu, x.shape[1], y.shape[0])


def check_alpha(alpha, k: int) -> float:
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a positive float other than 1, got {alpha!r}")
    alpha = float(alpha)
    if not (math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be a positive finite float, got {alpha!r}")
    if alpha == 1:
        raise ValueError("alpha = 1 is the Kullback-Leibler divergence: use kl_divergence(x, y)")
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


def renyi_divergence(x, y, *, alpha, k=5, jitter=None, seed=None) -> float:
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

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.standard_normal((20_000, 1)), rng.standard_normal((20_000, 1)) + 1
    >>> d = dv.renyi_divergence(x, y, alpha=0.5)  # alpha |mu|^2 / 2 = 0.25, sd ~ 0.01
    >>> abs(d - 0.25) < 0.04
    True

    References
    ----------
    Poczos, B. & Schneider, J. (2011). On the estimation of alpha-divergences. AISTATS,
    JMLR W&CP 15, 609-617.
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
    (x, y), _ = _scale.in_range(*add_jitter([x, y], check_jitter(jitter), seed))
    return x, y, k


def js_divergence(x, y, *, k=3, jitter=None, seed=None) -> float:
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

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.uniform(0, 1, 20_000), rng.uniform(2, 3, 20_000)
    >>> round(dv.js_divergence(x, y), 3)  # disjoint supports: log 2 = 0.693
    0.693

    References
    ----------
    Lin, J. (1991). Divergence measures based on the Shannon entropy. IEEE Transactions
    on Information Theory 37(1), 145-151.
    """
    x, y, k = js_inputs(x, y, k, jitter, seed)
    z = np.concatenate([x, y])
    parts = {}
    for name, s in (("x", x), ("y", y), ("the pooled sample [x; y]", z)):
        eps = _core.knn(s, k, "euclidean", None, False)[0]
        check_no_zero(eps, name, k, "the same sample", (s, None))
        parts[name] = entropy_from_distances(eps, s.shape[1], k)
    n, m = x.shape[0], y.shape[0]
    return float(parts["the pooled sample [x; y]"] - (n * parts["x"] + m * parts["y"]) / (n + m))


def paired_inputs(arrays, names, k, jitter, seed):
    samples = [as_samples(a, name, min_samples=2) for a, name in zip(arrays, names, strict=True)]
    n = samples[0].shape[0]
    for s, name in zip(samples[1:], names[1:], strict=True):
        if s.shape[0] != n:
            raise ValueError(
                f"{names[0]} and {name} must have the same number of samples (paired "
                f"observations), got {n} and {s.shape[0]}"
            )
    k = check_k(k, n - 1, "the joint sample")
    samples, _ = _scale.in_range(*add_jitter(samples, check_jitter(jitter), seed))
    return samples, k


def mean_digamma(counts, shift):
    """mean(digamma(counts + shift)) of non-negative integer counts, one digamma per
    distinct count (a count is at most n and most repeat, so this is an O(n) bincount
    instead of n digamma evaluations)."""
    weights = np.bincount(counts)
    values = np.flatnonzero(weights)
    return float(digamma(values + shift) @ weights[values]) / counts.size


def ksg_counts(samples, groups, k, radius):
    """Joint k-th max-norm distances and neighbour counts in the column groups."""
    joint = np.ascontiguousarray(np.concatenate(samples, axis=1))
    eps, counts = _core.ksg_counts(joint, groups, k, radius)
    check_no_zero(eps, "the joint sample", k, "the joint space (max-norm)")
    return eps, counts


def mutual_information(x, y, *, k=3, method="ksg1", jitter=None, seed=None) -> float:
    r"""Kraskov-Stoegbauer-Grassberger estimate of the mutual information I(X; Y).

    Max-norm in the joint space and in each marginal space. With
    :math:`\varepsilon_i` the distance from :math:`(x_i, y_i)` to its k-th nearest
    joint neighbour,

    - ``"ksg1"`` (algorithm 1): :math:`n_x(i)` counts points with
      :math:`\|x_j - x_i\| < \varepsilon_i`, and
      :math:`\hat I = \psi(k) + \psi(N) - \langle \psi(n_x + 1) + \psi(n_y + 1) \rangle`;
    - ``"ksg2"`` (algorithm 2): :math:`n_x(i)` counts points with
      :math:`\|x_j - x_i\| \le \varepsilon_x(i)`, the largest x-distance to the k joint
      neighbours, and
      :math:`\hat I = \psi(k) - 1/k + \psi(N) - \langle \psi(n_x) + \psi(n_y) \rangle`.

    Exact (zero bias) for independent variables up to O(1/N) terms; the bias grows with
    the dependence (strong correlation, high d). KSG1 has smaller variance, KSG2 smaller
    bias (Kraskov et al. 2004). Not clipped at 0: small negative values are estimation
    noise. The estimate depends on the relative scaling of x and y (max-norm);
    standardise them as scikit-learn does if they are in different units.

    Parameters
    ----------
    x : array_like, shape (N, dx) or (N,)
    y : array_like, shape (N, dy) or (N,)
        Paired samples, N >= k + 1.
    k : int, default 3
    method : {"ksg1", "ksg2"}
    jitter, seed
        As in :func:`entropy`. Ties in the marginals (discrete-valued data) bias KSG;
        jitter breaks them, like scikit-learn's ``mutual_info_regression``.

    Returns
    -------
    float
        Mutual information estimate in nats.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(20_000)
    >>> y = 0.9 * x + np.sqrt(1 - 0.81) * rng.standard_normal(20_000)
    >>> round(dv.mutual_information(x, y), 2)  # -log(1 - 0.81) / 2 = 0.830
    0.83

    References
    ----------
    Kraskov, A., Stoegbauer, H. & Grassberger, P. (2004). Estimating mutual information.
    Physical Review E 69, 066138.
    """
    method = check_choice(method, "method", ("ksg1", "ksg2"))
    (x, y), k = paired_inputs([x, y], ["x", "y"], k, jitter, seed)
    dx, dy = x.shape[1], y.shape[1]
    groups = [list(range(dx)), list(range(dx, dx + dy))]
    _, counts = ksg_counts([x, y], groups, k, "joint" if method == "ksg1" else "neighbours")
    return ksg_from_counts(counts[0], counts[1], k, method)


def ksg_from_counts(cx, cy, k: int, method: str) -> float:
    """The KSG estimate from each point's marginal neighbour counts (of the other points:
    strictly within the joint k-th distance for KSG1, within the k joint neighbours'
    largest marginal distance for KSG2)."""
    n = cx.size
    if method == "ksg1":
        return float(digamma(k) + digamma(n) - mean_digamma(cx, 1) - mean_digamma(cy, 1))
    return float(digamma(k) - 1 / k + digamma(n) - mean_digamma(cx, 0) - mean_digamma(cy, 0))


def conditional_mutual_information(x, y, z, *, k=3, jitter=None, seed=None) -> float:
    r"""Frenzel-Pompe estimate of the conditional mutual information I(X; Y | Z).

    .. math::

        \hat I = \psi(k) - \langle \psi(n_{xz} + 1) + \psi(n_{yz} + 1)
                 - \psi(n_z + 1) \rangle,

    with :math:`\varepsilon_i` the max-norm distance from :math:`(x_i, y_i, z_i)` to
    its k-th nearest joint neighbour and :math:`n_{xz}(i)` the number of points
    strictly closer than :math:`\varepsilon_i` to :math:`(x_i, z_i)` in the (x, z)
    space (likewise for (y, z) and z): the KSG1 construction applied to
    I(X; Y | Z) = H(X, Z) + H(Y, Z) - H(X, Y, Z) - H(Z). Bias and variance behave as
    for :func:`mutual_information`, growing with the dimension of z.

    Parameters
    ----------
    x, y, z : array_like, shape (N, d_x), (N, d_y), (N, d_z) or (N,)
        Paired samples, N >= k + 1.
    k : int, default 3
    jitter, seed
        As in :func:`entropy`.

    Returns
    -------
    float
        Conditional mutual information estimate in nats.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> rng = np.random.default_rng(0)
    >>> z = rng.standard_normal(10_000)
    >>> x, y = z + rng.standard_normal(10_000), z + rng.standard_normal(10_000)
    >>> abs(dv.conditional_mutual_information(x, y, z)) < 0.02  # X, Y independent given Z
    True

    References
    ----------
    Frenzel, S. & Pompe, B. (2007). Partial mutual information for coupling analysis of
    multivariate time series. Physical Review Letters 99, 204101.
    """
    (x, y, z), k = paired_inputs([x, y, z], ["x", "y", "z"], k, jitter, seed)
    dx, dy, dz = x.shape[1], y.shape[1], z.shape[1]
    xs, ys, zs = list(range(dx)), list(range(dx, dx + dy)), list(range(dx + dy, dx + dy + dz))
    _, counts = ksg_counts([x, y, z], [xs + zs, ys + zs, zs], k, "joint")
    return float(digamma(k) - mean_digamma(counts[0], 1) - mean_digamma(counts[1], 1) + mean_digamma(counts[2], 1))
