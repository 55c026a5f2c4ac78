"""The public functions of divergent.logits."""

from __future__ import annotations

import warnings
from typing import Literal, NamedTuple

import numpy as np

from divergent._typing import ArrayLike, Reduction
from divergent._validation import InvalidParameterError, Options, real_array, validate_params
from divergent.logits._divergences import ALPHA, BETA, divergence, kl_and_top
from divergent.logits._inputs import LOGITS_PARAMETERS, REDUCTIONS, position, read_mask, reduce

_PAIR_LOGITS = """    p_logits, q_logits : array_like, shape (..., V)
        Logits of the two models (float16, bfloat16, float32 or float64; -inf for a
        banned token); leading shapes broadcast, vocabularies must match.
"""
_ONE_LOGITS = """    p_logits : array_like, shape (..., V)
        Logits of the model (float16, bfloat16, float32 or float64; -inf for a banned
        token).
"""

_COMMON = (
    """
    Parameters
    ----------
"""
    + _PAIR_LOGITS
    + """{extra}    temperature : float, default 1.0
        Divides both logits before the softmax.
    mask : array of bool, shape (...), optional
        True where a position counts; masked positions are not computed.
    reduction : {"mean", "none", "sum", "batchmean"}, default "mean"
        Mean over the unmasked positions, the values per position (0 where masked), their
        sum, or the sum divided by the size of the first leading axis (torch's
        ``"batchmean"``).
    top_k : int, optional
        Keep only p's k most probable tokens (1 <= k <= V; all of a tie at the k-th
        logit), renormalised: the others become banned tokens of p (logit -inf).
    top_p : float, optional
        Keep only the smallest set of p's most probable tokens whose probability reaches
        top_p (0 < top_p <= 1; nucleus truncation, after top_k where both are given),
        renormalised. q is never truncated, so KL(p || q) stays finite.

    Returns
    -------
    float or ndarray of float64
        A float, or an array of the leading shape with ``reduction="none"`` (a float for
        1-D logits).

"""
)


def _doc(text: str, extra: str = "", one: bool = False) -> str:
    """`text` with its ``{common}`` line replaced by the shared sections (for one array of
    logits with `one`), ending as numpydoc wants (no blank line before the quotes)."""
    common = _COMMON.replace("{extra}", extra)
    if one:
        common = common.replace(_PAIR_LOGITS, _ONE_LOGITS)
    text = text.replace("    {common}\n", common)
    return text.rstrip() + "\n    "


@validate_params(LOGITS_PARAMETERS)
def kl(
    p_logits: ArrayLike,
    q_logits: ArrayLike,
    *,
    temperature: float = 1.0,
    mask: ArrayLike | None = None,
    reduction: Reduction = "mean",
    top_k: int | None = None,
    top_p: float | None = None,
) -> float | np.ndarray:
    """Kullback-Leibler divergence KL(p || q) = sum_i p_i (log p_i - log q_i), in nats.

    The forward KL of distillation and of quantisation reports (llama.cpp's
    ``--kl-divergence``): p is the reference (teacher, original model), q the model
    compared to it. +inf where q bans a token that p does not (with a RuntimeWarning).
    {common}
    References
    ----------
    Kullback, S., Leibler, R. A. (1951). On information and sufficiency. Annals of
    Mathematical Statistics 22(1), 79-86.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> p = np.log([[0.5, 0.5], [0.9, 0.1]])
    >>> dv.logits.kl(p, np.log([0.9, 0.1]), reduction="none").round(6)
    array([0.510826, 0.      ])
    """
    return divergence(
        "kl",
        p_logits,
        q_logits,
        temperature=temperature,
        mask=mask,
        reduction=reduction,
        top_k=top_k,
        top_p=top_p,
        what="KL(p || q)",
    )


@validate_params(LOGITS_PARAMETERS)
def reverse_kl(
    p_logits: ArrayLike,
    q_logits: ArrayLike,
    *,
    temperature: float = 1.0,
    mask: ArrayLike | None = None,
    reduction: Reduction = "mean",
    top_k: int | None = None,
    top_p: float | None = None,
) -> float | np.ndarray:
    """Reverse Kullback-Leibler divergence KL(q || p) = sum_i q_i (log q_i - log p_i).

    The mode-seeking direction of distillation (q the student): ``kl`` with the
    arguments exchanged, from the same pass.
    {common}
    """
    return divergence(
        "reverse_kl",
        p_logits,
        q_logits,
        temperature=temperature,
        mask=mask,
        reduction=reduction,
        top_k=top_k,
        top_p=top_p,
        what="KL(q || p)",
    )


