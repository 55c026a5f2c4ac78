"""Closed-form divergences between multivariate Gaussians N(m, S).

Means have shape (..., d); covariances are full, (..., d, d), or diagonal, given as the
(..., d) variances (a scalar is an isotropic variance). An array whose last two axes are
(d, d) is always read as covariance matrices, so a batch of exactly d variance vectors
must be passed as diagonal matrices. Leading axes broadcast, so
batches of Gaussians give arrays of values. Every covariance is checked to be symmetric
positive definite, with the offending argument named. Logs are natural.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from divergent._docs import with_sections
from divergent._scale import in_range, not_representable
from divergent._typing import ArrayLike
from divergent._validation import COUNT, FLAG, POSITIVE, InvalidParameterError, real_array, validate_params

__all__ = [
    "kl",
    "renyi",
    "hellinger",
    "bhattacharyya",
    "wasserstein2",
    "entropy",
    "mutual_information",
    "mmd",
    "cauchy_schwarz",
]


def _real(x, name):
    arr = real_array(x, name).astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


def _float_range(func):
    """Run `func` with NumPy's overflow warnings off: its result is checked instead (a
    divergence between Gaussians with finite parameters is finite, so an infinite or NaN
    result means float64's range was left, and `_out` says so)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with np.errstate(over="ignore", invalid="ignore"):
            return func(*args, **kwargs)

    return wrapper


def _cov(S, d, name, *, psd=False):
    """Full (..., d, d) covariance from full, diagonal (..., d) or scalar input; SPD
    checked, or with `psd` positive semi-definite (eigenvalues >= 0 up to round-off)."""
    S = _real(S, name)
    if S.ndim == 0:
        S = S * np.eye(d)
    elif S.ndim >= 2 and S.shape[-2:] == (d, d):
        pass  # a trailing (d, d) is always a covariance matrix
    elif S.shape[-1] == d:
        if (S < 0).any() or (not psd and (S == 0).any()):
            raise ValueError(f"{name} (diagonal variances) must be {'non-negative' if psd else 'positive'}")
        S = S[..., :, None] * np.eye(d)
    else:
        raise ValueError(
            f"{name} has shape {S.shape}; for means of dimension {d} expected a covariance "
            f"(..., {d}, {d}), variances (..., {d}) or a scalar"
        )
    if not np.allclose(S, np.swapaxes(S, -1, -2), rtol=1e-10, atol=1e-12 * np.abs(S).max()):
        raise ValueError(f"{name} is not symmetric")
    # Semi-definite: Cholesky of S + delta I with delta a few hundred d eps of the
    # largest variance accepts rank deficiency and eigenvalues negative by round-off
    # (sample covariances with n < d), not an indefinite matrix (a tenth of an eigen-
    # decomposition's cost).
    shift = 0.0
    if psd:
        top = np.abs(np.diagonal(S, axis1=-2, axis2=-1)).max(axis=-1, keepdims=True)[..., None]
        shift = 256 * d * np.finfo(np.float64).eps * np.where(top > 0, top, 1.0) * np.eye(d)
    try:
        np.linalg.cholesky(S + shift)
    except np.linalg.LinAlgError:
        kind = "semi-definite" if psd else "definite"
        raise ValueError(f"{name} is not positive {kind} (a covariance must be symmetric positive {kind})") from None
    return S


def _pair(m0, S0, m1, S1, *, psd=False):
    """Broadcast two Gaussians to common batch shape: (m0, S0, m1, S1, d)."""
    m0, m1 = np.atleast_1d(_real(m0, "m0")), np.atleast_1d(_real(m1, "m1"))
    for name, m in (("m0", m0), ("m1", m1)):
        if m.shape[-1] == 0:
            raise ValueError(f"{name} is empty (shape {m.shape}); a mean needs at least one coordinate")
    d = m0.shape[-1]
    if m1.shape[-1] != d:
        raise ValueError(f"m0 and m1 have dimensions {d} and {m1.shape[-1]}; they must match")
    S0 = _cov(S0, d, "S0", psd=psd)
    S1 = _cov(S1, d, "S1", psd=psd)
    try:
        batch = np.broadcast_shapes(m0.shape[:-1], S0.shape[:-2], m1.shape[:-1], S1.shape[:-2])
    except ValueError:
        raise ValueError(
            f"batch shapes of m0 {m0.shape}, S0 {S0.shape}, m1 {m1.shape}, S1 {S1.shape} do not broadcast"
        ) from None
    m0, m1 = np.broadcast_to(m0, batch + (d,)), np.broadcast_to(m1, batch + (d,))
    S0, S1 = np.broadcast_to(S0, batch + (d, d)), np.broadcast_to(S1, batch + (d, d))
    return m0, S0, m1, S1, d


