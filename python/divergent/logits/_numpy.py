"""Row-wise divergences of log-probabilities in NumPy: the references of the fused Rust
kernel (divergent.reference.logits).

Every function takes log-softmaxes `lp`, `lq` of shape (rows, V) in float64, -inf for
a token of probability 0, and returns one value per row. Terms of a token with p = 0
are 0 (0 log 0 = 0), selected before they are formed, so that -inf never meets -inf.
"""

from __future__ import annotations

import numpy as np


def log_softmax(a: np.ndarray) -> np.ndarray:
    """Rows of finite or -inf logits (each with a finite one) to log-probabilities."""
    a = a.astype(np.float64, copy=False)
    m = a.max(axis=-1, keepdims=True)
    with np.errstate(under="ignore"):
        z = a - m
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _weighted_sum(lw: np.ndarray, values: np.ndarray) -> np.ndarray:
    """sum_i exp(lw_i) values_i over tokens with exp(lw_i) > 0 (others contribute 0)."""
    with np.errstate(under="ignore", invalid="ignore"):
        w = np.exp(lw)
        return np.where(w > 0, w * values, 0.0).sum(axis=-1)


def kl(lp, lq):
    """KL(p || q) = sum p (log p - log q); +inf where q = 0 < p."""
    with np.errstate(invalid="ignore"):
        return _weighted_sum(lp, lp - lq)


def generalized_js(lp, lq, beta):
    """beta KL(p || m) + (1 - beta) KL(q || m), m = beta p + (1 - beta) q, 0 < beta < 1."""
    lm = np.logaddexp(np.log(beta) + lp, np.log1p(-beta) + lq)
    return beta * kl(lp, lm) + (1 - beta) * kl(lq, lm)


def tv(lp, lq):
    """(1/2) sum |p - q|."""
    with np.errstate(under="ignore"):
        return 0.5 * np.abs(np.exp(lp) - np.exp(lq)).sum(axis=-1)


def hellinger(lp, lq):
    """sqrt((1/2) sum (sqrt p - sqrt q)^2)."""
    with np.errstate(under="ignore"):
        return np.sqrt(0.5 * ((np.exp(0.5 * lp) - np.exp(0.5 * lq)) ** 2).sum(axis=-1))


def renyi(lp, lq, alpha):
    """1/(alpha - 1) log sum p^alpha q^(1 - alpha) over p > 0, with the limits alpha = 0
    (-log q(supp p)), 1 (KL) and inf (log max p / q)."""
    support = lp > -np.inf
    if alpha == 1:
        return kl(lp, lq)
    with np.errstate(invalid="ignore", under="ignore"):
        if alpha == 0:
            return -np.logaddexp.reduce(np.where(support, lq, -np.inf), axis=-1)
        if np.isinf(alpha):
            return np.where(support, lp - lq, -np.inf).max(axis=-1)
        terms = np.where(support, alpha * lp + (1 - alpha) * lq, -np.inf)
        top = terms.max(axis=-1, keepdims=True)
        finite_top = np.where(np.isfinite(top), top, 0.0)
        log_sum = np.log(np.exp(terms - finite_top).sum(axis=-1)) + finite_top[..., 0]
        log_sum = np.where(np.isinf(top[..., 0]), top[..., 0], log_sum)
        return log_sum / (alpha - 1)


def cross_entropy(lp, lq):
    """-sum p log q; +inf where q = 0 < p."""
    return -_weighted_sum(lp, lq)


def entropy(lp):
    """-sum p log p."""
    return -_weighted_sum(lp, lp)