@validate_params(LOGITS_PARAMETERS)
def js(
    p_logits: ArrayLike,
    q_logits: ArrayLike,
    *,
    temperature: float = 1.0,
    mask: ArrayLike | None = None,
    reduction: Reduction = "mean",
    top_k: int | None = None,
    top_p: float | None = None,
) -> float | np.ndarray:
    """Jensen-Shannon divergence (KL(p || m) + KL(q || m)) / 2, m = (p + q) / 2, in nats.

    Symmetric, finite (at most log 2) even where one model bans a token the other does
    not; computed as sum p log(2p / (p + q)) + q log(2q / (p + q)), which stays accurate
    when p is close to q. ``generalized_js`` with beta = 0.5.
    {common}
    References
    ----------
    Lin, J. (1991). Divergence measures based on the Shannon entropy. IEEE Transactions
    on Information Theory 37(1), 145-151.
    """
    return divergence(
        "js", p_logits, q_logits, temperature=temperature, mask=mask, reduction=reduction, top_k=top_k, top_p=top_p
    )


@validate_params({**LOGITS_PARAMETERS, "beta": BETA})
def generalized_js(
    p_logits: ArrayLike,
    q_logits: ArrayLike,
    beta: float,
    *,
    temperature: float = 1.0,
    mask: ArrayLike | None = None,
    reduction: Reduction = "mean",
    top_k: int | None = None,
    top_p: float | None = None,
) -> float | np.ndarray:
    """Generalised Jensen-Shannon divergence of GKD,
    beta KL(p || m) + (1 - beta) KL(q || m) with m = beta p + (1 - beta) q, 0 < beta < 1.

    beta = 0.5 is ``js``; as beta -> 0 the value divided by beta tends to KL(p || q), as
    beta -> 1 the value divided by 1 - beta to KL(q || p) (Agarwal et al., Section 3).
    {common}
    References
    ----------
    Agarwal, R., et al. (2024). On-policy distillation of language models: learning from
    self-generated mistakes. ICLR.
    """
    return divergence(
        "generalized_js",
        p_logits,
        q_logits,
        temperature=temperature,
        mask=mask,
        reduction=reduction,
        top_k=top_k,
        top_p=top_p,
        params={"beta": beta},
    )


@validate_params(LOGITS_PARAMETERS)
def tv(
    p_logits: ArrayLike,
    q_logits: ArrayLike,
    *,
    temperature: float = 1.0,
    mask: ArrayLike | None = None,
    reduction: Reduction = "mean",
    top_k: int | None = None,
    top_p: float | None = None,
) -> float | np.ndarray:
    """Total variation distance (1/2) sum_i |p_i - q_i|, in [0, 1].
    {common}
    """
    return divergence(
        "tv", p_logits, q_logits, temperature=temperature, mask=mask, reduction=reduction, top_k=top_k, top_p=top_p
    )


@validate_params(LOGITS_PARAMETERS)
def hellinger(
    p_logits: ArrayLike,
    q_logits: ArrayLike,
    *,
    temperature: float = 1.0,
    mask: ArrayLike | None = None,
    reduction: Reduction = "mean",
    top_k: int | None = None,
    top_p: float | None = None,
) -> float | np.ndarray:
    """Hellinger distance sqrt((1/2) sum_i (sqrt p_i - sqrt q_i)^2), in [0, 1]
    (``divergent.discrete.hellinger``'s convention).
    {common}
    """
    return divergence(
        "hellinger",
        p_logits,
        q_logits,
        temperature=temperature,
        mask=mask,
        reduction=reduction,
        top_k=top_k,
        top_p=top_p,
    )


