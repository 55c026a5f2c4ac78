"""NumPy references for divergent.metrics: the published formulas on dense matrices,
as the reference packages compute them (pytorch-fid's FID, clean-fid's KID, the prdc
package's precision/recall/density/coverage, the vendi-score package's n x n Vendi
score, the original Inception Score code)."""

from __future__ import annotations

import numpy as np

from divergent._validation import validate_params
from divergent.metrics._inception import INCEPTION_PARAMETERS, inception_inputs, inception_parts
from divergent.metrics._kid import KID_PARAMETERS, KIDResult, kid_inputs, kid_subsets
from divergent.metrics._prdc import PRDC_PARAMETERS, PRDCResult, prdc_inputs
from divergent.metrics._vendi import VENDI_PARAMETERS, entropy_of_order, vendi_inputs

__all__ = ["fid", "kid", "prdc", "vendi_score", "inception_score"]


def fid(x, y) -> float:
    """FID from np.cov and the eigenvalues of the non-symmetric product S_x S_y (whose
    square roots' sum is tr sqrtm(S_x S_y), the trace pytorch-fid takes)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    mx, my = x.mean(axis=0), y.mean(axis=0)
    sx, sy = np.cov(x, rowvar=False, ddof=1), np.cov(y, rowvar=False, ddof=1)
    ev = np.linalg.eigvals(sx @ sy)
    root_trace = np.sqrt(np.clip(ev.real, 0, None)).sum()
    return float(((mx - my) ** 2).sum() + np.trace(sx) + np.trace(sy) - 2 * root_trace)


@validate_params(KID_PARAMETERS)
def kid(x, y, *, n_subsets=100, subset_size=1000, degree=3, gamma=None, coef0=1.0, seed=None) -> KIDResult:
    """KID as clean-fid's ``kernel_distance`` loop computes it, in float64, on the same
    subsets as :func:`divergent.metrics.kid` for a seed."""
    x, y, n_subsets, size, degree, gamma, coef0, seed = kid_inputs(
        x, y, n_subsets, subset_size, degree, gamma, coef0, seed
    )
    x, y = x.astype(np.float64), y.astype(np.float64)
    pairs = (
        [(np.arange(x.shape[0]), np.arange(y.shape[0]))]
        if size is None
        else list(kid_subsets(x.shape[0], y.shape[0], n_subsets, size, seed))
    )
    values = []
    for ix, iy in pairs:
        a, b = x[ix], y[iy]
        n, m = a.shape[0], b.shape[0]
        kxx = (gamma * a @ a.T + coef0) ** degree
        kyy = (gamma * b @ b.T + coef0) ** degree
        kxy = (gamma * a @ b.T + coef0) ** degree
        values.append(
            (kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean()
        )
    values = np.array(values)
    return KIDResult(float(values.mean()), float(values.std()), values)


def _distances(a, b):
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1))


@validate_params(PRDC_PARAMETERS)
def prdc(real, fake, *, k=5) -> PRDCResult:
    """The prdc package's ``compute_prdc`` on dense distance matrices (exact differences)."""
    real, fake, k = prdc_inputs(real, fake, k)
    real, fake = real.astype(np.float64), fake.astype(np.float64)
    real_radius = np.sort(_distances(real, real), axis=1)[:, k]
    fake_radius = np.sort(_distances(fake, fake), axis=1)[:, k]
    d = _distances(real, fake)
    inside = d < real_radius[:, None]
    return PRDCResult(
        precision=float(inside.any(axis=0).mean()),
        recall=float((d < fake_radius[None, :]).any(axis=1).mean()),
        density=float((1.0 / k) * inside.sum(axis=0).mean()),
        coverage=float((d.min(axis=1) < real_radius).mean()),
    )


@validate_params(VENDI_PARAMETERS)
def vendi_score(x, *, kernel="cosine", bandwidth=None, q=1.0) -> float:
    """The Vendi score from the eigenvalues of the n x n matrix K / n, every kernel."""
    x, q, h = vendi_inputs(x, kernel, bandwidth, q)
    if kernel == "gaussian":
        K = np.exp(-(_distances(x, x) ** 2) / (2 * h * h))
    else:
        K = x @ x.T
    return float(np.exp(entropy_of_order(np.linalg.eigvalsh(K / x.shape[0]), q)))


@validate_params(INCEPTION_PARAMETERS)
def inception_score(probs, *, splits=10, from_logits=False):
    """The original Inception Score loop (one KL per row)."""
    scores = []
    for part in inception_parts(inception_inputs(probs, splits, from_logits), splits):
        py = part.mean(axis=0)
        kl = [float(np.sum(np.where(row > 0, row * np.log(np.where(row > 0, row, 1) / py), 0.0))) for row in part]
        scores.append(np.exp(np.mean(kl)))
    return float(np.mean(scores)), float(np.std(scores))
