r"""Divergences between the next-token distributions of two models, from their logits.

Logits have shape ``(..., V)``: any leading shape (batch, sequence, ...) and the
vocabulary last; p = softmax(p_logits / temperature) and q = softmax(q_logits /
temperature) at every position. float16, bfloat16 (ml_dtypes), float32 and float64 are
read as given (the fused kernel reads float16 and bfloat16 from their bits; a mix of
dtypes or a truncation is widened block by block, never as a whole array);
a ``-inf`` logit is a banned token of probability exactly 0, and NaN or ``+inf`` is an
error naming the position.

Every function takes

- ``temperature`` (> 0, default 1): divides both logits;
- ``mask`` (None, or a boolean array of the leading shape; True = the position counts):
  masked positions are not computed (their logits may be anything, padding included)
  and take no part in a reduction; with ``reduction="none"`` they hold 0;
- ``reduction``: ``"none"`` (one value per position, the leading shape), ``"mean"``
  (over the unmasked positions, the default), ``"sum"``, or ``"batchmean"`` (the sum
  divided by the size of the first leading axis, the meaning of
  ``torch.nn.functional.kl_div(..., reduction="batchmean")``).
- ``top_k`` / ``top_p`` (None by default): p truncated to its k most probable tokens or
  to the smallest set of them whose probability reaches top_p, renormalised, as the
  evaluation of the head of a distribution (and sampling with these settings) uses.

Every divergence runs in the fused Rust kernel: one pass over a row pair for the
maxima, one for the log-sum-exps (and the two KLs, from the same sums), and one more for
the others' sum over tokens (two for Renyi, whose exponent has its own maximum),
compensated, with no ``(..., V)`` temporary, in parallel over positions and with results
independent of the thread count. ``divergent.reference.logits`` holds NumPy twins of all
of them.

``KLStats`` folds a stream of chunks into the summary that quantisation work reports
(mean KL with its standard error, percentiles, top-token agreement, the change in the
top token's probability); ``agreement`` gives the last two for one batch.

A position where p gives positive probability to a token that q bans has KL(p || q) =
+inf (and cross-entropy +inf): the value is +inf and a RuntimeWarning names the first
such position.
"""

from __future__ import annotations

from divergent.logits._api import (
    Agreement,
    agreement,
    cross_entropy,
    entropy,
    generalized_js,
    hellinger,
    js,
    kl,
    kl_from_logprobs,
    renyi,
    reverse_kl,
    tv,
)
from divergent.logits._stats import KLReport, KLStats

__all__ = [
    "kl",
    "reverse_kl",
    "js",
    "generalized_js",
    "tv",
    "hellinger",
    "renyi",
    "cross_entropy",
    "entropy",
    "kl_from_logprobs",
    "agreement",
    "Agreement",
    "KLStats",
    "KLReport",
]
