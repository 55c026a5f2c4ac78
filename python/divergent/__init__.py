"""divergent: divergences, distances and samplers for probability distributions.

Estimate how far apart two distributions are from samples (MMD and its permutation
test, energy distance, kernel Stein discrepancy and its test, Gaussian KDE,
Cauchy-Schwarz divergence, HSIC and distance covariance tests of independence,
k-nearest-neighbour entropy, KL, Renyi and Jensen-Shannon
divergences and mutual information, entropic optimal transport and Sinkhorn
divergences, exact and sliced Wasserstein distances), and sample from unnormalised densities
(ULA, MALA and underdamped Langevin on many chains, SVGD), with a
Rust core that is multi-threaded, SIMD-vectorised and exact to ~1e-14, and with
pure-NumPy references in :mod:`divergent.reference`.
"""

import contextlib as _contextlib
import os as _os
import warnings as _warnings
from collections.abc import Iterator as _Iterator

from divergent import (
    _core,
    _threadpool,
    diagnostics,
    discrete,
    gaussian,
    independence,
    knn,
    logits,
    metrics,
    ot,
    reference,
    sampling,
    targets,
)
from divergent._results import ConvergenceWarning, TestResult
from divergent._validation import Interval as _Interval
from divergent._validation import InvalidParameterError
from divergent._validation import validate_params as _validate_params
from divergent.independence import dcov_test, distance_correlation, distance_covariance, hsic, hsic_test
from divergent.kernel import (
    cauchy_schwarz_divergence,
    energy_distance,
    kde_logpdf,
    ksd,
    ksd_test,
    median_bandwidth,
    mmd,
    mmd_agg_test,
    mmd_test,
)
from divergent.knn import (
    conditional_mutual_information,
    entropy,
    js_divergence,
    kl_divergence,
    mutual_information,
    renyi_divergence,
)
from divergent.ot import (
    SinkhornResult,
    sinkhorn,
    sinkhorn_divergence,
    sinkhorn_from_cost,
    sliced_wasserstein,
    wasserstein_1d,
)
from divergent.sampling import SMCResult, Trace, hmc, langevin, smc, svgd

__version__ = _core.__version__

__all__ = [
    "__version__",
    "mmd",
    "energy_distance",
    "median_bandwidth",
    "mmd_test",
    "mmd_agg_test",
    "ksd",
    "ksd_test",
    "kde_logpdf",
    "cauchy_schwarz_divergence",
    "sinkhorn",
    "sinkhorn_from_cost",
    "sinkhorn_divergence",
    "wasserstein_1d",
    "sliced_wasserstein",
    "SinkhornResult",
    "entropy",
    "kl_divergence",
    "renyi_divergence",
    "js_divergence",
    "mutual_information",
    "conditional_mutual_information",
    "hsic",
    "hsic_test",
    "distance_covariance",
    "distance_correlation",
    "dcov_test",
    "langevin",
    "hmc",
    "smc",
    "svgd",
    "Trace",
    "SMCResult",
    "TestResult",
    "ConvergenceWarning",
    "InvalidParameterError",
    "kernel",
    "gaussian",
    "independence",
    "discrete",
    "knn",
    "logits",
    "metrics",
    "ot",
    "sampling",
    "targets",
    "diagnostics",
    "set_num_threads",
    "get_num_threads",
    "threads",
    "reference",
]


#: A number of threads: more than 8 per available core (at least 64 allowed) only queue.
_THREADS = _Interval("int", 1, _core.max_num_threads(), hint="at most 8 threads per available core (at least 64)")


@_validate_params({"n": _THREADS})
def set_num_threads(n: int) -> None:
    """Set the number of threads divergent's Rust core uses.

    Results do not depend on it (reductions run in a fixed order). The default is the
    value of the environment variable ``DIVERGENT_NUM_THREADS`` if set, else the number
    of available cores.

    Parameters
    ----------
    n : int
        Number of worker threads, at least 1 and at most 8 per available core (at least
        64 allowed): more only queue on the cores.
    """
    _core.set_num_threads(n)


def _check_thread_variable() -> None:
    """Warn if DIVERGENT_NUM_THREADS is set to something the core ignores or clamps."""
    value = _os.environ.get("DIVERGENT_NUM_THREADS")
    if value is None:
        return
    limit = _core.max_num_threads()
    try:
        n = int(value.strip())
    except ValueError:
        n = 0
    if n < 1:
        _warnings.warn(
            f"DIVERGENT_NUM_THREADS={value!r} is not a positive integer and is ignored; "
            f"divergent uses {_core.get_num_threads()} threads",
            RuntimeWarning,
            stacklevel=3,
        )
    elif n > limit:
        _warnings.warn(
            f"DIVERGENT_NUM_THREADS={value!r} is more than the {limit} threads allowed "
            f"(8 per available core, at least 64); divergent uses {limit}",
            RuntimeWarning,
            stacklevel=3,
        )


_check_thread_variable()


def get_num_threads() -> int:
    """Return the number of threads divergent's Rust core uses."""
    return _core.get_num_threads()


@_validate_params({"n": _THREADS})
@_contextlib.contextmanager
def threads(n: int) -> _Iterator[None]:
    """Use `n` threads inside a ``with`` block, then restore the previous count.

    ``threadpoolctl.threadpool_limits`` also limits divergent (its controller's user_api
    is "divergent") when threadpoolctl is installed.

    Parameters
    ----------
    n : int
        Number of worker threads, checked as by :func:`set_num_threads`.

    Examples
    --------
    >>> import divergent as dv
    >>> with dv.threads(1):
    ...     dv.get_num_threads()
    1
    """
    before = get_num_threads()
    set_num_threads(n)
    try:
        yield
    finally:
        _core.set_num_threads(before)


_threadpool.register()
