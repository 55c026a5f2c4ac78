"""k-NN estimators over row blocks: one task per query block.

A reference sample (the points searched) up to `REFERENCE_MAX_BYTES` goes whole to every
task, which searches its query block against it with the in-memory search (each worker
receives it once). A larger one is searched block by block, the k smallest distances of
each query kept from every block and merged. Either way the distances are the exact
ones of the in-memory search (computed by coordinate differences or re-checked in
float64), so the estimates are bit-for-bit those of `divergent.knn`, whatever the
chunking and the number of workers.
"""

from __future__ import annotations

import math

import dask
import numpy as np

from divergent import _core, _scale
from divergent._validation import validate_params
from divergent.dask._blocks import (
    BLOCK_ROWS,
    REFERENCE_MAX_BYTES,
    Sample,
    as_dask,
    delayed,
    exponent_of,
    on_worker,
    query_block_rows,
    samples,
)
from divergent.knn._common import KNN_PARAMETERS, KSG_METHODS, check_k, check_no_zero
from divergent.knn._divergences import entropy_from_distances, kl_from_distances
from divergent.knn._mutual_information import ksg_from_counts

__all__ = ["entropy", "kl_divergence", "mutual_information"]


def _no_jitter(jitter):
    if jitter is not None and jitter is not False:
        raise ValueError(
            "jitter is not available in divergent.dask: in memory its noise is one stream "
            "over the whole sample; add the noise to the Dask array before the call (e.g. "
            "x + 1e-10 * x.std(axis=0) * dask.array.random.default_rng(0).standard_normal(x.shape)) "
            "or remove the duplicate points"
        )


def _whole(blocks):
    """The reference sample from its row blocks. Tasks take the blocks themselves, not one
    concatenated copy: the scheduler then places each task by its query block, spread
    over the workers, instead of gathering every task on the worker holding the copy."""
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)


@on_worker
def _kth(queries, e, k, metric, self_block, *reference):
    """Distances from each query to its k smallest-distance points of the reference
    (its blocks, concatenated here) (n_q, k), sorted. With `self_block`, the queries are
    part of the reference and k + 1 are searched: the smallest, 0, is the query itself
    (or a duplicate, which leaves the k-th distance unchanged)."""
    q = _scale.scaled(queries, e)
    r = _scale.scaled(_whole(reference), e)
    kk = min(k + int(self_block), r.shape[0])
    return _core.knn(r, kk, metric=metric, queries=q, all=True)[0]


@on_worker
def _merge_kth(k, self_block_count, *parts):
    """The k-th smallest distance (after dropping `self_block_count` zeros, the query
    itself) of each query over the candidate lists of every reference block."""
    d = np.sort(np.concatenate(parts, axis=1), axis=1)
    return d[:, k - 1 + self_block_count]


def _kth_distances(queries: Sample, reference: Sample, e, k, metric, same: bool):
    """k-th neighbour distance of every query among the reference points (itself
    excluded when `same`), as one array in query order."""
    out = []
    if reference.n * reference.d * reference.dtype.itemsize <= REFERENCE_MAX_BYTES:
        for qb in queries.blocks:
            kth = delayed(_kth, qb, e, k, metric, same, *reference.blocks)
            out.append(delayed(_pick, kth, k - 1 + int(same)))
    else:
        for qb in queries.blocks:
            parts = [delayed(_kth, qb, e, k, metric, same and (rb is qb), rb) for rb in reference.blocks]
            out.append(delayed(_merge_kth, k, int(same), *parts))
    return out


def _pick(d, column):
    return d[:, column]


def _rows(block_rows):
    return lambda n, d, s: block_rows or query_block_rows(n, d, s)


@validate_params({**KNN_PARAMETERS, **BLOCK_ROWS})
def entropy(x, *, k=3, jitter=None, seed=None, block_rows=None) -> float:
    """Kozachenko-Leonenko entropy of a Dask array: :func:`divergent.entropy` with one
    task per query block (the same value, bit for bit).

    Parameters
    ----------
    x : dask.array.Array or array_like, shape (n, d)
    k : int, default 3
    jitter, seed
        Only ``jitter=None``: add any noise to the Dask array itself.
    block_rows : int, optional
        Query rows per task. Default: the queries split evenly over the cluster's worker
        threads (each task builds the reference's search tree once), at least 16,384
        rows and at most 128 MiB.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np, dask.array as da, divergent as dv, divergent.dask as dvd
    >>> x = np.random.default_rng(0).standard_normal(20_000)
    >>> dvd.entropy(da.from_array(x, chunks=6000)) == dv.entropy(x)
    True
    """
    _no_jitter(jitter)
    (xs,) = samples([x], ["x"], min_samples=(2,), float32=True, rows=_rows(block_rows))
    k = check_k(k, xs.n - 1, "x")
    e = exponent_of(xs.top, xs.dtype)
    eps = np.concatenate(dask.compute(*_kth_distances(xs, xs, e, k, "euclidean", True)))
    check_no_zero(eps, "x", k, "x")
    return entropy_from_distances(eps, xs.d, k) + xs.d * e * math.log(2.0)


