"""Divergences between discrete distributions: probability vectors, or logits.

Every function works on the last axis by default (``axis=``) and broadcasts over the
leading ones, so a (B, V) batch gives B values. Inputs are probability vectors, checked
to be non-negative and to sum to 1 within 1e-8 or V eps of their dtype, whichever is
larger (``normalize=True`` renormalises
instead), or logits with ``from_logits=True`` (a stable log-softmax for any finite
logits: those beyond 2^1021 in magnitude, whose differences overflow float64, are
computed in half units by the fused kernel and in extended precision otherwise; a
divergence of logits that float64 cannot hold is a ValueError). Conventions: 0 log 0 =
0, 0 log(0/0) = 0, and p > 0 where q = 0 gives inf, without warnings. Logs are natural
unless ``base=`` is given.

Row-wise ``kl`` and ``js`` from two logit arrays of the same shape run in a fused Rust
kernel: both log-softmaxes and the divergence in two or three passes per row, float32
or float64, parallel over rows, without (B, V) temporaries.
"""

from __future__ import annotations

import inspect
import math
from typing import Callable, Literal

import numpy as np

from divergent import _core
from divergent._docs import with_sections
from divergent._scale import not_representable
from divergent._typing import ArrayLike
from divergent._validation import FLAG, REAL, Interval, InvalidParameterError, Options, real_array, validate_params

__all__ = [
    "kl",
    "js",
    "tv",
    "hellinger",
    "chi2",
    "renyi",
    "tsallis",
    "alpha_divergence",
    "f_divergence",
    "entropy",
    "cross_entropy",
]

#: How far from 1 the sum of a float64 probability vector may be.
SUM_TOL = 1e-8


def sum_tolerance(dtype, n_classes: int) -> float:
    """How far from 1 the sum of a probability vector of `dtype` may be: SUM_TOL, or the
    round-off of summing `n_classes` values in that precision (V eps: 1.2e-3 for a
    float32 softmax over 10^4 classes), whichever is larger."""
    eps = float(np.finfo(dtype).eps) if np.issubdtype(dtype, np.floating) else 0.0
    return max(SUM_TOL, n_classes * eps)


#: The parameters every function of this module declares, and the logarithm's base of
#: those that take one.
DISTRIBUTION_PARAMETERS = {"axis": Interval("int", hint="the class axis"), "from_logits": FLAG, "normalize": FLAG}
WITH_BASE = {
    **DISTRIBUTION_PARAMETERS,
    "base": (Interval("real", 0, closed="neither", hint="a logarithm's base, not 1"), None),
}


def _distribution(x, name, axis, from_logits, normalize):
    """(p, log p) as float64 with the class axis last."""
    arr = real_array(x, name)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have at least one axis of classes, got a scalar")
    if not -arr.ndim <= axis < arr.ndim:
        raise ValueError(f"axis {axis} is out of bounds for {name} with {arr.ndim} dimension(s)")
    given = arr.dtype
    arr = np.moveaxis(arr, axis, -1).astype(np.float64, copy=False)
    if arr.shape[-1] == 0:
        raise ValueError(f"{name} has an empty class axis")
    if from_logits:
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or infinite logits")
        if arr.size and np.abs(arr).max() > _WIDE_LOGITS:
            arr = _widened_logits(arr, name)
        shifted = arr - arr.max(axis=-1, keepdims=True)
        with np.errstate(under="ignore"):
            logp = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
            return np.exp(logp).astype(np.float64), logp
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity")
    if (arr < 0).any():
        raise ValueError(f"{name} has negative entries; probabilities must be >= 0 (pass logits with from_logits=True)")
    total = arr.sum(axis=-1, keepdims=True)
    if normalize:
        if not (total > 0).all():
            raise ValueError(f"{name} has a vector that sums to 0 and cannot be normalised")
        arr = arr / total
    elif not np.all(np.abs(total - 1.0) <= sum_tolerance(given, arr.shape[-1])):
        worst = float(np.max(np.abs(total - 1.0)))
        raise ValueError(
            f"{name} does not sum to 1 along axis {axis} (off by up to {worst:.3g}); pass "
            f"normalize=True to renormalise, or from_logits=True for logits"
        )
    with np.errstate(divide="ignore"):
        return arr, np.log(arr)


