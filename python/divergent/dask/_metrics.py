"""FID over row blocks: `FeatureStats` per block, merged in block order."""

from __future__ import annotations

import dask

from divergent._validation import validate_params
from divergent.dask._blocks import BLOCK_ROWS, delayed, on_worker, samples
from divergent.metrics import _fid
from divergent.metrics._fid import FeatureStats

__all__ = ["fid"]


@on_worker
def _block_stats(block):
    return FeatureStats().update(block)


@validate_params(BLOCK_ROWS)
def fid(x, y, *, block_rows=None) -> float:
    """Frechet Inception Distance of two Dask arrays of features:
    :func:`divergent.metrics.fid` with the float64 moments of each row block computed
    on the workers (one task per block) and merged in block order (Chan et al.'s
    pairwise update, as ``FeatureStats.merge``). With the default 8,192-row blocks, the
    value is bit for bit the in-memory one; other chunkings agree to round-off.

    Parameters
    ----------
    x, y : dask.array.Array or array_like, shape (n, d) / (m, d)
    block_rows : int, optional
        Rows per task (default 8,192, as in memory).

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np, dask.array as da, divergent.dask as dvd
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(size=(4000, 4)), rng.normal(size=(4000, 4)) + [1, 0, 0, 0]
    >>> round(dvd.fid(da.from_array(x, chunks=1000), da.from_array(y, chunks=1000)), 1)
    1.0
    """
    rows = block_rows or _fid._FID_BLOCK_ROWS
    xs, ys = samples([x, y], ["x", "y"], min_samples=(2,), float32=True, rows=lambda n, d, s: rows, same_dim=False)
    parts = dask.compute(*[delayed(_block_stats, b) for s in (xs, ys) for b in s.blocks])
    sx, sy = FeatureStats(), FeatureStats()
    for i, p in enumerate(parts):
        (sx if i < len(xs.blocks) else sy).merge(p)
    return _fid.fid(sx, sy)