@validate_params({**KNN_PARAMETERS, **BLOCK_ROWS})
def kl_divergence(x, y, *, k=1, jitter=None, seed=None, block_rows=None) -> float:
    """k-NN estimate of KL(P || Q) from Dask arrays: :func:`divergent.kl_divergence`
    with one task per query block of x (the same value, bit for bit).

    Parameters
    ----------
    x, y : dask.array.Array or array_like, shape (n, d) / (m, d)
    k : int, default 1
    jitter, seed
        Only ``jitter=None``.
    block_rows : int, optional
        Query rows per task.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np, dask.array as da, divergent.dask as dvd
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.standard_normal((20_000, 2)), rng.standard_normal((20_000, 2)) + 1
    >>> round(dvd.kl_divergence(da.from_array(x, chunks=5000), y, k=5), 1)  # |mu|^2 / 2 = 1
    1.0
    """
    _no_jitter(jitter)
    xs, ys = samples([x, y], ["x", "y"], min_samples=(2, 1), float32=True, rows=_rows(block_rows))
    k = check_k(k, min(xs.n - 1, ys.n), "x (n - 1 others) or y (m points)")
    e = exponent_of(max(xs.top, ys.top), xs.dtype)
    tasks = _kth_distances(xs, xs, e, k, "euclidean", True) + _kth_distances(xs, ys, e, k, "euclidean", False)
    parts = dask.compute(*tasks)
    rho = np.concatenate(parts[: len(xs.blocks)])
    nu = np.concatenate(parts[len(xs.blocks) :])
    check_no_zero(rho, "x", k, "x")
    check_no_zero(nu, "x", k, "y")
    return kl_from_distances(rho, nu, xs.d, ys.n)


@on_worker
def _ksg_block(queries, start, e, k, dx, method, *joint):
    """For one query block of the joint sample: the KSG counts in the x and the y
    subspace (other points strictly within the joint k-th distance for KSG1; within the
    largest marginal distance to the k joint neighbours for KSG2), and the joint k-th
    distances."""
    r = _scale.scaled(_whole(joint), e)
    q = _scale.scaled(queries, e)
    dist, idx = _core.knn(r, k + 1, metric="chebyshev", queries=q, all=True)
    own = np.arange(start, start + q.shape[0])
    if method == "ksg1":
        eps = dist[:, k]
        radii = [eps, eps]
        strict = True
    else:
        # The k joint neighbours: the k + 1 nearest (ties by index, as in memory) without
        # the query itself (or, with k + 1 duplicates before it, the last of them).
        is_self = idx == own[:, None]
        drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k)
        keep = np.ones_like(is_self)
        keep[np.arange(q.shape[0]), drop] = False
        nb = idx[keep].reshape(q.shape[0], k)
        eps = dist[:, k]
        radii = [
            np.abs(r[nb, :dx] - q[:, None, :dx]).max(axis=(1, 2)),
            np.abs(r[nb, dx:] - q[:, None, dx:]).max(axis=(1, 2)),
        ]
        strict = False
    counts = []
    for cols, radius in zip((slice(0, dx), slice(dx, None)), radii, strict=True):
        c = _core.count_within(
            np.ascontiguousarray(r[:, cols]),
            radius,
            metric="chebyshev",
            strict=strict,
            queries=np.ascontiguousarray(q[:, cols]),
        )
        counts.append(c - 1)  # the query itself is within any radius >= 0
    return eps, counts[0], counts[1]


@validate_params({**KNN_PARAMETERS, "method": KSG_METHODS, **BLOCK_ROWS})
def mutual_information(x, y, *, k=3, method="ksg1", jitter=None, seed=None, block_rows=None) -> float:
    """KSG mutual information of paired Dask arrays: :func:`divergent.mutual_information`
    with one task per query block of the joint sample (the same value, bit for bit).

    Each task searches its block's k + 1 joint max-norm neighbours in the whole joint
    sample and counts the marginal neighbours there, so the joint sample (n x (dx + dy)
    float64) must fit in a worker's memory.

    Parameters
    ----------
    x, y : dask.array.Array or array_like, shape (n, dx) / (n, dy)
    k : int, default 3
    method : {"ksg1", "ksg2"}, default "ksg1"
    jitter, seed
        Only ``jitter=None``.
    block_rows : int, optional
        Query rows per task.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np, dask.array as da, divergent.dask as dvd
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(20_000)
    >>> y = 0.9 * x + np.sqrt(1 - 0.81) * rng.standard_normal(20_000)
    >>> round(dvd.mutual_information(da.from_array(x, chunks=4000), y), 2)  # -log(1 - 0.81) / 2
    0.83
    """
    _no_jitter(jitter)
    # One row chunking for both, so that their blocks pair up into joint blocks.
    xd, yd = as_dask(x, "x"), as_dask(y, "y")
    rows = block_rows or query_block_rows(xd.shape[0], xd.shape[1] + yd.shape[1], 8)
    xs, ys = samples([xd, yd], ["x", "y"], min_samples=(2,), rows=lambda n, d, s: rows, same_dim=False)
    if xs.n != ys.n:
        raise ValueError(f"x and y must have the same number of samples (paired observations), got {xs.n} and {ys.n}")
    k = check_k(k, xs.n - 1, "the joint sample")
    e = exponent_of(max(xs.top, ys.top), xs.dtype)
    joint_blocks = [delayed(np.hstack, [a, b]) for a, b in zip(xs.blocks, ys.blocks, strict=True)]
    parts = dask.compute(
        *[
            delayed(_ksg_block, qb, start, e, k, xs.d, method, *joint_blocks)
            for qb, start in zip(joint_blocks, xs.starts, strict=True)
        ]
    )
    eps = np.concatenate([p[0] for p in parts])
    check_no_zero(eps, "the joint sample", k, "the joint space (max-norm)")
    cx = np.concatenate([p[1] for p in parts])
    cy = np.concatenate([p[2] for p in parts])
    return ksg_from_counts(cx, cy, k, method)