#: Logits above this magnitude have differences that can overflow float64 (2^1022 - (-2^1022)
#: is the largest finite one): they are computed in extended precision.
_WIDE_LOGITS = 2.0**1021


def _widened_logits(arr, name):
    """`arr` as np.longdouble, whose exponent range holds any difference of two float64s."""
    if np.finfo(np.longdouble).maxexp <= np.finfo(np.float64).maxexp + 1:
        raise ValueError(
            f"{name} has logits of magnitude above 2^1021 (largest {float(np.abs(arr).max()):.4g}), "
            f"whose differences overflow float64, and this platform's long double has no wider "
            f"range; scale the logits down or take the fused path (two logit arrays of the same shape)"
        )
    return arr.astype(np.longdouble)


def _pair(p, q, axis, from_logits, normalize):
    p, logp = _distribution(p, "p", axis, from_logits, normalize)
    q, logq = _distribution(q, "q", axis, from_logits, normalize)
    try:
        shape = np.broadcast_shapes(p.shape, q.shape)
    except ValueError:
        raise ValueError(
            f"p and q have shapes {p.shape} and {q.shape} (class axis last) that do not broadcast"
        ) from None
    return tuple(np.broadcast_to(a, shape) for a in (p, logp, q, logq))


def _out(values, base=None, from_logits=False, what="the divergence"):
    with np.errstate(over="ignore"):
        values = np.asarray(values, dtype=np.float64)
    if from_logits and np.isinf(values).any():
        # Every probability of a softmax of finite logits is positive: an infinite result
        # is one that float64 cannot hold.
        row = int(np.argwhere(np.isinf(values).reshape(-1))[0, 0]) if values.ndim else 0
        raise not_representable(
            what, f"the logits' differences reach beyond 1.8e308 (row {row} of the flattened leading axes)"
        )
    if base is not None:
        values = values / math.log(base)
    return float(values) if values.ndim == 0 else values


def _check_base(base):
    """None (nats) or a declared base other than 1, checked before any work is done."""
    if base == 1:
        raise InvalidParameterError("base must be a positive number other than 1, got 1; pass e.g. 2 for bits")
    return base


def _plogr(p, logp, logq):
    """p (log p - log q) with 0 log(0/q) = 0 and p log(p/0) = inf."""
    with np.errstate(invalid="ignore"):
        return np.where(p > 0, p * (logp - logq), 0.0)


def _fused(p, q, axis, which):
    """Row-wise divergence of two same-shape logit arrays in the Rust kernel, or None."""
    a, b = np.asarray(p), np.asarray(q)
    if a.shape != b.shape or a.ndim == 0 or a.dtype.kind not in "biuf" or b.dtype.kind not in "biuf":
        return None
    if not -a.ndim <= axis < a.ndim or a.shape[axis] == 0:
        return None  # the NumPy path raises the error
    dtype = np.float32 if a.dtype == np.float32 and b.dtype == np.float32 else np.float64
    a = np.ascontiguousarray(np.moveaxis(a, axis, -1), dtype=dtype)
    b = np.ascontiguousarray(np.moveaxis(b, axis, -1), dtype=dtype)
    lead = a.shape[:-1]
    try:
        rows = _core.rowwise_logits_divergence(a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1]), which)
    except ValueError:
        # The kernel checks finiteness as it goes; name the argument only on failure.
        for name, arr in (("p", a), ("q", b)):
            finite = np.isfinite(arr)
            if not finite.all():
                row = int(np.argwhere(~finite.reshape(-1, arr.shape[-1]))[0, 0])
                raise ValueError(
                    f"{name} contains NaN or infinite logits (row {row} of the flattened leading axes)"
                ) from None
        raise
    return rows.reshape(lead)