def _out(v, what: str, infinite=None):
    """`v` as a float or array, after checking that it is finite (or inf where the mask
    `infinite` says the divergence is)."""
    v = np.asarray(v, dtype=np.float64)
    bad = ~np.isfinite(v) if infinite is None else ~np.isfinite(v) & ~infinite
    if bad.any():
        raise not_representable(
            what,
            "the means or covariances are so far apart (or so different in scale) "
            "that it overflows; bring them to a common scale first",
        )
    return float(v) if v.ndim == 0 else v


def _logdet(S):
    return 2.0 * np.log(np.diagonal(np.linalg.cholesky(S), axis1=-2, axis2=-1)).sum(axis=-1)


def _quad(S, v):
    """v' S^-1 v."""
    return np.einsum("...i,...i->...", v, np.linalg.solve(S, v[..., None])[..., 0])


_PAIR = """
    Parameters
    ----------
    m0 : array_like, shape (..., d)
        The mean of the first Gaussian (a scalar for d = 1); leading axes broadcast, for
        batches of pairs.
    S0 : array_like, shape (..., d, d), (..., d) or scalar
        Its covariance: a full matrix, variances (a diagonal), or one variance (an
        isotropic Gaussian); symmetric positive definite, checked.
    m1, S1 : array_like
        The mean and covariance of the second Gaussian, as m0 and S0.{extra}

    Returns
    -------
    float or ndarray
        The value, or an array of the broadcast batch shape.
"""


def _document(func, extra: str = ""):
    func.__doc__ = with_sections(func.__doc__, _PAIR.replace("{extra}", "\n" + extra if extra else ""))
    return func


@_float_range
def kl(m0: ArrayLike, S0: ArrayLike, m1: ArrayLike, S1: ArrayLike) -> float | np.ndarray:
    r"""KL(N(m0, S0) || N(m1, S1)) =
    :math:`\tfrac12 [\operatorname{tr}(S_1^{-1} S_0) + \Delta^\top S_1^{-1} \Delta - d
    + \log\det S_1 - \log\det S_0]`, :math:`\Delta = m_1 - m_0`.

    Examples
    --------
    >>> import divergent as dv
    >>> dv.gaussian.kl(0.0, 1.0, 1.0, 1.0)
    0.5
    """
    m0, S0, m1, S1, d = _pair(m0, S0, m1, S1)
    delta = m1 - m0
    trace = np.trace(np.linalg.solve(S1, S0), axis1=-2, axis2=-1)
    return _out(0.5 * (trace + _quad(S1, delta) - d + _logdet(S1) - _logdet(S0)), "kl")


@validate_params({"alpha": POSITIVE})
@_float_range
def renyi(m0: ArrayLike, S0: ArrayLike, m1: ArrayLike, S1: ArrayLike, alpha: float) -> float | np.ndarray:
    r"""Renyi divergence of order alpha between N(m0, S0) and N(m1, S1):

    .. math::

        D_\alpha = \frac{\alpha}{2} \Delta^\top S_\alpha^{-1} \Delta
        - \frac{1}{2(\alpha - 1)} \log \frac{\det S_\alpha}{\det S_0^{1-\alpha} \det S_1^\alpha},
        \qquad S_\alpha = \alpha S_1 + (1 - \alpha) S_0.

    alpha > 0, alpha != 1 (use :func:`kl`). For alpha > 1 the divergence is finite only
    while S_alpha is positive definite; otherwise the integral diverges and the result
    is inf.

    References
    ----------
    Gil, M., Alajaji, F., Linder, T. (2013). Renyi divergence measures for commonly used
    univariate continuous distributions. Information Sciences 249, 124-131.
    """
    if alpha == 1:
        raise InvalidParameterError("alpha = 1 is the KL divergence: use divergent.gaussian.kl")
    m0, S0, m1, S1, d = _pair(m0, S0, m1, S1)
    Sa = alpha * S1 + (1 - alpha) * S0
    eig_min = np.linalg.eigvalsh(Sa)[..., 0]
    valid = eig_min > 0
    Sa_safe = np.where(valid[..., None, None], Sa, np.eye(d))
    delta = m1 - m0
    value = 0.5 * alpha * _quad(Sa_safe, delta) - (
        _logdet(Sa_safe) - (1 - alpha) * _logdet(S0) - alpha * _logdet(S1)
    ) / (2 * (alpha - 1))
    return _out(np.where(valid, value, np.inf), "renyi", infinite=~valid)