@validate_params({**LOGITS_PARAMETERS, "alpha": ALPHA})
def renyi(
    p_logits: ArrayLike,
    q_logits: ArrayLike,
    alpha: float,
    *,
    temperature: float = 1.0,
    mask: ArrayLike | None = None,
    reduction: Reduction = "mean",
    top_k: int | None = None,
    top_p: float | None = None,
) -> float | np.ndarray:
    """Renyi divergence of order alpha, 1/(alpha - 1) log sum_i p_i^alpha q_i^(1 - alpha).

    alpha >= 0, with the limits: 0 is -log q(supp p), 1 is ``kl``, inf is
    log max_i p_i / q_i. Non-decreasing in alpha; +inf for alpha >= 1 where q bans a
    token that p does not.
    {common}
    References
    ----------
    van Erven, T., Harremoes, P. (2014). Renyi divergence and Kullback-Leibler
    divergence. IEEE Transactions on Information Theory 60(7), 3797-3820.
    """
    return divergence(
        "renyi",
        p_logits,
        q_logits,
        temperature=temperature,
        mask=mask,
        reduction=reduction,
        top_k=top_k,
        top_p=top_p,
        params={"alpha": alpha},
        what="the Renyi divergence",
    )


@validate_params(LOGITS_PARAMETERS)
def cross_entropy(
    p_logits: ArrayLike,
    q_logits: ArrayLike,
    *,
    temperature: float = 1.0,
    mask: ArrayLike | None = None,
    reduction: Reduction = "mean",
    top_k: int | None = None,
    top_p: float | None = None,
) -> float | np.ndarray:
    """Cross-entropy -sum_i p_i log q_i = H(p) + KL(p || q), in nats: the distillation
    loss with soft targets p.
    {common}
    """
    return divergence(
        "cross_entropy",
        p_logits,
        q_logits,
        temperature=temperature,
        mask=mask,
        reduction=reduction,
        top_k=top_k,
        top_p=top_p,
        what="the cross-entropy",
    )


@validate_params(LOGITS_PARAMETERS)
def entropy(
    p_logits: ArrayLike,
    *,
    temperature: float = 1.0,
    mask: ArrayLike | None = None,
    reduction: Reduction = "mean",
    top_k: int | None = None,
    top_p: float | None = None,
) -> float | np.ndarray:
    """Shannon entropy -sum_i p_i log p_i of softmax(p_logits / temperature), in nats.
    {common}
    """
    return divergence(
        "entropy", p_logits, None, temperature=temperature, mask=mask, reduction=reduction, top_k=top_k, top_p=top_p
    )


for _f in (kl, reverse_kl, js, tv, hellinger, cross_entropy):
    _f.__doc__ = _doc(_f.__doc__)
entropy.__doc__ = _doc(entropy.__doc__, one=True)
generalized_js.__doc__ = _doc(
    generalized_js.__doc__, "    beta : float\n        The weight of p in the mixture, 0 < beta < 1.\n"
)
renyi.__doc__ = _doc(renyi.__doc__, "    alpha : float\n        The order, >= 0 (inf allowed).\n")


class Agreement(NamedTuple):
    """How often two models agree on the most probable token, and by how much they differ
    in its probability (floats, or arrays of the leading shape with ``reduction="none"``)."""

    #: The rate at which argmax p = argmax q (0 or 1 per position).
    top1: float | np.ndarray
    #: The mean of |p(t) - q(t)|, t = argmax p (the first of tied logits, as np.argmax).
    delta_p: float | np.ndarray


@validate_params(LOGITS_PARAMETERS)
def agreement(
    p_logits: ArrayLike,
    q_logits: ArrayLike,
    *,
    temperature: float = 1.0,
    mask: ArrayLike | None = None,
    reduction: Reduction = "mean",
    top_k: int | None = None,
    top_p: float | None = None,
) -> Agreement:
    """Top-1 agreement of two models and the change in the top token's probability.

    At each position t = argmax p (p's most probable token): ``top1`` is 1 where q's most
    probable token is t too, and ``delta_p`` is |p(t) - q(t)|; both are reduced over the
    positions as ``reduction`` says (``"mean"``: the agreement rate and the mean absolute
    change). Found in the same pass of the fused kernel as KL(p || q).
    {common}
    Returns
    -------
    Agreement
        The named pair ``(top1, delta_p)``.
    """
    (_, agree, p_top, q_at), mask, lead = kl_and_top(
        p_logits, q_logits, temperature=temperature, mask=mask, top_k=top_k, top_p=top_p, warn=False
    )
    return Agreement(reduce(agree, mask, reduction, lead), reduce(np.abs(p_top - q_at), mask, reduction, lead))


