"""Dask arrays as validated row blocks, and the task plumbing every function shares.

A sample becomes a list of delayed NumPy row blocks (columns in one chunk), checked in
one pass over the data (dtype, shape, NaN/inf with the argument's name and the first
bad row) before any estimator task is submitted, so a bad value is a ValueError here,
not a traceback from a worker. The same pass gives the largest magnitude, from which
the power-of-two rescaling of `divergent._scale` is chosen for the whole sample, exactly
as in memory.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from dataclasses import dataclass

import dask
import dask.array as da
import numpy as np

from divergent import _core, _scale
from divergent._validation import (
    COUNT,
    check_sample_count,
    check_sample_ndim,
    nonfinite_error,
    real_array,
)

#: Work (rows of x times rows of y times d) of one pair-sum task: about half a second of
#: one core (4.8 x 10^8 pairs/s at d = 10; benches/RESULTS.md, section Dask), so that
#: Dask's overhead per task (~1 ms) stays below 1%.
PAIR_TASK_WORK = 2.5e9
#: Bytes of one row block held by a task (a pair task holds two).
BLOCK_MAX_BYTES = 128 << 20
#: Rows of a block for the linear-time MMD's tasks.
STREAM_BLOCK_ROWS = 1 << 17
#: Fewest query rows of a k-NN task: each task builds the reference's search tree
#: (~0.4 s per 10^6 points in d = 5), which this many queries outweigh.
QUERY_MIN_ROWS = 1 << 14
#: A reference sample (the data side of a k-NN search) up to this size goes to every
#: task, all its blocks, and the task searches its query block in all of it (each
#: worker receives each block once). Larger ones are searched block by block and the k
#: best merged.
REFERENCE_MAX_BYTES = 1 << 30


def pair_block_rows(d: int, itemsize: int) -> int:
    """Rows per block of a pair-sum task in d dimensions."""
    rows = int(math.sqrt(PAIR_TASK_WORK / max(d, 8)))
    rows = min(rows, BLOCK_MAX_BYTES // (itemsize * d))
    return max(256, rows // 256 * 256)


def stream_block_rows(d: int, itemsize: int) -> int:
    return max(256, min(STREAM_BLOCK_ROWS, BLOCK_MAX_BYTES // (itemsize * d)) // 256 * 256)


def worker_threads() -> int:
    """Threads of the active Dask client's workers, else this machine's cores."""
    try:
        from distributed import get_client

        return max(1, sum(get_client().nthreads().values()))
    except (ImportError, ValueError):
        return os.cpu_count() or 1


def query_block_rows(n: int, d: int, itemsize: int) -> int:
    """Query rows of a k-NN task: one task per worker thread (each task builds the
    reference's tree once, so fewer, larger tasks build fewer trees), at most
    `BLOCK_MAX_BYTES` and at least `QUERY_MIN_ROWS`."""
    rows = max(-(-n // worker_threads()), QUERY_MIN_ROWS)
    rows = min(rows, BLOCK_MAX_BYTES // (itemsize * d))
    return max(256, -(-rows // 256) * 256)


#: The block_rows parameter every divergent.dask function declares.
BLOCK_ROWS = {"block_rows": (COUNT, None)}


@dataclass
class Sample:
    """A validated sample: its row blocks (delayed NumPy arrays in `dtype`, in row order),
    their first rows, the sample's shape and its largest magnitude `top`."""

    name: str
    blocks: list
    starts: list[int]
    n: int
    d: int
    dtype: np.dtype
    top: float


def exponent_of(top: float, dtype) -> int:
    """`divergent._scale.exponent` from the largest magnitude alone."""
    return _scale.exponent(np.array([top], dtype=dtype))


def _scan(block: np.ndarray) -> tuple[int, float]:
    """(first row with a NaN/inf or -1, largest magnitude)."""
    finite = np.isfinite(block)
    if not finite.all():
        return int(np.argwhere(~finite)[0, 0]), math.inf
    top = float(np.abs(block).max()) if block.size else 0.0
    return -1, top


def as_dask(x, name: str):
    """`x` as a 2-D Dask array (a 1-D one is n samples in d = 1) of a real dtype; NumPy
    input is wrapped. The dtype refusals are those of the in-memory functions."""
    if not isinstance(x, da.Array):
        x = da.from_array(real_array(x, name), chunks="auto")
    real_array(np.empty(0, dtype=x.dtype), name)
    check_sample_ndim(x.shape, name)
    if x.ndim == 1:
        x = x[:, None]
    if any(math.isnan(c) for c in x.chunks[0]):
        x = x.compute_chunk_sizes()
    return x


def samples(arrays, names, *, min_samples=(1,), float32=False, rows=None, same_dim=True):
    """Validate Dask arrays as samples (as `divergent._validation.as_samples` does) in one
    pass over the data, and return them as `Sample`s of row blocks.

    `rows(n, d, itemsize)` gives the rows per block; float32 is kept when `float32` and
    every array is float32 (one dtype for all, as `common_dtype`)."""
    arrays = [as_dask(a, nm) for a, nm in zip(arrays, names, strict=True)]
    mins = list(min_samples) * len(arrays) if len(min_samples) == 1 else list(min_samples)
    for a, nm, lo in zip(arrays, names, mins, strict=True):
        check_sample_count(a.shape, nm, lo)
    if same_dim:
        for a, nm in zip(arrays[1:], names[1:], strict=True):
            if a.shape[1] != arrays[0].shape[1]:
                raise ValueError(
                    f"{names[0]} and {nm} must have the same number of features, got "
                    f"{names[0]}.shape={arrays[0].shape} and {nm}.shape={a.shape}"
                )
    keep32 = float32 and all(a.dtype == np.float32 for a in arrays)
    dtype = np.dtype(np.float32 if keep32 else np.float64)
    out = []
    for a, nm in zip(arrays, names, strict=True):
        a = a.astype(dtype, copy=False)
        block = rows(a.shape[0], a.shape[1], dtype.itemsize)
        a = a.rechunk({0: block, 1: -1})
        blocks = list(a.to_delayed().ravel())
        starts = np.concatenate([[0], np.cumsum(a.chunks[0])[:-1]]).astype(int).tolist()
        out.append((nm, a, blocks, starts))
    scans = dask.compute(*[delayed(_scan, b) for _, _, blocks, _ in out for b in blocks])
    result, i = [], 0
    for nm, a, blocks, starts in out:
        parts = scans[i : i + len(blocks)]
        i += len(blocks)
        for (bad, _), start in zip(parts, starts, strict=True):
            if bad >= 0:
                raise nonfinite_error(nm, start + bad)
        top = max(t for _, t in parts)
        result.append(Sample(nm, blocks, starts, a.shape[0], a.shape[1], dtype, top))
    return result


_threads_lock = threading.Lock()
_threads_matched = False


def match_worker_threads() -> None:
    """On a Dask worker, size divergent's thread pool to the worker's thread count
    (unless DIVERGENT_NUM_THREADS says otherwise), once per process: a worker running t
    tasks at once then runs t pool threads, not t times the core count."""
    global _threads_matched
    if _threads_matched:
        return
    with _threads_lock:
        if _threads_matched:
            return
        _threads_matched = True
        if os.environ.get("DIVERGENT_NUM_THREADS"):
            return
        try:
            from distributed import get_worker

            nthreads = get_worker().state.nthreads
        except (ImportError, ValueError, AttributeError):
            return
        if nthreads and _core.get_num_threads() != nthreads:
            _core.set_num_threads(int(nthreads))


def on_worker(fn):
    """`fn`, first matching the worker's thread count. Every task of this package is
    pure (the same inputs give the same result), so Dask recomputes a task lost with its
    worker to the same value."""

    @functools.wraps(fn)
    def run(*args):
        match_worker_threads()
        return fn(*args)

    return run


def delayed(fn, *args):
    """The task fn(*args), keyed by its inputs."""
    return dask.delayed(fn, pure=True)(*args)


def gather(sample: Sample, rows: np.ndarray) -> np.ndarray:
    """The rows `rows` (sorted global indices) of a sample, computed."""
    parts = []
    for block, start, stop in zip(sample.blocks, sample.starts, sample.starts[1:] + [sample.n], strict=True):
        local = rows[(rows >= start) & (rows < stop)] - start
        if local.size:
            parts.append(delayed(np.take, block, local, 0))
    if not parts:
        return np.empty((0, sample.d), dtype=sample.dtype)
    return np.concatenate(dask.compute(*parts))
