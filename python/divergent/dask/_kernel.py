"""Pair sums (MMD, energy distance) and the KDE over row blocks.

A pair sum over x and y is split into one task per pair of row blocks, only i <= j
within a sample: the core's compensated sum of each block pair, combined by `math.fsum`
(exactly rounded, so the total does not depend on the order in which tasks finish or on
the number of workers; on the chunking only through each block's own rounding, ~1e-15
relative).
"""

from __future__ import annotations

import math

import dask
import numpy as np

from divergent import _core, _scale
from divergent._bandwidth import MEDIAN_MAX_POINTS, MEDIAN_SEED, check_median
from divergent._results import TestResult, monte_carlo_pvalue
from divergent._validation import check_memory, check_weights, validate_params
from divergent.dask._blocks import (
    BLOCK_ROWS,
    Sample,
    delayed,
    exponent_of,
    gather,
    on_worker,
    pair_block_rows,
    samples,
    stream_block_rows,
)
from divergent.kernel import _density, _mmd, _two_sample
from divergent.metrics._fid import merge_moments

__all__ = ["mmd", "energy_distance", "mmd_test", "kde_logpdf"]


@on_worker
def _self_sum(block, e, kernel, h):
    return _core.kernel_self_sum(_scale.scaled(block, e), kernel, h)


@on_worker
def _cross_sum(a, b, e, kernel, h):
    return _core.kernel_sum(_scale.scaled(a, e), _scale.scaled(b, e), kernel, h)


@on_worker
def _linear_part(a, b, e, kernel, h):
    """Sum of the linear estimator's terms over the disjoint pairs of a block."""
    pairs = a.shape[0] // 2
    if pairs == 0:
        return 0.0
    return _core.mmd(_scale.scaled(a, e), _scale.scaled(b, e), kernel, h, "linear") * pairs


def _within(s: Sample, e, kernel, h):
    """(task, weight) pairs whose weighted results sum to sum_{i != j} k(s_i, s_j): each
    block with itself, and each pair of distinct blocks once, counted twice."""
    out = [(delayed(_self_sum, b, e, kernel, h), 1.0) for b in s.blocks]
    for i, bi in enumerate(s.blocks):
        for bj in s.blocks[i + 1 :]:
            out.append((delayed(_cross_sum, bi, bj, e, kernel, h), 2.0))
    return out


def _between(x: Sample, y: Sample, e, kernel, h):
    return [(delayed(_cross_sum, bx, by, e, kernel, h), 1.0) for bx in x.blocks for by in y.blocks]


def _pair_sums(x, y, e, kernel, h):
    """(sum_{i != j} k(x_i, x_j), the same for y, sum_{i, j} k(x_i, y_j)), each exactly
    rounded from its block partials."""
    parts = [_within(x, e, kernel, h), _within(y, e, kernel, h), _between(x, y, e, kernel, h)]
    values = iter(dask.compute(*[t for p in parts for t, _ in p]))
    return [math.fsum(w * next(values) for _, w in p) for p in parts]


def _unbiased(sxx, syy, sxy, n, m):
    """The unbiased MMD^2 from the within-x, within-y (diagonals excluded) and cross
    kernel sums."""
    return sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2.0 * sxy / (n * m)


def _median(x: Sample, y: Sample, e: int) -> float:
    """The median heuristic of `divergent.median_bandwidth` on the scaled samples: the
    same pooled points (all, or the same fixed-seed subsample), hence the same value."""
    total = x.n + y.n
    if total <= MEDIAN_MAX_POINTS:
        idx = np.arange(total)
    else:
        idx = np.sort(np.random.default_rng(MEDIAN_SEED).choice(total, MEDIAN_MAX_POINTS, replace=False))
    z = np.concatenate([gather(x, idx[idx < x.n]), gather(y, idx[idx >= x.n] - x.n)])
    return check_median(_core.median_pairwise_distance(_scale.scaled(z, e)))