@_float_range
def bhattacharyya(m0: ArrayLike, S0: ArrayLike, m1: ArrayLike, S1: ArrayLike) -> float | np.ndarray:
    r"""Bhattacharyya distance
    :math:`\tfrac18 \Delta^\top S^{-1} \Delta + \tfrac12 \log \frac{\det S}{\sqrt{\det S_0 \det S_1}}`,
    S = (S0 + S1) / 2 (half the Renyi divergence of order 1/2)."""
    m0, S0, m1, S1, d = _pair(m0, S0, m1, S1)
    S = 0.5 * (S0 + S1)
    delta = m1 - m0
    return _out(_quad(S, delta) / 8 + 0.5 * (_logdet(S) - 0.5 * _logdet(S0) - 0.5 * _logdet(S1)), "bhattacharyya")


@_float_range
def hellinger(m0: ArrayLike, S0: ArrayLike, m1: ArrayLike, S1: ArrayLike) -> float | np.ndarray:
    r"""Hellinger distance :math:`\sqrt{1 - BC}`, BC = exp(-Bhattacharyya distance)."""
    m0, S0, m1, S1, _ = _pair(m0, S0, m1, S1)
    S = 0.5 * (S0 + S1)
    b = _quad(S, m1 - m0) / 8 + 0.5 * (_logdet(S) - 0.5 * _logdet(S0) - 0.5 * _logdet(S1))
    # Means far apart: b overflows to inf, and the distance is its limit 1.
    return _out(np.sqrt(-np.expm1(-np.where(np.isnan(b), np.inf, b))), "hellinger")


