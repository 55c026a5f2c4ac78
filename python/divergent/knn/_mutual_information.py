"""KSG estimators of mutual information and conditional mutual information."""

from __future__ import annotations

from typing import Literal

import numpy as np

from divergent import _core, _scale
from divergent._special import digamma
from divergent._typing import ArrayLike, Seed
from divergent._validation import as_samples, validate_params
from divergent.knn._common import KNN_PARAMETERS, KSG_METHODS, add_jitter, check_k, check_no_zero, jitter_scale


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
    samples, _ = _scale.in_range(*add_jitter(samples, jitter_scale(jitter), seed))
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


@validate_params({**KNN_PARAMETERS, "method": KSG_METHODS})
def mutual_information(
    x: ArrayLike,
    y: ArrayLike,
    *,
    k: int = 3,
    method: Literal["ksg1", "ksg2"] = "ksg1",
    jitter: bool | float | None = None,
    seed: Seed = None,
) -> float:
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

    References
    ----------
    Kraskov, A., Stoegbauer, H. & Grassberger, P. (2004). Estimating mutual information.
    Physical Review E 69, 066138.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(20_000)
    >>> y = 0.9 * x + np.sqrt(1 - 0.81) * rng.standard_normal(20_000)
    >>> round(dv.mutual_information(x, y), 2)  # -log(1 - 0.81) / 2 = 0.830
    0.83
    """
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


@validate_params(KNN_PARAMETERS)
def conditional_mutual_information(
    x: ArrayLike, y: ArrayLike, z: ArrayLike, *, k: int = 3, jitter: bool | float | None = None, seed: Seed = None
) -> float:
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

    References
    ----------
    Frenzel, S. & Pompe, B. (2007). Partial mutual information for coupling analysis of
    multivariate time series. Physical Review Letters 99, 204101.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> rng = np.random.default_rng(0)
    >>> z = rng.standard_normal(10_000)
    >>> x, y = z + rng.standard_normal(10_000), z + rng.standard_normal(10_000)
    >>> abs(dv.conditional_mutual_information(x, y, z)) < 0.02  # X, Y independent given Z
    True
    """
    (x, y, z), k = paired_inputs([x, y, z], ["x", "y", "z"], k, jitter, seed)
    dx, dy, dz = x.shape[1], y.shape[1], z.shape[1]
    xs, ys, zs = list(range(dx)), list(range(dx, dx + dy)), list(range(dx + dy, dx + dy + dz))
    _, counts = ksg_counts([x, y, z], [xs + zs, ys + zs, zs], k, "joint")
    return float(digamma(k) - mean_digamma(counts[0], 1) - mean_digamma(counts[1], 1) + mean_digamma(counts[2], 1))
