"""The Vendi score: the exponential of the Renyi entropy of a similarity matrix's
eigenvalues."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from divergent._typing import ArrayLike
from divergent._validation import POSITIVE, Interval, Options, as_samples, check_memory, validate_params

#: Largest n for the Gaussian-kernel Vendi score: its n x n kernel matrix and the
#: eigensolver's copy take 16 n^2 bytes (6.4 GB at 20,000).
VENDI_GAUSSIAN_MAX_N = 20_000

#: vendi_score's parameters (also the reference's).
VENDI_PARAMETERS = {
    "kernel": Options(("cosine", "linear", "gaussian")),
    "bandwidth": (POSITIVE, Options(("median",)), None),
    "q": Interval("real", 0, allow_inf=True, hint="1 is the Shannon Vendi score, inf the max"),
}


def entropy_of_order(p: np.ndarray, q: float, dtype=np.float64) -> float:
    """Renyi entropy of order q of eigenvalues p, as the vendi-score package computes
    it (q = 1 Shannon, q = inf -log max), over the eigenvalues above the round-off of
    the matrix they come from (len(p) eps max p, eps that of `dtype`, the precision the
    matrix was formed in): those below are zeros in exact arithmetic, and for q < 1
    their noise would otherwise add to the score."""
    p = p[p > len(p) * np.finfo(dtype).eps * p.max()]
    if q == 1:
        return float(-(p * np.log(p)).sum())
    if math.isinf(q):
        return float(-np.log(p.max()))
    return float(np.log((p**q).sum()) / (1 - q))


def vendi_inputs(x, kernel, bandwidth, q):
    x = as_samples(x, "x", min_samples=1, float32=True)
    if kernel == "gaussian":
        x = x.astype(np.float64, copy=False)
    if kernel == "cosine":
        norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
        if not (norms > 0).all():
            row = int(np.argmin(norms > 0))
            raise ValueError(f"x[{row}] is the zero vector, which has no direction for the cosine kernel; remove it")
        x = x / norms[:, None].astype(x.dtype)
    if kernel == "gaussian":
        n = x.shape[0]
        if n > VENDI_GAUSSIAN_MAX_N:
            raise ValueError(
                f"the Gaussian-kernel Vendi score needs the eigenvalues of the n x n kernel matrix: "
                f"n = {n} is above the limit of {VENDI_GAUSSIAN_MAX_N} ({16 * n * n / 2**30:.1f} GiB); "
                f"subsample x, or use kernel='cosine', which is exact for any n through the d x d dual"
            )
        # The kernel matrix, built in place, and the eigensolver's copy of it.
        check_memory(
            16.0 * n * n + 8.0 * x.size,
            f"the Gaussian-kernel Vendi score of {n} points",
            "subsample x or use kernel='cosine'",
        )
        if bandwidth is None:
            raise ValueError("kernel='gaussian' needs a bandwidth: a positive float or 'median'")
        if bandwidth == "median":
            from divergent.kernel import median_bandwidth

            bandwidth = median_bandwidth(x)
    elif bandwidth is not None:
        raise ValueError(f"bandwidth is for kernel='gaussian' only; kernel={kernel!r} has none")
    return x, float(q), bandwidth


@validate_params(VENDI_PARAMETERS)
def vendi_score(
    x: ArrayLike,
    *,
    kernel: Literal["cosine", "linear", "gaussian"] = "cosine",
    bandwidth: float | None = None,
    q: float = 1.0,
) -> float:
    r"""Vendi score: the effective number of distinct samples,

    .. math::

        \mathrm{VS}_q(x) = \exp H_q(\lambda), \qquad \lambda = \operatorname{eig}(K / n),

    with H_q the Renyi entropy of order q of the eigenvalues of the scaled kernel matrix
    (Friedman & Dieng 2023): n for n mutually orthogonal (dissimilar) samples, 1 for n
    copies of one.

    Parameters
    ----------
    x : array_like, shape (n, d)
    kernel : {"cosine", "linear", "gaussian"}, default "cosine"
        "cosine": normalised dot products (rows scaled to unit length), computed through
        the d x d dual X^T X / n, which has the same non-zero eigenvalues: exact for any
        n in O(n d^2) (its products in float32 for float32 input). "linear": plain dot products, likewise. "gaussian":
        exp(-|a - b|^2 / (2 h^2)), which needs the n x n matrix's eigenvalues (n up to
        ``VENDI_GAUSSIAN_MAX_N``).
    bandwidth : float or "median", optional
        h for the Gaussian kernel (required there).
    q : float, default 1.0
        The order: 1 Shannon (the paper's score), inf the inverse largest eigenvalue.

    Returns
    -------
    float

    References
    ----------
    Friedman & Dieng (2023). The Vendi score: a diversity evaluation metric for machine
    learning. TMLR.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> round(dv.metrics.vendi_score(np.eye(5)), 6)
    5.0
    """
    x, q, h = vendi_inputs(x, kernel, bandwidth, q)
    n = x.shape[0]
    if kernel == "gaussian":
        c = x - x.mean(axis=0)
        sq = (c * c).sum(axis=1)
        k = c @ c.T  # one n x n array: the squared distances, then the kernel, in place
        k *= -2.0
        k += sq[:, None]
        k += sq[None, :]
        np.maximum(k, 0.0, out=k)
        np.fill_diagonal(k, 0.0)
        k *= -0.5 / (h * h)
        np.exp(k, out=k)
        k /= n
        w = np.linalg.eigvalsh(k)
    else:
        # The d x d dual in the input's precision (sgemm for float32), solved in float64.
        w = np.linalg.eigvalsh((x.T @ x).astype(np.float64) / n)
    return float(np.exp(entropy_of_order(w, q, x.dtype)))
