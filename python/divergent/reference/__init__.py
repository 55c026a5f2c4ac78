"""Pure-NumPy reference implementations of every estimator in divergent.

Same names, signatures and conventions as the public API. They are the ground truth of
the equivalence tests and the baseline of the benchmarks: correct and readable, with
memory bounded by blocking, but not fast.
"""

from divergent.reference import discrete, independence, knn, logits, metrics, ot, sampling
from divergent.reference.kernel import (
    cauchy_schwarz_divergence,
    energy_distance,
    kde_logpdf,
    kernel_matrix,
    ksd,
    ksd_test,
    median_bandwidth,
    mmd,
    mmd_agg_test,
    mmd_test,
    stein_kernel_matrix,
)
from divergent.reference.knn import (
    conditional_mutual_information,
    entropy,
    js_divergence,
    kl_divergence,
    mutual_information,
    renyi_divergence,
)

# Listed explicitly (not derived from kernel.__all__) so static tools see the re-exports.
__all__ = [
    "discrete",
    "independence",
    "logits",
    "knn",
    "metrics",
    "ot",
    "sampling",
    "mmd",
    "energy_distance",
    "median_bandwidth",
    "kernel_matrix",
    "mmd_test",
    "mmd_agg_test",
    "ksd",
    "ksd_test",
    "stein_kernel_matrix",
    "kde_logpdf",
    "cauchy_schwarz_divergence",
    "entropy",
    "kl_divergence",
    "renyi_divergence",
    "js_divergence",
    "mutual_information",
    "conditional_mutual_information",
]