agreement.__doc__ = agreement.__doc__.replace(
    "    {common}\n", _COMMON[: _COMMON.index("    Returns")].replace("{extra}", "")
)


ESTIMATORS = ("k1", "k2", "k3")


@validate_params({"estimator": Options(ESTIMATORS), "reduction": Options((*REDUCTIONS, "sequence"))})
def kl_from_logprobs(
    logp: ArrayLike,
    logq: ArrayLike,
    estimator: Literal["k1", "k2", "k3"] = "k3",
    mask: ArrayLike | None = None,
    reduction: Reduction | Literal["sequence"] = "none",
) -> float | np.ndarray:
    r"""KL(p || q) estimated from the log-probabilities of tokens sampled from p: the KL
    penalty of RLHF.

    With log r = log q(x) - log p(x) at a token x ~ p:

    - ``"k1"``: -log r = log p - log q. Unbiased; its variance is that of the log-ratio,
      large where the models differ, and single values are negative half the time.
    - ``"k2"``: (log r)^2 / 2. Biased (its mean is an f-divergence that agrees with KL to
      second order as q -> p), always >= 0, with low variance.
    - ``"k3"``: (r - 1) - log r. Unbiased (E_p[r] = 1) and always >= 0, with a variance
      below k1's when q is close to p; heavy-tailed when q gives far more mass than p.

    Parameters
    ----------
    logp, logq : array_like of float, same shape
        log p(x) and log q(x) of the sampled tokens (finite logp: the tokens were drawn
        from p; logq may be -inf).
    estimator : {"k3", "k1", "k2"}, default "k3"
        Which estimator (see above).
    mask : array of bool, same shape, optional
        True where a token counts (False: padding).
    reduction : {"none", "mean", "sum", "batchmean", "sequence"}, default "none"
        As in :func:`kl`, over every token; ``"sequence"`` sums over the last axis (one
        value per sequence), masked tokens excluded.

    Returns
    -------
    float or ndarray of float64
        The estimates per token (the input's shape) with ``reduction="none"``, one per
        sequence with ``"sequence"``, else a float.

    References
    ----------
    Schulman, J. (2020). Approximating KL divergence. http://joschu.net/blog/kl-approx.html
    """
    lp = real_array(logp, "logp").astype(np.float64, copy=False)
    lq = real_array(logq, "logq").astype(np.float64, copy=False)
    if lp.shape != lq.shape:
        raise ValueError(f"logp and logq have shapes {lp.shape} and {lq.shape}; they must match (one per token)")
    if lp.size == 0:
        raise ValueError("logp is empty; at least one sampled token is needed")
    mask = read_mask(mask, lp.shape)
    keep = np.ones(lp.shape, bool) if mask is None else mask
    for name, arr, allowed in (("logp", lp, ()), ("logq", lq, (-np.inf,))):
        bad = keep & ~(np.isfinite(arr) | np.isin(arr, allowed))
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{name} has {float(arr[where])} at position {where}; log-probabilities must be finite")
        if (keep & (arr > 0)).any():
            where = tuple(int(i) for i in np.argwhere(keep & (arr > 0))[0])
            raise ValueError(f"{name} has {float(arr[where])} > 0 at position {where}; pass log-probabilities (<= 0)")
    with np.errstate(over="ignore", invalid="ignore"):
        log_r = np.where(keep, lq - lp, 0.0)
        if estimator == "k1":
            values = -log_r
        elif estimator == "k2":
            values = 0.5 * log_r * log_r
        else:
            values = np.expm1(log_r) - log_r
    if np.isinf(values).any():
        warnings.warn(
            f"the {estimator} estimate is +inf at position {position(int(np.argmax(np.isinf(values))), lp.shape)}: "
            f"q gives probability 0 (logq = -inf) to a token sampled from p",
            RuntimeWarning,
            stacklevel=2,
        )
    if reduction == "sequence":
        if lp.ndim == 0:
            raise InvalidParameterError("reduction='sequence' needs an array with a token axis")
        return values.sum(axis=-1)
    return reduce(values, mask, reduction, lp.shape)
