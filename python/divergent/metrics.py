"""Generative-model evaluation on feature vectors: FID, KID, precision/recall/density/
coverage, the Vendi score and the Inception Score.

Inputs are feature matrices (n, d) the user computed (Inception, CLIP or DINOv2
embeddings, float32 or float64); no model weights are involved. The pairwise parts run
on the Rust pair engine: the k-NN radii of :func:`prdc` on the exact neighbour search,
its ball counts on Gram-path tiles (never an n x m matrix); the Gaussian fits of
:func:`fid` are streamed (:class:`FeatureStats`) and compared through symmetric
eigendecompositions, so singular covariances are fine.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from divergent import _core
from divergent._validation import (
    as_samples,
    check_memory,
    check_positive_int,
    check_same_dim,
    check_seed,
    common_dtype,
    real_array,
)
from divergent.gaussian import wasserstein2

__all__ = ["FeatureStats", "fid", "kid", "KIDResult", "prdc", "PRDCResult", "vendi_score", "inception_score"]


class FeatureStats:
    """Streaming mean and covariance of feature vectors, in float64.

    Batches are folded in with the pairwise update of Chan, Golub & LeVeque (1979): each
    batch's mean and centred scatter matrix (one GEMM, in float64 whatever the batch's
    dtype), combined with the running ones exactly as a one-shot computation over the
    concatenated batches would give (up to round-off). Two ``FeatureStats`` merge the
    same way, so statistics computed on shards (workers, files) combine.

    Attributes
    ----------
    n : int
        Number of vectors seen.
    mean : ndarray, shape (d,)
    cov : ndarray, shape (d, d)
        Sample covariance with ddof = 1 (as pytorch-fid, torchmetrics and clean-fid).

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> x = np.random.default_rng(0).normal(size=(1000, 8))
    >>> s = dv.metrics.FeatureStats()
    >>> for batch in np.array_split(x, 7):
    ...     _ = s.update(batch)
    >>> bool(np.allclose(s.cov, np.cov(x, rowvar=False)))
    True
    """

    def __init__(self):
        self._n = 0
        self._mean: np.ndarray | None = None
        self._scatter: np.ndarray | None = None

    def update(self, batch) -> FeatureStats:
        """Fold in a batch of shape (b, d) (or (d,) for one vector); returns self."""
        b = real_array(batch, "batch")
        if b.ndim == 1:
            b = b[None, :]
        b = as_samples(b, "batch", float32=True)
        if self._mean is not None and b.shape[1] != self._mean.size:
            raise ValueError(
                f"batch has {b.shape[1]} features but the statistics so far have {self._mean.size}"
            )
        mean = b.mean(axis=0, dtype=np.float64)
        centred = b.astype(np.float64) - mean
        self._combine(b.shape[0], mean, centred.T @ centred)
        return self

    def merge(self, other: FeatureStats) -> FeatureStats:
        """Fold in the statistics of another ``FeatureStats``; returns self."""
        if not isinstance(other, FeatureStats):
            raise TypeError(f"other must be a FeatureStats, got {type(other).__name__}")
        if other._n == 0:
            return self
        if self._mean is not None and other._mean.size != self._mean.size:
            raise ValueError(f"cannot merge statistics of {other._mean.size} features into {self._mean.size}")
        self._combine(other._n, other._mean, other._scatter)
        return self

    def _combine(self, nb: int, mean_b: np.ndarray, scatter_b: np.ndarray) -> None:
        if self._n == 0:
            self._n, self._mean, self._scatter = nb, mean_b.copy(), scatter_b.copy()
            return
        self._n, self._mean, self._scatter = merge_moments(
            (self._n, self._mean, self._scatter), (nb, mean_b, scatter_b)
        )

    @property
    def n(self) -> int:
        return self._n

    @property
    def mean(self) -> np.ndarray:
        if self._n == 0:
            raise ValueError("no vectors yet: call update(batch) first")
        return self._mean.copy()

    @property
    def cov(self) -> np.ndarray:
        if self._n < 2:
            raise ValueError(f"the covariance needs at least 2 vectors, got {self._n}")
        c = self._scatter / (self._n - 1)
        return 0.5 * (c + c.T)

    def __repr__(self):
        d = None if self._mean is None else self._mean.size
        return f"FeatureStats(n={self._n}, d={d})"


def merge_moments(a, b):
    """Chan, Golub & LeVeque's pairwise update: two parts' (count or total weight, mean,
    centred scatter matrix) combined into those of their union, as one pass over both
    would give them up to round-off."""
    (na, mean_a, scatter_a), (nb, mean_b, scatter_b) = a, b
    n = na + nb
    delta = mean_b - mean_a
    return n, mean_a + delta * (nb / n), scatter_a + scatter_b + np.outer(delta, delta) * (na * nb / n)


def _stats(x, name: str) -> FeatureStats:
    if isinstance(x, FeatureStats):
        if x.n < 2:
            raise ValueError(f"{name} holds {x.n} vector(s); FID needs at least 2 per side")
        return x
    x = as_samples(x, name, min_samples=2, float32=True)
    stats = FeatureStats()
    # In row blocks: the float64 centred copy of a block, not of the whole array.
    for start in range(0, x.shape[0], _FID_BLOCK_ROWS):
        stats.update(x[start:start + _FID_BLOCK_ROWS])
    return stats


#: Rows per FeatureStats update when fid is given arrays (8192 x d float64: 128 MiB at
#: d = 2048).
_FID_BLOCK_ROWS = 8192


def fid(x, y) -> float:
    r"""Frechet Inception Distance: the squared 2-Wasserstein distance between Gaussian
    fits of two feature sets,

    .. math::

        \mathrm{FID} = |\mu_x - \mu_y|^2 + \operatorname{tr}\Big(S_x + S_y
                       - 2 \big(S_x^{1/2} S_y S_x^{1/2}\big)^{1/2}\Big),

    covariances with ddof = 1, as pytorch-fid and torchmetrics compute them. The matrix
    square roots come from symmetric eigendecompositions (equal in exact arithmetic to
    the trace of sqrtm(S_x S_y) that pytorch-fid takes, without its complex round-off
    and "imaginary component" failures); rank-deficient covariances (n < d) are fine.

    Parameters
    ----------
    x, y : array_like, shape (n, d) and (m, d), or FeatureStats
        Feature vectors (float32 or float64), or their streamed statistics.

    Returns
    -------
    float

    Notes
    -----
    FID is biased upwards in n (the plug-in covariances' noise adds about
    tr(S)/n-order terms), so values are comparable only at equal sample sizes; 5 x 10^4
    generated against the training set's statistics is the usual protocol (Chong &
    Forsyth 2020 study the bias and its extrapolation to n = infinity).

    References
    ----------
    Heusel, Ramsauer, Unterthiner, Nessler & Hochreiter (2017). GANs trained by a two
    time-scale update rule converge to a local Nash equilibrium. NeurIPS 30.
    Dowson & Landau (1982). The Frechet distance between multivariate normal
    distributions. Journal of Multivariate Analysis 12(3).

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(size=(4000, 4)), rng.normal(size=(4000, 4)) + [1, 0, 0, 0]
    >>> round(dv.metrics.fid(x, y), 1)
    1.0
    """
    sx, sy = _stats(x, "x"), _stats(y, "y")
    if sx.mean.size != sy.mean.size:
        raise ValueError(f"x and y must have the same number of features, got {sx.mean.size} and {sy.mean.size}")
    return float(wasserstein2(sx.mean, sx.cov, sy.mean, sy.cov, squared=True))


@dataclass(frozen=True)
class KIDResult:
    """The output of :func:`kid`.

    Attributes
    ----------
    mean : float
        The mean of the per-subset unbiased MMD^2 estimates (what papers report as KID).
    std : float
        Their standard deviation (ddof = 0, as clean-fid and torch-fidelity report it).
    values : ndarray, shape (n_subsets,)
    """

    mean: float
    std: float
    values: np.ndarray = field(repr=False)


def kid_subsets(n: int, m: int, n_subsets: int, subset_size: int, seed):
    """The (x rows, y rows) of each KID subset, drawn without replacement from
    ``np.random.default_rng(seed)`` (x's then y's, subset after subset)."""
    rng = np.random.default_rng(seed)
    for _ in range(n_subsets):
        yield rng.choice(n, subset_size, replace=False), rng.choice(m, subset_size, replace=False)


def kid_inputs(x, y, n_subsets, subset_size, degree, gamma, coef0, seed):
    x = as_samples(x, "x", min_samples=2, float32=True)
    y = as_samples(y, "y", min_samples=2, float32=True)
    check_same_dim(x, y)
    x, y = common_dtype(x, y)
    n_subsets = check_positive_int(n_subsets, "n_subsets")
    if subset_size is not None:
        if isinstance(subset_size, (bool, np.bool_)) or not isinstance(subset_size, numbers.Integral):
            raise TypeError(f"subset_size must be an integer or None, got {subset_size!r}")
        if subset_size < 2:
            raise ValueError(f"subset_size must be at least 2 (the unbiased estimate needs pairs), got {subset_size}")
        if subset_size > min(x.shape[0], y.shape[0]):
            raise ValueError(
                f"subset_size={subset_size} is more than the smaller sample ({min(x.shape[0], y.shape[0])} "
                f"points); subsets are drawn without replacement: pass a smaller subset_size, or "
                f"subset_size=None for one estimate on the whole samples"
            )
        subset_size = int(subset_size)
    degree = check_positive_int(degree, "degree")
    gamma = 1.0 / x.shape[1] if gamma is None else _positive_float(gamma, "gamma")
    if isinstance(coef0, (bool, np.bool_)) or not isinstance(coef0, numbers.Real) or not math.isfinite(coef0):
        raise ValueError(f"coef0 must be a finite number, got {coef0!r}")
    return x, y, n_subsets, subset_size, degree, gamma, float(coef0), check_seed(seed)


def _positive_float(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not (
        math.isfinite(value) and value > 0
    ):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


#: Bytes of the two Gram-block temporaries of a KID estimate: subset_size=None on
#: n = m = 5 x 10^4 would otherwise form two 10 GB matrices per sum.
KID_BLOCK_BYTES = 2**26


def _poly_sums(a: np.ndarray, b: np.ndarray | None, degree: int, gamma: float, coef0: float) -> float:
    """Sum of (gamma a_i . b_j + coef0)^degree over all pairs (b None: over i != j of a
    with itself). The products and the kernel in the input's precision, in place
    (sgemm and float32 passes for float32 input: KID's time is these passes), the sum
    accumulated in float64; the diagonal left out is computed from the norms in float64.
    Row blocks of the Gram matrix keep its two temporaries within `KID_BLOCK_BYTES`
    (one block, so the same bits, up to subsets of ~2,900 float32 points)."""
    other = a if b is None else b
    rows = max(1, KID_BLOCK_BYTES // (2 * other.shape[0] * a.itemsize))
    total = 0.0
    for start in range(0, a.shape[0], rows):
        g = a[start : start + rows] @ other.T
        g *= a.dtype.type(gamma)
        g += a.dtype.type(coef0)
        k = g if degree == 1 else g * g
        for _ in range(degree - 2):
            k *= g
        total += float(k.sum(dtype=np.float64))
    if b is None:
        norms = np.einsum("ij,ij->i", a, a, dtype=np.float64)
        total -= float(((gamma * norms + coef0) ** degree).sum())
    return total


def kid(x, y, *, n_subsets=100, subset_size=1000, degree=3, gamma=None, coef0=1.0, seed=None) -> KIDResult:
    r"""Kernel Inception Distance: the unbiased MMD^2 with a polynomial kernel, averaged
    over random subsets.

    .. math::

        k(a, b) = (\gamma\, a^\top b + c_0)^{p}, \qquad
        \widehat{\mathrm{MMD}}^2_u = \frac{1}{s(s-1)}\sum_{i \ne j} [k(x_i, x_j) + k(y_i, y_j)]
                                    - \frac{2}{s^2} \sum_{i, j} k(x_i, y_j),

    on each of ``n_subsets`` pairs of subsets of size s drawn without replacement, as
    clean-fid and torch-fidelity compute it (gamma = 1/d, c0 = 1, p = 3: Binkowski et
    al.'s kernel).

    Parameters
    ----------
    x, y : array_like, shape (n, d) and (m, d)
    n_subsets : int, default 100
    subset_size : int or None, default 1000
        At most min(n, m); None gives one estimate on the whole samples (std 0).
    degree : int, default 3
    gamma : float, optional
        Default 1 / d.
    coef0 : float, default 1.0
    seed : int, numpy Generator or None
        Draws the subsets.

    Returns
    -------
    KIDResult
        ``mean`` (the KID), ``std`` over subsets and the per-subset ``values``.

    Notes
    -----
    Each subset estimate is unbiased for MMD^2 (the U-statistic leaves out the
    diagonals), so unlike FID the KID's expectation does not depend on the sample size,
    and it can be negative when the distributions are close. Its spread over subsets
    is not the standard error of the mean (the subsets overlap).

    References
    ----------
    Binkowski, Sutherland, Arbel & Gretton (2018). Demystifying MMD GANs. ICLR.
    Parmar, Zhang & Zhu (2022). On aliased resizing and surprising subtleties in GAN
    evaluation (clean-fid). CVPR.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> rng = np.random.default_rng(0)
    >>> r = dv.metrics.kid(rng.normal(size=(500, 16)), rng.normal(size=(500, 16)), subset_size=200, seed=0)
    >>> abs(r.mean) < 0.01
    True
    """
    x, y, n_subsets, size, degree, gamma, coef0, seed = kid_inputs(
        x, y, n_subsets, subset_size, degree, gamma, coef0, seed)
    if size is None:
        values = np.array([_kid_value(x, y, degree, gamma, coef0)])
    else:
        values = np.array([
            _kid_value(x[ix], y[iy], degree, gamma, coef0)
            for ix, iy in kid_subsets(x.shape[0], y.shape[0], n_subsets, size, seed)
        ])
    return KIDResult(float(values.mean()), float(values.std()), values)


def _kid_value(a: np.ndarray, b: np.ndarray, degree: int, gamma: float, coef0: float) -> float:
    n, m = a.shape[0], b.shape[0]
    kxx = _poly_sums(a, None, degree, gamma, coef0) / (n * (n - 1))
    kyy = _poly_sums(b, None, degree, gamma, coef0) / (m * (m - 1))
    kxy = _poly_sums(a, b, degree, gamma, coef0) / (n * m)
    return kxx + kyy - 2 * kxy


@dataclass(frozen=True)
class PRDCResult:
    """The output of :func:`prdc`: precision and recall (Kynkaanniemi et al. 2019),
    density and coverage (Naeem et al. 2020)."""

    precision: float
    recall: float
    density: float
    coverage: float


def prdc_inputs(real, fake, k):
    real = as_samples(real, "real", min_samples=2, float32=True)
    fake = as_samples(fake, "fake", min_samples=2, float32=True)
    check_same_dim(real, fake, "real", "fake")
    real, fake = common_dtype(real, fake)
    k = check_positive_int(k, "k")
    smaller = min(real.shape[0], fake.shape[0])
    if k >= smaller:
        raise ValueError(
            f"k={k} must be less than the number of points in each sample ({smaller} in the "
            f"smaller), since the k-th neighbour excludes the point itself; pass a smaller k"
        )
    return real, fake, k


def prdc(real, fake, *, k=5) -> PRDCResult:
    r"""Precision, recall, density and coverage of generated samples on k-NN balls.

    With R_i the distance of real point r_i to its k-th nearest other real point and F_j
    that of fake point f_j among the fakes (Euclidean),

    .. math::

        \mathrm{precision} = \frac1m \sum_j 1\big[\exists i: |f_j - r_i| < R_i\big], \quad
        \mathrm{recall} = \frac1n \sum_i 1\big[\exists j: |r_i - f_j| < F_j\big],

        \mathrm{density} = \frac{1}{k m} \sum_j \sum_i 1\big[|f_j - r_i| < R_i\big], \quad
        \mathrm{coverage} = \frac1n \sum_i 1\big[\min_j |r_i - f_j| < R_i\big],

    exactly as the reference code (the ``prdc`` package) defines them, strict
    inequalities included. The radii come from the exact k-NN search, the counts from
    tiles of pair products on the Gram path with an exact re-check of every pair near
    its threshold, so the results are those of the exact float64 distances (for
    float32 input too), in O((n + m) k) memory: no n x m matrix.

    Parameters
    ----------
    real : array_like, shape (n, d)
    fake : array_like, shape (m, d)
    k : int, default 5
        The neighbour that sets each ball's radius (Naeem et al. recommend 5).

    Returns
    -------
    PRDCResult

    Notes
    -----
    Precision and recall estimate the fraction of the fake (real) distribution inside
    the other's support, approximated by the union of k-NN balls; outliers in the real
    set inflate precision, which density and coverage are designed to resist. Density
    can exceed 1.

    References
    ----------
    Kynkaanniemi, Karras, Laine, Lehtinen & Aila (2019). Improved precision and recall
    metric for assessing generative models. NeurIPS 32.
    Naeem, Oh, Uh, Choi & Yoo (2020). Reliable fidelity and diversity metrics for
    generative models. ICML.

    Examples
    --------
    >>> import numpy as np, divergent as dv
    >>> rng = np.random.default_rng(0)
    >>> r = dv.metrics.prdc(rng.normal(size=(1000, 8)), rng.normal(size=(1000, 8)))
    >>> 0.6 < r.precision < 1.0 and 0.6 < r.coverage < 1.0
    True
    """
    real, fake, k = prdc_inputs(real, fake, k)
    real_radius = _core.knn(real, k, "euclidean", None, False)[0]
    fake_radius = _core.knn(fake, k, "euclidean", None, False)[0]
    inside, covered, recalled = _core.ball_counts(real, fake, real_radius, fake_radius)
    return PRDCResult(
        precision=float(np.mean(inside > 0)),
        recall=float(np.mean(recalled)),
        density=float((1.0 / k) * inside.mean()),  # the reference code's expression
        coverage=float(np.mean(covered)),
    )


#: Largest n for the Gaussian-kernel Vendi score: its n x n kernel matrix and the
#: eigensolver's copy take 16 n^2 bytes (6.4 GB at 20,000).
VENDI_GAUSSIAN_MAX_N = 20_000


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
    if kernel not in ("cosine", "linear", "gaussian"):
        raise ValueError(f"unknown kernel {kernel!r}; expected 'cosine', 'linear' or 'gaussian'")
    if kernel == "gaussian":
        x = x.astype(np.float64, copy=False)
    if isinstance(q, (bool, np.bool_)) or not isinstance(q, numbers.Real) or not q >= 0:
        raise ValueError(f"q must be a number >= 0 (1 is the Shannon Vendi score, inf the max), got {q!r}")
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
        check_memory(16.0 * n * n + 8.0 * x.size, f"the Gaussian-kernel Vendi score of {n} points",
                     "subsample x or use kernel='cosine'")
        if bandwidth is None:
            raise ValueError("kernel='gaussian' needs a bandwidth: a positive float or 'median'")
        if bandwidth == "median":
            from divergent.kernel import median_bandwidth

            bandwidth = median_bandwidth(x)
        bandwidth = _positive_float(bandwidth, "bandwidth")
    elif bandwidth is not None:
        raise ValueError(f"bandwidth is for kernel='gaussian' only; kernel={kernel!r} has none")
    return x, float(q), bandwidth


def vendi_score(x, *, kernel="cosine", bandwidth=None, q=1.0) -> float:
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


def inception_score(probs, *, splits=10, from_logits=False) -> tuple[float, float]:
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
        yield p[k * n // splits:(k + 1) * n // splits]


def inception_inputs(probs, splits, from_logits):
    p = real_array(probs, "probs").astype(np.float64, copy=False)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probs must have shape (n_samples, n_classes) with at least 2 classes, got {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError("probs contains NaN or infinity")
    splits = check_positive_int(splits, "splits")
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
            f"probs row {row} sums to {p[row].sum()!r}, not 1; pass softmax outputs, or logits "
            f"with from_logits=True"
        )
    return p
