"""Top-k and top-p (nucleus) truncation of p's logits, block by block."""

from __future__ import annotations

import numpy as np

from divergent._validation import InvalidParameterError


def check_truncation(top_k, top_p, v: int):
    """The declared (top_k, top_p), checked against the vocabulary size v."""
    if top_k is not None and top_k > v:
        raise InvalidParameterError(f"top_k={top_k} exceeds the vocabulary size V = {v}; pass top_k <= {v}")
    return top_k, top_p


def truncate(block: np.ndarray, top_k, top_p, temperature: float) -> np.ndarray:
    """A copy of p's (rows, V) logits with every token outside p's head set to -inf (a
    banned token), so that the softmax renormalises p over its head.

    ``top_k`` keeps the tokens whose logit is at least the k-th largest (all of a tie at
    the boundary, as transformers' TopKLogitsWarper), ``top_p`` then keeps the smallest
    set of most probable tokens whose probability under softmax(logits / temperature)
    reaches top_p (the token that crosses it included, and all tokens tied with it).
    """
    x = np.array(block, dtype=np.float64 if block.dtype == np.float64 else np.float32)
    v = x.shape[-1]
    if top_k is not None and top_k < v:
        kth = np.partition(x, v - top_k, axis=-1)[:, v - top_k, None]
        x[x < kth] = -np.inf
    if top_p is not None and top_p < 1:
        s = -np.sort(-x, axis=-1)  # descending
        z = s.astype(np.float64) / temperature
        with np.errstate(under="ignore", invalid="ignore"):
            w = np.exp(z - z[:, :1])
            mass = np.cumsum(w, axis=-1) / w.sum(axis=-1, keepdims=True)
        # Tokens before the one that reaches top_p, plus that one.
        keep = np.minimum((mass < top_p).sum(axis=-1), v - 1)
        threshold = s[np.arange(s.shape[0]), keep][:, None]
        x[x < threshold] = -np.inf
    return x
