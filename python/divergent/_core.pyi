"""Type stubs for the Rust extension module ``divergent._core``.

These are low-level entry points: arrays must already be validated float64 2-D arrays
(any memory order; the kernel sums also take float32 samples). Use the public
functions of :mod:`divergent` instead.
"""

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

# float32 or float64 samples (both arguments of a call in the same dtype).
__all__ = [
    "__version__",
    "ball_counts",
    "centred_sums",
    "chain_draws",
    "count_within",
    "distance_centred_sums_1d",
    "distance_permuted_sums_1d",
    "emd",
    "emd_points",
    "energy_distance",
    "gaussian_logsumexp",
    "get_num_threads",
    "hmc",
    "kernel_row_sums",
    "kernel_self_sum",
    "kernel_sum",
    "knn",
    "ksd",
    "ksd_wild_bootstrap",
    "ksg_counts",
    "kth_self_and_cross",
    "langevin",
    "max_num_threads",
    "median_pairwise_distance",
    "mmd",
    "mmd_agg_statistics",
    "mmd_permutation_block_sums",
    "mmd_permutation_null",
    "pairwise_distance_quantile",
    "permuted_centred_sums",
    "rowwise_kl_and_top_tokens",
    "rowwise_logits_divergence",
    "set_num_threads",
    "simd_level",
    "sinkhorn_matrix",
    "sinkhorn_points",
    "sinkhorn_points_symmetric",
    "sliced_wasserstein_pow",
    "smc",
    "softmin_lse",
    "svgd_direction",
    "target_logp_grad",
    "wasserstein_1d_pow",
]

_Samples = npt.NDArray[np.float64] | npt.NDArray[np.float32]
# (cost, rows, cols, values, f, g, n_iter, optimal)
_EMDOutput = tuple[
    float,
    npt.NDArray[np.uintp],
    npt.NDArray[np.uintp],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    int,
    bool,
]

__version__: str

def mmd(
    x: _Samples,
    y: _Samples,
    kernel: str,
    bandwidth: float | None,
    estimator: str,
) -> float: ...
def energy_distance(x: _Samples, y: _Samples) -> float: ...
def kernel_sum(
    x: _Samples,
    y: _Samples,
    kernel: str,
    bandwidth: float | None = None,
    wx: npt.NDArray[np.float64] | None = None,
    wy: npt.NDArray[np.float64] | None = None,
) -> float: ...
def kernel_self_sum(
    x: _Samples,
    kernel: str,
    bandwidth: float | None = None,
    w: npt.NDArray[np.float64] | None = None,
) -> float: ...
def kernel_row_sums(
    x: _Samples,
    y: _Samples,
    kernel: str,
    bandwidth: float | None = None,
    v: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]: ...
def centred_sums(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    kernel_x: str,
    bandwidth_x: float | None,
    kernel_y: str,
    bandwidth_y: float | None,
    unbiased: bool,
) -> tuple[float, float, float, float, float, float]: ...
def permuted_centred_sums(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    kernel_x: str,
    bandwidth_x: float | None,
    kernel_y: str,
    bandwidth_y: float | None,
    perms: npt.NDArray[np.uint32],
) -> tuple[npt.NDArray[np.float64], float, float]: ...
def distance_centred_sums_1d(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], unbiased: bool
) -> tuple[float, float, float, float, float, float]: ...
def distance_permuted_sums_1d(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], perms: npt.NDArray[np.uint32]
) -> tuple[npt.NDArray[np.float64], float, float]: ...
def mmd_permutation_null(
    z: npt.NDArray[np.float64],
    in_x: npt.NDArray[np.bool_],
    kernel: str,
    bandwidth: float | None = None,
) -> npt.NDArray[np.float64]: ...
def mmd_permutation_block_sums(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64] | None,
    x_groups: npt.NDArray[np.bool_],
    y_groups: npt.NDArray[np.bool_],
    kernel: str,
    bandwidth: float | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], float]: ...
def ksd(
    x: npt.NDArray[np.float64],
    s: npt.NDArray[np.float64],
    kernel: str,
    bandwidth: float,
    unbiased: bool,
) -> float: ...
def ksd_wild_bootstrap(
    x: npt.NDArray[np.float64],
    s: npt.NDArray[np.float64],
    kernel: str,
    bandwidth: float,
    signs: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]: ...
def gaussian_logsumexp(
    points: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    z: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    log_w: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]: ...
def rowwise_logits_divergence(
    a: npt.NDArray[np.float32] | npt.NDArray[np.float64] | npt.NDArray[np.uint16],
    b: npt.NDArray[np.float32] | npt.NDArray[np.float64] | npt.NDArray[np.uint16],
    which: str,
    *,
    scale: float = 1.0,
    allow_neg_inf: bool = False,
    half: str | None = None,
    beta: float | None = None,
    alpha: float | None = None,
) -> npt.NDArray[np.float64]: ...
def rowwise_kl_and_top_tokens(
    a: npt.NDArray[np.float32] | npt.NDArray[np.float64] | npt.NDArray[np.uint16],
    b: npt.NDArray[np.float32] | npt.NDArray[np.float64] | npt.NDArray[np.uint16],
    *,
    scale: float = 1.0,
    allow_neg_inf: bool = False,
    half: str | None = None,
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]: ...
def wasserstein_1d_pow(
    u: npt.NDArray[np.float64],
    v: npt.NDArray[np.float64],
    p: float,
    u_weights: npt.NDArray[np.float64] | None = None,
    v_weights: npt.NDArray[np.float64] | None = None,
) -> tuple[float, float]: ...
def sliced_wasserstein_pow(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    directions: npt.NDArray[np.float64],
    p: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...

_SinkhornOut = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], int, float, bool, float, float, float]