@validate_params({"squared": FLAG})
@_float_range
def wasserstein2(
    m0: ArrayLike, S0: ArrayLike, m1: ArrayLike, S1: ArrayLike, *, squared: bool = False
) -> float | np.ndarray:
    r"""2-Wasserstein distance between Gaussians (the Bures-Wasserstein formula):

    .. math::

        W_2^2 = |m_0 - m_1|^2 + \operatorname{tr}\left(S_0 + S_1
        - 2 (S_0^{1/2} S_1 S_0^{1/2})^{1/2}\right),

    with both square roots from symmetric eigendecompositions (so no complex square
    root of a non-symmetric product appears). Covariances may be positive
    semi-definite: rank-deficient sample covariances (n < d) are normal for feature
    embeddings. Returns W2, or W2^2 with ``squared=True``; ``divergent.metrics.fid`` is
    W2^2 of Gaussian fits.

    References
    ----------
    Dowson, D. C., Landau, B. V. (1982). The Frechet distance between multivariate normal
    distributions. Journal of Multivariate Analysis 12(3), 450-455.
    """
    m0, S0, m1, S1, d = _pair(m0, S0, m1, S1, psd=True)
    # W2 is homogeneous (degree 1 in the means, 1/2 in the covariances): the mean and
    # covariance parts are computed apart, each on its inputs divided by a power of two
    # where squares or products would leave the float range, and combined by hypot.
    (m0s, m1s), em = in_range(m0, m1)
    mean_part = np.ldexp(np.sqrt(((m0s - m1s) ** 2).sum(axis=-1)), em)
    (S0s, S1s), es = in_range(S0, S1)
    w, V = np.linalg.eigh(S0s)
    root0 = (V * np.sqrt(np.clip(w, 0, None))[..., None, :]) @ np.swapaxes(V, -1, -2)
    M = root0 @ S1s @ root0
    ev = np.clip(np.linalg.eigvalsh(0.5 * (M + np.swapaxes(M, -1, -2))), 0, None)
    trace = np.trace(S0s, axis1=-2, axis2=-1) + np.trace(S1s, axis1=-2, axis2=-1) - 2 * np.sqrt(ev).sum(axis=-1)
    # trace >= 0 in exact arithmetic; clip round-off below zero. sqrt(trace * 2^es),
    # with the odd bit of es kept inside the root.
    cov_part = np.ldexp(np.sqrt(np.ldexp(np.clip(trace, 0, None), es % 2)), es // 2)
    w2 = np.hypot(mean_part, cov_part)
    return _out(w2 * w2 if squared else w2, "wasserstein2 (squared)" if squared else "wasserstein2")


@_float_range
def entropy(S: ArrayLike) -> float | np.ndarray:
    r"""Differential entropy of N(m, S): :math:`\tfrac12 \log\det(2 \pi e S)` nats."""
    S = _real(S, "S")
    if S.ndim <= 1:
        S = _cov(S, max(S.size, 1), "S")
    else:
        S = _cov(S, S.shape[-1], "S")
    d = S.shape[-1]
    return _out(0.5 * (d * math.log(2 * math.pi * math.e) + _logdet(S)), "entropy")


@validate_params({"dx": COUNT})
@_float_range
def mutual_information(S: ArrayLike, dx: int) -> float | np.ndarray:
    r"""Mutual information between the first ``dx`` coordinates and the rest of a Gaussian
    with joint covariance S: :math:`\tfrac12 \log \frac{\det S_{xx} \det S_{yy}}{\det S}`."""
    S = _real(S, "S")
    if S.ndim < 2 or S.shape[-1] != S.shape[-2]:
        raise ValueError(f"S must be a (..., d, d) covariance, got shape {S.shape}")
    d = S.shape[-1]
    if dx >= d:
        raise InvalidParameterError(
            f"dx must be an integer in (0, {d}), got {dx!r}; the first dx of the d = {d} coordinates"
        )
    S = _cov(S, d, "S")
    return _out(0.5 * (_logdet(S[..., :dx, :dx]) + _logdet(S[..., dx:, dx:]) - _logdet(S)), "mutual_information")


def _gauss_kernel_mean(S, delta, h):
    """E exp(-|Z|^2 / (2 h^2)) for Z ~ N(delta, S): det(I + S/h^2)^(-1/2) exp(-delta'(S + h^2 I)^-1 delta / 2)."""
    d = S.shape[-1]
    Sh = S + h * h * np.eye(d)
    return np.exp(-0.5 * (_logdet(Sh) - 2 * d * math.log(h)) - 0.5 * _quad(Sh, delta))


@validate_params({"bandwidth": POSITIVE})
@_float_range
def mmd(m0: ArrayLike, S0: ArrayLike, m1: ArrayLike, S1: ArrayLike, bandwidth: float) -> float | np.ndarray:
    r"""Population MMD^2 between N(m0, S0) and N(m1, S1) for the Gaussian kernel
    exp(-|x - y|^2 / (2 h^2)): E k(X, X') + E k(Y, Y') - 2 E k(X, Y), each term
    :math:`\det(I + S/h^2)^{-1/2} \exp(-\tfrac12 \Delta^\top (S + h^2 I)^{-1} \Delta)`
    for the difference of the two variables ~ N(Delta, S). The value
    :func:`divergent.mmd` estimates."""
    h = bandwidth
    m0, S0, m1, S1, d = _pair(m0, S0, m1, S1)
    zero = np.zeros_like(m0)
    kxx = _gauss_kernel_mean(2 * S0, zero, h)
    kyy = _gauss_kernel_mean(2 * S1, zero, h)
    kxy = _gauss_kernel_mean(S0 + S1, m1 - m0, h)
    return _out(kxx + kyy - 2 * kxy, "mmd")


@_float_range
def cauchy_schwarz(m0: ArrayLike, S0: ArrayLike, m1: ArrayLike, S1: ArrayLike) -> float | np.ndarray:
    r"""Cauchy-Schwarz divergence :math:`-\log \frac{\langle p, q\rangle^2}{\langle p, p\rangle
    \langle q, q\rangle}` of two Gaussians, with
    :math:`\langle p, q \rangle = \mathcal N(m_0; m_1, S_0 + S_1)`."""
    m0, S0, m1, S1, d = _pair(m0, S0, m1, S1)

    def log_normal_at(delta, S):
        return -0.5 * (d * math.log(2 * math.pi) + _logdet(S) + _quad(S, delta))

    zero = np.zeros_like(m0)
    return _out(
        -2 * log_normal_at(m1 - m0, S0 + S1) + log_normal_at(zero, 2 * S0) + log_normal_at(zero, 2 * S1),
        "cauchy_schwarz",
    )


for _f in (kl, hellinger, bhattacharyya, cauchy_schwarz):
    _document(_f)
_document(renyi, "    alpha : float\n        The order, > 0 and != 1.")
_document(
    wasserstein2,
    "    squared : bool, default False\n        Return W2^2 instead of W2. Covariances may be positive semi-definite.",
)
_document(mmd, "    bandwidth : float\n        The Gaussian kernel's h > 0.")
entropy.__doc__ = with_sections(
    entropy.__doc__,
    """
    Parameters
    ----------
    S : array_like, shape (..., d, d), (d,) or scalar
        A covariance, variances, or one variance; symmetric positive definite.

    Returns
    -------
    float or ndarray
        The entropy in nats, or an array of the batch shape.
""",
)
mutual_information.__doc__ = with_sections(
    mutual_information.__doc__,
    """
    Parameters
    ----------
    S : array_like, shape (..., d, d)
        The joint covariance of (x, y), x the first ``dx`` coordinates.
    dx : int
        The dimension of x, 1 <= dx < d.

    Returns
    -------
    float or ndarray
        The mutual information in nats, or an array of the batch shape.
""",
)