@validate_params(WITH_BASE)
def kl(
    p: ArrayLike,
    q: ArrayLike,
    *,
    axis: int = -1,
    from_logits: bool = False,
    normalize: bool = False,
    base: float | None = None,
) -> float | np.ndarray:
    r"""Kullback-Leibler divergence :math:`\mathrm{KL}(p \| q) = \sum_i p_i \log(p_i / q_i)`.

    Parameters
    ----------
    p, q : array_like
        Probability vectors (or logits with ``from_logits=True``) along ``axis``;
        leading axes broadcast.
    axis : int, default -1
    from_logits : bool, default False
        Treat p and q as logits (softmax applied). Two logit arrays of the same shape
        take the fused Rust path (float32 or float64, O(1) extra memory per row).
    normalize : bool, default False
        Renormalise probability vectors instead of requiring them to sum to 1.
    base : float, optional
        Logarithm base (default e: nats).

    Returns
    -------
    float or ndarray
        One value per vector; inf where p > 0 and q = 0.

    References
    ----------
    Kullback, S., Leibler, R. A. (1951). On information and sufficiency. Annals of
    Mathematical Statistics 22(1), 79-86.

    Examples
    --------
    >>> import divergent as dv
    >>> round(dv.discrete.kl([0.5, 0.5], [0.9, 0.1]), 6)
    0.510826
    """
    base = _check_base(base)
    if from_logits:
        fused = _fused(p, q, axis, "kl")
        if fused is not None:
            return _out(fused, base, from_logits, "KL(p || q)")
    return kl_numpy(p, q, axis=axis, from_logits=from_logits, normalize=normalize, base=base)


@validate_params(WITH_BASE)
def kl_numpy(p, q, *, axis=-1, from_logits=False, normalize=False, base=None):
    """:func:`kl` in NumPy only (the reference of the fused logits kernel)."""
    base = _check_base(base)
    p, logp, q, logq = _pair(p, q, axis, from_logits, normalize)
    return _out(_plogr(p, logp, logq).sum(axis=-1), base, from_logits, "KL(p || q)")


@validate_params(WITH_BASE)
def js(
    p: ArrayLike,
    q: ArrayLike,
    *,
    base: float | None = None,
    axis: int = -1,
    from_logits: bool = False,
    normalize: bool = False,
) -> float | np.ndarray:
    r"""Jensen-Shannon divergence
    :math:`\tfrac12 \mathrm{KL}(p \| m) + \tfrac12 \mathrm{KL}(q \| m)`, m = (p + q) / 2.

    Symmetric, bounded by log 2 (1 in base 2); its square root is a metric (the
    Jensen-Shannon distance of ``scipy.spatial.distance.jensenshannon``). Arguments as in
    :func:`kl`; same-shape logits take the fused Rust path.

    References
    ----------
    Lin, J. (1991). Divergence measures based on the Shannon entropy. IEEE Transactions
    on Information Theory 37(1), 145-151.

    Examples
    --------
    >>> import divergent as dv
    >>> dv.discrete.js([1, 0], [0, 1], base=2)
    1.0
    """
    base = _check_base(base)
    if from_logits:
        fused = _fused(p, q, axis, "js")
        if fused is not None:
            return _out(fused, base)
    return js_numpy(p, q, base=base, axis=axis, from_logits=from_logits, normalize=normalize)


@validate_params(WITH_BASE)
def js_numpy(p, q, *, base=None, axis=-1, from_logits=False, normalize=False):
    """:func:`js` in NumPy only (the reference of the fused logits kernel)."""
    base = _check_base(base)
    p, logp, q, logq = _pair(p, q, axis, from_logits, normalize)
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore"):
        logm = np.log(m)
    return _out(0.5 * (_plogr(p, logp, logm) + _plogr(q, logq, logm)).sum(axis=-1), base)


@validate_params(DISTRIBUTION_PARAMETERS)
def tv(
    p: ArrayLike, q: ArrayLike, *, axis: int = -1, from_logits: bool = False, normalize: bool = False
) -> float | np.ndarray:
    r"""Total variation distance :math:`\tfrac12 \sum_i |p_i - q_i|`, in [0, 1]."""
    p, _, q, _ = _pair(p, q, axis, from_logits, normalize)
    return _out(0.5 * np.abs(p - q).sum(axis=-1))


