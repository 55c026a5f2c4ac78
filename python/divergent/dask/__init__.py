r"""divergent on a Dask cluster: the kernel sums, k-NN estimators, KDE and FID of
divergent on Dask arrays, with the same numbers as in memory.

Start a cluster (or connect to one) and pass Dask arrays, from Zarr, HDF5 or
``dask.array.from_array``; the functions run on whatever scheduler is active (a
``dask.distributed.Client``, else Dask's local threads)::

    from dask.distributed import Client, LocalCluster
    import dask.array as da
    import divergent.dask as dvd

    client = Client(LocalCluster(n_workers=2, threads_per_worker=1))  # or Client("tcp://host:8786")
    x = da.from_zarr("x.zarr")            # (n, d); rows are the unit of work
    dvd.mmd(x, y)                         # equals divergent.mmd(x.compute(), y.compute())

Functions: :func:`mmd`, :func:`energy_distance`, :func:`mmd_test`, :func:`kde_logpdf`,
:func:`entropy`, :func:`kl_divergence`, :func:`mutual_information`, :func:`fid`, with the
arguments of their in-memory namesakes plus ``block_rows``. Columns are rechunked into one block;
rows into blocks of ``block_rows``. Every input is first checked in one pass over its
blocks (NaN/inf are a ValueError naming the argument and the row, raised here, not on a
worker). Tasks are pure: a task lost with its worker is recomputed by Dask to the same
value. On a worker, divergent's thread pool takes the worker's thread count (unless
``DIVERGENT_NUM_THREADS`` is set), so start workers with ``threads_per_worker`` (or
``--nthreads``) equal to the cores they may use. Follow long runs on the cluster's
dashboard (``client.dashboard_link``), or with ``dask.diagnostics.ProgressBar()`` on the
local scheduler.

Agreement with memory
---------------------
* Pair sums (``mmd``, ``energy_distance``): one task per pair of row blocks (i <= j
  within a sample), each the core's compensated sum; the partials are combined by
  ``math.fsum`` (exactly rounded), so the value does not depend on the task order or
  the number of workers, and on the chunking only through each block's own rounding:
  equal to the in-memory value to ~1e-12 relative (an MMD^2 near zero is a difference
  of O(1) terms: the agreement is then ~1e-15 of those terms). The median bandwidth is
  computed from the same fixed-seed subsample as in memory, gathered from the blocks.
* ``mmd_test``: the permutations drawn once on the client from the seed, as in memory;
  one task per pair of pooled blocks computes its kernel block times every
  permutation's group vector (four sums per permutation come back), combined exactly:
  the same statistics to ~1e-12 of the kernel's scale, hence the same p-value.
* k-NN (``entropy``, ``kl_divergence``, ``mutual_information``): the neighbour distances
  are the exact ones of the in-memory search, so the estimates are identical, bit for
  bit, for any chunking.
* ``kde_logpdf``: covariance merged from per-block float64 moments, per-point
  log-sum-exps combined over data blocks with ``logaddexp``: ~1e-12 relative.
* ``fid``: per-block ``FeatureStats`` merged in block order; bit for bit with the
  default 8,192-row blocks.

Cost model
----------
With n = m rows in d dimensions, blocks of B rows, P worker threads and a single-core
pair rate r (pairs per second: r = 4.8 x 10^8 for the Gaussian kernel at d = 10 on this
project's 2-core benchmark machine, falling about as 1/d on the difference path and
rising on the Gram path above d ~ 20):

* Pair sums: a = n / B blocks per sample and a(a + 1) + a^2 tasks (pairs within x and
  within y with i <= j, and every pair across), each B^2 d ~ PAIR_TASK_WORK = 2.5 x 10^9
  (about half a second). A task reads two blocks (16 B d bytes of float64); a worker
  receives at most that per task it runs, and less as Dask keeps the blocks it already
  holds. Time ~ (2n)^2 / 2 / (P r) + (tasks / P) x ~1 ms of Dask overhead. Checked here
  at n = 10^5, d = 10: 41.4 s on 1 worker (model: 41.7 s), 19.5 s on 2 (model: 20.8 s);
  at n = 2 x 10^5 on 2 workers 90.7 s against 87.7 s in this process on 2 threads.
  Projection for n = m = 10^7, d = 10: B = 15,616, a = 641, 8.2 x 10^5 tasks of 2.4 MB
  each, 2 x 10^14 pairs: ~70 minutes on 100 single-core workers, ~4.5 minutes on 100
  workers of 16 cores (pass a larger ``block_rows``, e.g. 50,000, to cut the task
  count, and the scheduler's load, tenfold).
* ``mmd_test``: the same pairs, each task also multiplying its kernel block by the
  n_permutations group vectors (blocks sized by d + n_permutations); the masks
  (n_permutations x (n + m) booleans) are drawn on the client and each block's columns
  sent to the tasks that need them.
* k-NN: the queries split evenly over the worker threads (at least 16,384 rows per
  task); every task receives the reference sample's blocks (n d 8 bytes: 40 MB at
  n = 10^6, d = 5; 400 MB at 10^7) while it is at most REFERENCE_MAX_BYTES (1 GiB), builds
  its search tree (~0.4 s per 10^6 points in d = 5) and searches its block: the
  in-memory queries, shared by P threads, plus one tree build per task. Beyond 1 GiB the
  reference is searched block by block (a^2 tasks, the k best of each merged).
* FID: one task per 8,192-row block (one d x d GEMM each); the client merges n / 8192
  d x d matrices.

Block sizes are set by the constants below (``PAIR_TASK_WORK``, ``BLOCK_MAX_BYTES``,
``STREAM_BLOCK_ROWS``, ``REFERENCE_MAX_BYTES``) and by ``block_rows`` per call.

Requires ``pip install 'divergent[dask]'``; ``import divergent`` does not import Dask.
"""

from divergent.dask._blocks import BLOCK_MAX_BYTES, PAIR_TASK_WORK, REFERENCE_MAX_BYTES, STREAM_BLOCK_ROWS
from divergent.dask._kernel import energy_distance, kde_logpdf, mmd, mmd_test
from divergent.dask._knn import entropy, kl_divergence, mutual_information
from divergent.dask._metrics import fid

__all__ = [
    "mmd",
    "energy_distance",
    "mmd_test",
    "kde_logpdf",
    "entropy",
    "kl_divergence",
    "mutual_information",
    "fid",
    "PAIR_TASK_WORK",
    "BLOCK_MAX_BYTES",
    "STREAM_BLOCK_ROWS",
    "REFERENCE_MAX_BYTES",
]
