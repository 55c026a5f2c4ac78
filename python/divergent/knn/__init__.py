r"""Nearest-neighbour estimators of entropy, divergences and mutual information.

Non-parametric and consistent: each estimator turns distances to the k-th nearest
neighbour into local density estimates and corrects the bias of their logarithms with
digamma terms. The neighbour searches are exact and run in the Rust core (parallel,
deterministic, ties broken by index): a k-d tree below 16 dimensions, brute force above,
where a tree visits nearly every leaf (Euclidean: inner products through GEMM tiles in
the input's precision, every candidate near the k-th distance recomputed in float64;
max-norm: SIMD scans). float32 input is searched as float32 and gives exactly the
neighbours, hence the estimates, of the same values as float64. The formulas are
evaluated here.

Duplicate points make some of these distances zero and the estimates infinite. They are
detected and reported; pass ``jitter=True`` to add a tiny seeded noise instead (what
scikit-learn's ``mutual_info_regression`` always does).

Distances are Euclidean, except in the KSG mutual-information estimators, which use the
max-norm (Chebyshev) in every space as Kraskov et al. do.
"""

from divergent.knn._divergences import (
    entropy,
    js_divergence,
    kl_divergence,
    renyi_divergence,
)
from divergent.knn._mutual_information import (
    conditional_mutual_information,
    mutual_information,
)

__all__ = [
    "entropy",
    "kl_divergence",
    "renyi_divergence",
    "js_divergence",
    "mutual_information",
    "conditional_mutual_information",
]