@validate_params(DISTRIBUTION_PARAMETERS)
def hellinger(
    p: ArrayLike, q: ArrayLike, *, axis: int = -1, from_logits: bool = False, normalize: bool = False
) -> float | np.ndarray:
    r"""Hellinger distance :math:`H = \sqrt{\tfrac12 \sum_i (\sqrt{p_i} - \sqrt{q_i})^2}`.

    In [0, 1], with H^2 = 1 - BC(p, q), BC = sum sqrt(p_i q_i) the Bhattacharyya
    coefficient.
    """
    p, _, q, _ = _pair(p, q, axis, from_logits, normalize)
    return _out(np.sqrt(0.5 * ((np.sqrt(p) - np.sqrt(q)) ** 2).sum(axis=-1)))


@validate_params({**DISTRIBUTION_PARAMETERS, "kind": Options(("pearson", "neyman"))})
def chi2(
    p: ArrayLike,
    q: ArrayLike,
    *,
    kind: Literal["pearson", "neyman"] = "pearson",
    axis: int = -1,
    from_logits: bool = False,
    normalize: bool = False,
) -> float | np.ndarray:
    r"""Chi-squared divergence: Pearson :math:`\sum (p - q)^2 / q` or Neyman
    :math:`\sum (p - q)^2 / p` (``kind="neyman"``); inf where the denominator is 0 and
    the numerator is not, and 0/0 terms count 0."""
    p, _, q, _ = _pair(p, q, axis, from_logits, normalize)
    den = q if kind == "pearson" else p
    num = (p - q) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(num > 0, num / den, 0.0)
    return _out(terms.sum(axis=-1))


def _log_power_sum(p, logp, logq, a):
    """log sum_{p > 0} p^a q^(1 - a), stably; a > 0 (terms with p = 0 vanish)."""
    with np.errstate(invalid="ignore"):
        e = np.where(p > 0, a * logp + (1 - a) * logq, -np.inf)
    m = e.max(axis=-1, keepdims=True)
    shift = np.where(np.isfinite(m), m, 0.0)  # +inf (q = 0, a > 1) and -inf pass through
    with np.errstate(divide="ignore", invalid="ignore"):
        return shift[..., 0] + np.log(np.exp(e - shift).sum(axis=-1))


def _expm1_scaled(log_s, log_coef: float, sign: float, what: str, argument: str):
    """sign * exp(log_coef) * (exp(log_s) - 1), computed in logs so that neither a huge
    exp(log_s) nor a coefficient below the float range spoils a representable result;
    ValueError (naming `argument`) where the true value overflows. log_s = +inf (an
    infinite divergence) gives inf."""
    log_s = np.asarray(log_s, dtype=np.float64)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        m = np.expm1(log_s)
        # log|expm1(L)|: L + log1p(-e^-L) once expm1 overflows (or nears it).
        log_abs = np.where(log_s > 700, log_s + np.log1p(-np.exp(-log_s)), np.log(np.abs(m)))
        out = sign * np.sign(m) * np.exp(log_abs + log_coef)
    overflow = np.isinf(out) & np.isfinite(log_s)
    if overflow.any():
        raise not_representable(
            f"{what}",
            f"the power sum of order {argument} overflows (log of the sum "
            f"{float(log_s[overflow].flat[0]):.4g}); use a smaller {argument} or the Renyi divergence, "
            f"which stays finite",
        )
    return np.where(m == 0, 0.0, out)


@validate_params({**WITH_BASE, "alpha": Interval("real", 0, allow_inf=True)})
def renyi(
    p: ArrayLike,
    q: ArrayLike,
    alpha: float,
    *,
    axis: int = -1,
    from_logits: bool = False,
    normalize: bool = False,
    base: float | None = None,
) -> float | np.ndarray:
    r"""Renyi divergence of order alpha,
    :math:`D_\alpha(p \| q) = \frac{1}{\alpha - 1} \log \sum_i p_i^\alpha q_i^{1 - \alpha}`.

    alpha >= 0, with the limits: alpha = 1 is :func:`kl`, alpha = 0 is
    -log q(supp p), alpha = inf is log max_i p_i / q_i. Non-decreasing in alpha.

    References
    ----------
    van Erven, T., Harremoes, P. (2014). Renyi divergence and Kullback-Leibler
    divergence. IEEE Transactions on Information Theory 60(7), 3797-3820.
    """
    base = _check_base(base)
    if alpha == 1:
        return kl(p, q, axis=axis, from_logits=from_logits, normalize=normalize, base=base)
    p, logp, q, logq = _pair(p, q, axis, from_logits, normalize)
    if alpha == 0:
        with np.errstate(divide="ignore"):
            return _out(0.0 - np.log(np.where(p > 0, q, 0.0).sum(axis=-1)), base)  # no -0.0
    if math.isinf(alpha):
        with np.errstate(invalid="ignore"):
            return _out(np.where(p > 0, logp - logq, -np.inf).max(axis=-1), base, from_logits, "the Renyi divergence")
    return _out(_log_power_sum(p, logp, logq, alpha) / (alpha - 1), base, from_logits, "the Renyi divergence")