def sinkhorn_points(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    p: float,
    schedule: list[float],
    rho: float | None,
    max_iter: int,
    tol: float,
    dense: bool,
    want_cost: bool,
    cluster_points: int = 0,
) -> _SinkhornOut: ...
def sinkhorn_points_symmetric(
    x: npt.NDArray[np.float64],
    a: npt.NDArray[np.float64],
    p: float,
    schedule: list[float],
    rho: float | None,
    max_iter: int,
    tol: float,
    dense: bool,
    cluster_points: int = 0,
) -> _SinkhornOut: ...
def sinkhorn_matrix(
    cost: npt.NDArray[np.float64],
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    schedule: list[float],
    rho: float | None,
    max_iter: int,
    tol: float,
    want_cost: bool,
    dense: bool = ...,
) -> _SinkhornOut: ...
def softmin_lse(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    w: npt.NDArray[np.float64],
    p: float,
    eps: float,
    side: str,
) -> npt.NDArray[np.float64]: ...
def median_pairwise_distance(z: _Samples) -> float: ...
def emd(
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    cost: npt.NDArray[np.float64],
    max_iter: int,
) -> _EMDOutput: ...
def emd_points(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    p: float,
    max_iter: int,
) -> _EMDOutput: ...
def pairwise_distance_quantile(z: _Samples, q: float) -> float: ...
def mmd_agg_statistics(
    z: npt.NDArray[np.float64],
    in_x: npt.NDArray[np.bool_],
    kernels: list[str],
    bandwidths: list[float],
) -> npt.NDArray[np.float64]: ...
def knn(
    data: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    k: int,
    metric: str = "euclidean",
    queries: npt.NDArray[np.float32] | npt.NDArray[np.float64] | None = None,
    all: bool = True,
    search: str = "auto",
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64] | None]: ...
def count_within(
    data: npt.NDArray[np.float64],
    radii: npt.NDArray[np.float64],
    metric: str = "euclidean",
    strict: bool = False,
    queries: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.int64]: ...
def ball_counts(
    real: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    fake: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    real_radius: npt.NDArray[np.float64],
    fake_radius: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]: ...
def kth_self_and_cross(
    x: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    y: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    k: int,
    search: str = "auto",
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def ksg_counts(
    joint: npt.NDArray[np.float64], subspaces: list[list[int]], k: int, radius: str
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]: ...
def target_logp_grad(
    spec: tuple[str, npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], list[float]],
    x: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def langevin(
    spec: tuple[str, npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], list[float]] | None,
    custom: Callable[[npt.NDArray[np.float64]], tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] | None,
    dim: int,
    x0: npt.NDArray[np.float64] | None,
    n_chains: int,
    method: str,
    n_steps: int,
    burn_in: int,
    thin: int,
    step_size: float,
    friction: float,
    adapt: bool,
    seed: int,
    *,
    metric_diag: npt.NDArray[np.float64] | None = None,
    metric_dense: npt.NDArray[np.float64] | None = None,
    adapt_metric: str | None = None,
    progress: Callable[[int], object] | None = None,
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.uint64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64] | None,
]: ...
def hmc(
    spec: tuple[str, npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], list[float]] | None,
    custom: Callable[[npt.NDArray[np.float64]], tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] | None,
    dim: int,
    x0: npt.NDArray[np.float64] | None,
    n_chains: int,
    *,
    n_steps: int,
    burn_in: int,
    thin: int,
    step_size: float,
    n_leapfrog: int,
    jitter: bool,
    metric_diag: npt.NDArray[np.float64] | None,
    metric_dense: npt.NDArray[np.float64] | None,
    adapt_metric: str | None,
    adapt_step_size: bool,
    target_accept: float,
    seed: int,
    adapt_trajectory: bool = False,
    progress: Callable[[int], object] | None = None,
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.bool_],
    npt.NDArray[np.float64],
    npt.NDArray[np.uint64],
    float,
    npt.NDArray[np.float64] | None,
    float,
]: ...
def smc(
    spec: tuple[str, npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], list[float]] | None,
    custom: Callable[[npt.NDArray[np.float64]], tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] | None,
    dim: int,
    *,
    ref_mean: npt.NDArray[np.float64],
    ref_cov: npt.NDArray[np.float64] | None,
    n_particles: int,
    n_mcmc_steps: int,
    ess_threshold: float,
    seed: int,
    kernel: str = "mala",
    progress: Callable[[int], object] | None = None,
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    float,
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]: ...
def svgd_direction(x: npt.NDArray[np.float64], s: npt.NDArray[np.float64], h: float) -> npt.NDArray[np.float64]: ...
def chain_draws(seed: int, n_chains: int, count: int, kind: str, first: int = 0) -> npt.NDArray[np.float64]: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def max_num_threads() -> int: ...
def simd_level() -> str: ...
