"""The Inception Score from class probabilities or logits."""

from __future__ import annotations

import math

import numpy as np

from divergent._typing import ArrayLike
from divergent._validation import COUNT, FLAG, real_array, validate_params

#: inception_score's parameters (also the reference's).
INCEPTION_PARAMETERS = {"splits": COUNT, "from_logits": FLAG}


@validate_params(INCEPTION_PARAMETERS)
def inception_score(probs: ArrayLike, *, splits: int = 10, from_logits: bool = False) -> tuple[float, float]:
    r"""Inception Score of class probabilities p(y | x_i) of generated samples,

    .. math::

        \mathrm{IS} = \exp\Big(\frac1N \sum_i \mathrm{KL}\big(p(y \mid x_i) \,\|\, p(y)\big)\Big),
        \qquad p(y) = \frac1N \sum_i p(y \mid x_i),

    on each of ``splits`` consecutive parts of the rows, as the original code computes
    it; returns the mean and standard deviation (ddof = 0) over the parts.

    Parameters
    ----------
    probs : array_like, shape (N, C)
        Class probabilities (rows summing to 1), or logits with ``from_logits=True``.
    splits : int, default 10
    from_logits : bool, default False

    Returns
    -------
    (float, float)

    References
    ----------
    Salimans, Goodfellow, Zaremba, Cheung, Radford & Chen (2016). Improved techniques
    for training GANs. NeurIPS 29.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> mean, std = dv.metrics.inception_score(np.eye(10)[np.arange(1000) % 10])
    >>> round(mean, 6), round(std, 6)
    (10.0, 0.0)
    """
    scores = []
    for part in inception_parts(inception_inputs(probs, splits, from_logits), splits):
        marginal = part.mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(part > 0, part * (np.log(part) - np.log(marginal)), 0.0)
        scores.append(math.exp(terms.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


def inception_parts(p: np.ndarray, splits: int):
    """The `splits` consecutive parts of the rows the original code scores, in order."""
    n = p.shape[0]
    for k in range(splits):
        yield p[k * n // splits : (k + 1) * n // splits]


def inception_inputs(probs, splits, from_logits):
    p = real_array(probs, "probs").astype(np.float64, copy=False)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probs must have shape (n_samples, n_classes) with at least 2 classes, got {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError("probs contains NaN or infinity")
    if splits > p.shape[0]:
        raise ValueError(f"splits={splits} is more than the {p.shape[0]} samples; pass at most one split per sample")
    if from_logits:
        z = p - p.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)
    if (p < 0).any():
        raise ValueError("probs has negative entries; pass probabilities, or logits with from_logits=True")
    off = np.abs(p.sum(axis=1) - 1.0)
    if off.max() > 1e-5:
        row = int(np.argmax(off))
        raise ValueError(
            f"probs row {row} sums to {p[row].sum()!r}, not 1; pass softmax outputs, or logits with from_logits=True"
        )
    return p