@validate_params({**DISTRIBUTION_PARAMETERS, "alpha": Interval("real", 0, closed="neither")})
def tsallis(
    p: ArrayLike, q: ArrayLike, alpha: float, *, axis: int = -1, from_logits: bool = False, normalize: bool = False
) -> float | np.ndarray:
    r"""Tsallis relative entropy
    :math:`\frac{\sum_i p_i^\alpha q_i^{1 - \alpha} - 1}{\alpha - 1}` (alpha > 0; alpha = 1
    is :func:`kl`)."""
    if alpha == 1:
        return kl(p, q, axis=axis, from_logits=from_logits, normalize=normalize)
    p, logp, q, logq = _pair(p, q, axis, from_logits, normalize)
    log_s = _log_power_sum(p, logp, logq, alpha)
    return _out(_expm1_scaled(log_s, -math.log(abs(alpha - 1)), math.copysign(1.0, alpha - 1), "tsallis", "alpha"))


@validate_params({**DISTRIBUTION_PARAMETERS, "alpha": REAL})
def alpha_divergence(
    p: ArrayLike, q: ArrayLike, alpha: float, *, axis: int = -1, from_logits: bool = False, normalize: bool = False
) -> float | np.ndarray:
    r"""Amari's alpha-divergence
    :math:`\frac{4}{1 - \alpha^2}\left(1 - \sum_i p_i^{(1-\alpha)/2} q_i^{(1+\alpha)/2}\right)`.

    Any real alpha; alpha = -1 is KL(p || q), alpha = +1 is KL(q || p), alpha = 0 is
    4 (1 - BC) = 4 H^2.

    References
    ----------
    Amari, S. (1985). Differential-Geometrical Methods in Statistics. Springer.
    """
    if alpha == -1:
        return kl(p, q, axis=axis, from_logits=from_logits, normalize=normalize)
    if alpha == 1:
        return kl(q, p, axis=axis, from_logits=from_logits, normalize=normalize)
    p, logp, q, logq = _pair(p, q, axis, from_logits, normalize)
    a = (1 - alpha) / 2  # the sum is sum_i p^a q^(1 - a)
    if a > 0:
        log_s = _log_power_sum(p, logp, logq, a)
    else:  # a < 0: the same sum as sum_{q > 0} q^(1 - a) p^a, whose exponent is positive
        log_s = _log_power_sum(q, logq, logp, 1 - a)
    # 4 / (alpha^2 - 1) (S - 1), the coefficient in logs: alpha^2 overflows beyond 1e154.
    log_coef = math.log(4.0) - math.log(abs(1 - alpha)) - math.log(abs(1 + alpha))
    return _out(_expm1_scaled(log_s, log_coef, math.copysign(1.0, alpha * alpha - 1), "alpha_divergence", "alpha"))