def _inputs(x, y, kernel, bandwidth, estimator, block_rows, *, float32=True, extra_columns=0):
    """Validated samples as in `divergent.kernel._mmd._mmd_inputs`, the kernel, the
    bandwidth scaled by 2**-e (None for the energy kernel), the estimator and e. A pair
    task's work grows with d + `extra_columns` (the permutation test's products)."""
    if kernel == "energy" and not (isinstance(bandwidth, str) and bandwidth == "median"):
        raise ValueError(
            f"the energy kernel -|x - y| has no bandwidth, got bandwidth={bandwidth!r}; leave bandwidth at its default"
        )
    h = None if kernel == "energy" else bandwidth
    if estimator == "linear":
        # Aligned blocks of an even number of rows keep the in-memory pairing.
        def rows(n, d, s):
            return 2 * max(1, (block_rows or stream_block_rows(d, s)) // 2)
    else:

        def rows(n, d, s):
            return block_rows or pair_block_rows(d + extra_columns, s)

    min_samples = 1 if estimator == "biased" else 2
    xs, ys = samples([x, y], ["x", "y"], min_samples=(min_samples,), float32=float32, rows=rows)
    if estimator == "linear" and xs.n != ys.n:
        raise ValueError(
            f"the linear estimator pairs x[i] with y[i], so x and y need the same number of "
            f"samples, got {xs.n} and {ys.n}; use estimator='unbiased' instead"
        )
    e = exponent_of(max(xs.top, ys.top), xs.dtype)
    if h == "median":
        h = _median(xs, ys, e)
    elif h is not None:
        h = _mmd.scaled_bandwidth(h, e, lambda: max(xs.top, ys.top))
    return xs, ys, kernel, h, estimator, e


@validate_params({**_mmd.MMD_PARAMETERS, **BLOCK_ROWS})
def mmd(x, y, *, kernel="gaussian", bandwidth="median", estimator="unbiased", block_rows=None) -> float:
    """Squared MMD of two Dask arrays: :func:`divergent.mmd` on row blocks.

    One task per pair of row blocks (i <= j within a sample), each the core's
    compensated sum; the partials are combined exactly (`math.fsum`), so the value
    equals the in-memory one to ~1e-12 relative whatever the chunking and the number of
    workers. The median bandwidth comes from the same fixed-seed subsample as in memory
    (gathered from the blocks). The linear estimator runs one task per pair of aligned
    blocks.

    Parameters
    ----------
    x, y : dask.array.Array or array_like, shape (n, d) / (m, d)
    kernel, bandwidth, estimator
        As in :func:`divergent.mmd`.
    block_rows : int, optional
        Rows per block. Default: about a second of one core per block pair
        (``PAIR_TASK_WORK`` pairs-times-features, at most 128 MiB per block).

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np, dask.array as da, divergent as dv, divergent.dask as dvd
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(size=(2000, 3)), rng.normal(0.3, 1, size=(1500, 3))
    >>> X, Y = da.from_array(x, chunks=500), da.from_array(y, chunks=500)
    >>> bool(np.isclose(dvd.mmd(X, Y), dv.mmd(x, y), rtol=1e-12, atol=0))
    True
    """
    xs, ys, kernel, h, estimator, e = _inputs(x, y, kernel, bandwidth, estimator, block_rows)
    power = int(kernel == "energy")
    if estimator == "linear":
        parts = dask.compute(
            *[delayed(_linear_part, a, b, e, kernel, h) for a, b in zip(xs.blocks, ys.blocks, strict=True)]
        )
        value = math.fsum(parts) / (xs.n // 2)
        return _mmd._finite(value, "MMD^2", e, power)
    sxx, syy, sxy = _pair_sums(xs, ys, e, kernel, h)
    n, m = xs.n, ys.n
    if estimator == "unbiased":
        value = _unbiased(sxx, syy, sxy, n, m)
    else:
        k0 = 0.0 if kernel == "energy" else 1.0
        value = (sxx + n * k0) / (n * n) + (syy + m * k0) / (m * m) - 2.0 * sxy / (n * m)
    return _mmd._finite(value, "MMD^2", e, power)


@validate_params(BLOCK_ROWS)
def energy_distance(x, y, *, block_rows=None) -> float:
    """Energy distance of two Dask arrays: :func:`divergent.energy_distance` on row
    blocks (the biased MMD of the energy kernel, as there).

    Parameters
    ----------
    x, y : dask.array.Array or array_like, shape (n, d) / (m, d)
    block_rows : int, optional
        As in :func:`mmd`.

    Returns
    -------
    float

    Examples
    --------
    >>> import dask.array as da, divergent.dask as dvd
    >>> dvd.energy_distance(da.zeros((3, 1), chunks=2), da.ones((3, 1), chunks=2))
    2.0
    """
    xs, ys, _, _, _, e = _inputs(x, y, "energy", "median", "biased", block_rows)
    sxx, syy, sxy = _pair_sums(xs, ys, e, "energy", None)
    n, m = xs.n, ys.n
    value = sxx / (n * n) + syy / (m * m) - 2.0 * sxy / (n * m)
    return _mmd._finite(value, "energy distance", e)


@on_worker
def _null_block(a, b, ga, gb, e, kernel, h):
    """One block pair's share of every permutation statistic (b None: a with itself)."""
    a = _scale.scaled(a, e)
    b = None if b is None else _scale.scaled(b, e)
    return _core.mmd_permutation_block_sums(a, b, ga, gb, kernel, h)


@validate_params({**_two_sample.MMD_TEST_PARAMETERS, **BLOCK_ROWS})
def mmd_test(
    x, y, *, kernel="gaussian", bandwidth="median", n_permutations=999, seed=None, block_rows=None
) -> TestResult:
    """MMD permutation test of two Dask arrays: :func:`divergent.mmd_test` on row blocks.

    The permutations are drawn once, on the client, from `seed` exactly as in memory;
    the pooled sample's blocks are paired (i <= j) and each task computes its block of
    the kernel matrix times the 0/1 group vectors of every permutation (the core's
    streamed product, as in memory), returning four numbers per permutation; these are
    summed exactly (`math.fsum`). The statistic and null equal the in-memory ones to
    ~1e-12 of the kernel's scale, so the p-value is the same.

    Parameters
    ----------
    x, y : dask.array.Array or array_like, shape (n, d) / (m, d)
    kernel, bandwidth, n_permutations, seed
        As in :func:`divergent.mmd_test`.
    block_rows : int, optional
        Rows per block; by default a task does about ``PAIR_TASK_WORK`` units of
        (rows x rows x (d + n_permutations)).

    Returns
    -------
    TestResult

    Examples
    --------
    >>> import numpy as np, dask.array as da, divergent as dv, divergent.dask as dvd
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(size=(200, 2)), rng.normal(1, 1, size=(200, 2))
    >>> dvd.mmd_test(da.from_array(x, chunks=64), y, seed=0).pvalue == dv.mmd_test(x, y, seed=0).pvalue
    True
    """
    xs, ys, kernel, h, _, e = _inputs(
        x, y, kernel, bandwidth, "unbiased", block_rows, float32=False, extra_columns=n_permutations
    )
    n, m = xs.n, ys.n
    total = n + m
    check_memory(
        9 * total * (n_permutations + 1),
        f"n_permutations={n_permutations}",
        "999 to 9999 permutations resolve p-values to 0.03 to 0.01",
    )
    masks = _two_sample.observed_and_permutation_masks(n, total, n_permutations, seed)
    blocks = xs.blocks + ys.blocks
    starts = xs.starts + [n + s for s in ys.starts]
    stops = starts[1:] + [total]
    groups = [dask.delayed(np.ascontiguousarray(masks[:, a:b]), pure=True) for a, b in zip(starts, stops, strict=True)]
    tasks, pairs = [], []
    for i, (bi, gi) in enumerate(zip(blocks, groups, strict=True)):
        for j in range(i, len(blocks)):
            other = None if j == i else blocks[j]
            tasks.append(delayed(_null_block, bi, other, gi, groups[j], e, kernel, h))
            pairs.append(i != j)
    parts = dask.compute(*tasks)
    sxx, sxy, syy = [], [], []
    for (within, rows_all, cols_all, tot), both in zip(parts, pairs, strict=True):
        if both:
            # The pair (j, i) adds the same within and total, with rows and columns swapped.
            sxx.append(2.0 * within)
            sxy.append(rows_all + cols_all - 2.0 * within)
            syy.append(2.0 * (tot - rows_all - cols_all + within))
        else:
            sxx.append(within)
            sxy.append(rows_all - within)
            syy.append(tot - rows_all - cols_all + within)
    exact = lambda a: np.array([math.fsum(c) for c in np.stack(a).T])  # noqa: E731
    values = _unbiased(exact(sxx), exact(syy), exact(sxy), n, m)
    power = int(kernel == "energy")
    statistic = _mmd._finite(float(values[0]), "MMD^2", e, power)
    null = _two_sample.unscaled_null(values[1:], e, kernel)
    if kernel == "energy":
        count, _, scatter = _merge_moments(
            dask.compute(
                *[
                    delayed(_moments, b, e, np.ones(stop - start))
                    for b, start, stop in zip(blocks, starts, stops, strict=True)
                ]
            )
        )
        scale = float(np.sqrt(2 * np.diag(scatter).sum() / count))
    else:
        scale = 1.0
    return TestResult(statistic, monte_carlo_pvalue(statistic, null, _scale.unscaled(scale, e, power)), null)


@on_worker
def _moments(block, e, w):
    """(sum w, weighted mean, weighted centred scatter) of a float64 block."""
    b = _scale.scaled(block, e)
    total = float(w.sum())
    mean = (w @ b) / total if total > 0 else np.zeros(b.shape[1])
    c = b - mean
    return total, mean, (c * w[:, None]).T @ c


def _merge_moments(parts):
    """The block moments merged in block order (blocks of zero weight add nothing)."""
    merged = None
    for part in parts:
        if part[0] > 0:
            merged = part if merged is None else merge_moments(merged, part)
    return merged


@on_worker
def _lse(points, data, e, inv, log_w):
    """log sum_j w_j exp(-|L^-1 (p - x_j)|^2 / 2) of each point over one data block."""
    p = _scale.scaled(points, e) @ inv.T
    q = _scale.scaled(data, e) @ inv.T
    with np.errstate(over="ignore", invalid="ignore"):
        return _core.gaussian_logsumexp(p, q, log_w)


@on_worker
def _combine_lse(*parts):
    with np.errstate(over="ignore", invalid="ignore"):
        return np.logaddexp.reduce(np.stack(parts), axis=0)


@validate_params({**_density.KDE_PARAMETERS, **BLOCK_ROWS})
def kde_logpdf(data, points, *, bandwidth="scott", weights=None, block_rows=None):
    """Log-density of the Gaussian KDE of `data` at `points`, both Dask arrays:
    :func:`divergent.kde_logpdf` on row blocks.

    The weighted mean and covariance are merged from per-block float64 moments (Chan et
    al.'s pairwise update); each pair of a point block and a data block is one task, a
    streaming log-sum-exp in the core, and a point's log-sums over the data blocks are
    combined with ``logaddexp`` in block order. Equal to the in-memory values to ~1e-12
    relative.

    Parameters
    ----------
    data : dask.array.Array or array_like, shape (n, d)
    points : dask.array.Array or array_like, shape (m, d)
    bandwidth : {"scott", "silverman"} or float, default "scott"
    weights : array_like, shape (n,), optional
        Non-negative sample weights (a NumPy array: n floats fit in memory).
    block_rows : int, optional
        Rows per block of data and of points.

    Returns
    -------
    numpy.ndarray, shape (m,)

    Examples
    --------
    >>> import numpy as np, dask.array as da, divergent.dask as dvd
    >>> data = da.from_array(np.random.default_rng(0).normal(size=(1000, 2)), chunks=300)
    >>> dvd.kde_logpdf(data, [[0.0, 0.0], [40.0, 0.0]]).round(1).tolist()
    [-2.0, -6654.1]
    """
    rows = lambda n, d, s: block_rows or pair_block_rows(d, s)  # noqa: E731
    ds, ps = samples([data, points], ["data", "points"], min_samples=(2, 1), rows=rows)
    n, d = ds.n, ds.d
    w = np.full(n, 1.0 / n) if weights is None else check_weights(weights, n)
    e = exponent_of(ds.top, ds.dtype)
    factor = _density.bandwidth_factor(bandwidth, 1.0 / np.sum(w * w), d)
    stops = ds.starts[1:] + [n]
    wb = [w[a:b] for a, b in zip(ds.starts, stops, strict=True)]
    total, _, scatter = _merge_moments(
        dask.compute(*[delayed(_moments, b, e, wi) for b, wi in zip(ds.blocks, wb, strict=True)])
    )
    cov = np.atleast_2d(scatter / (total - np.sum(w * w) / total))
    inv, log_norm = _density.whitening(cov, factor, n, e)
    with np.errstate(divide="ignore"):
        log_w = [np.log(wi) for wi in wb]
    rows_out = []
    for pb in ps.blocks:
        parts = [delayed(_lse, pb, db, e, inv, lw) for db, lw in zip(ds.blocks, log_w, strict=True)]
        rows_out.append(parts[0] if len(parts) == 1 else delayed(_combine_lse, *parts))
    logpdf = np.concatenate(dask.compute(*rows_out)) + log_norm
    return _density.finite_logpdf(logpdf, factor, bandwidth)