@validate_params(DISTRIBUTION_PARAMETERS)
def f_divergence(
    p: ArrayLike,
    q: ArrayLike,
    f: Callable[[np.ndarray], ArrayLike],
    *,
    axis: int = -1,
    from_logits: bool = False,
    normalize: bool = False,
) -> float | np.ndarray:
    r"""The f-divergence :math:`\sum_i q_i f(p_i / q_i)` for a convex generator f with
    f(1) = 0 (e.g. ``lambda t: t * np.log(t)`` gives KL).

    ``f`` is called once on the array of ratios where q > 0. Classes with q = 0 and
    p > 0 contribute p * lim f(t)/t, taken as inf (true for KL, chi^2 and every f growing
    faster than linearly); classes with p = q = 0 contribute 0.
    """
    if not callable(f):
        raise TypeError("f must be a callable generator, e.g. lambda t: t * np.log(t)")
    p, _, q, _ = _pair(p, q, axis, from_logits, normalize)
    pos = q > 0
    t = np.where(pos, p / np.where(pos, q, 1.0), 1.0)
    ft = real_array(f(t), "f's result").astype(np.float64, copy=False)
    if ft.shape != t.shape:
        raise ValueError(f"f returned shape {ft.shape} for ratios of shape {t.shape}; f must be elementwise")
    bad = np.isnan(ft) & pos
    if bad.any():
        t_bad = float(t[bad].flat[0])
        raise ValueError(
            f"f returned NaN at the ratio t = {t_bad!r}; f must be defined on [0, inf) "
            f"(use np.where or np.errstate to set its value at 0)"
        )
    terms = np.where(pos, q * ft, np.where(p > 0, np.inf, 0.0))
    return _out(terms.sum(axis=-1))


@validate_params(WITH_BASE)
def entropy(
    p: ArrayLike, *, base: float | None = None, axis: int = -1, from_logits: bool = False, normalize: bool = False
) -> float | np.ndarray:
    r"""Shannon entropy :math:`-\sum_i p_i \log p_i` (0 log 0 = 0)."""
    base = _check_base(base)
    p, logp = _distribution(p, "p", axis, from_logits, normalize)
    with np.errstate(invalid="ignore"):  # 0 * log 0 = nan, replaced by 0
        return _out(-np.where(p > 0, p * logp, 0.0).sum(axis=-1), base)


@validate_params(WITH_BASE)
def cross_entropy(
    p: ArrayLike,
    q: ArrayLike,
    *,
    base: float | None = None,
    axis: int = -1,
    from_logits: bool = False,
    normalize: bool = False,
) -> float | np.ndarray:
    r"""Cross-entropy :math:`-\sum_i p_i \log q_i` = H(p) + KL(p || q); inf where p > 0
    and q = 0."""
    base = _check_base(base)
    p, _, q, logq = _pair(p, q, axis, from_logits, normalize)
    with np.errstate(invalid="ignore"):
        return _out(-np.where(p > 0, p * logq, 0.0).sum(axis=-1), base, from_logits, "the cross-entropy")


def _document(func, *, extra: str = "", returns: str = "") -> None:
    """Give `func` the Parameters and Returns sections every function here shares (kl's),
    with `extra` for its own parameter, in the order of its signature."""
    names = list(inspect.signature(func).parameters)
    pair = "q" in names
    vectors = "Probability vectors" if pair else "A probability vector"
    docs = {
        "p": [
            f"    {'p, q' if pair else 'p'} : array_like",
            f"        {vectors} (or logits with ``from_logits=True``) along ``axis``; leading axes",
            "        broadcast.",
        ],
        "axis": ["    axis : int, default -1", "        The axis of the classes."],
        "from_logits": ["    from_logits : bool, default False", "        Treat the input as logits (softmax)."],
        "normalize": [
            "    normalize : bool, default False",
            "        Renormalise probability vectors instead of requiring them to sum to 1.",
        ],
        "base": ["    base : float, optional", "        Logarithm base (default e: nats)."],
    }
    lines = ["    Parameters", "    ----------"]
    for name in names:
        if name in docs:
            lines += docs[name]
        elif name != "q":
            lines.append(extra.rstrip("\n"))
    lines += ["", "    Returns", "    -------", "    float or ndarray", f"        One value per vector{returns}."]
    func.__doc__ = with_sections(func.__doc__, "\n".join(lines))


_ALPHA = "    alpha : float\n        The order."
_document(js)
_document(tv, returns=", in [0, 1]")
_document(hellinger, returns=", in [0, 1]")
_document(chi2, extra='    kind : {"pearson", "neyman"}, default "pearson"\n        The denominator: q or p.')
_document(renyi, extra=_ALPHA)
_document(tsallis, extra=_ALPHA)
_document(alpha_divergence, extra=_ALPHA)
_document(
    f_divergence,
    extra="    f : callable\n        The convex generator, called on an array of ratios p / q, returning an array.",
)
_document(entropy)
_document(cross_entropy, returns="; inf where p > 0 and q = 0")
