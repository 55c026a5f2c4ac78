"""Kernel methods on samples: MMD and its tests (one kernel, or aggregated), energy distance, kernel Stein
discrepancy and its test, Gaussian KDE, Cauchy-Schwarz divergence.

Every pairwise sum runs in the Rust core (tiled, SIMD, multi-threaded, compensated);
no n x m matrix is formed.
"""

from divergent.kernel._aggregated import MMDAggResult, mmd_agg_test
from divergent.kernel._density import cauchy_schwarz_divergence, kde_logpdf
from divergent.kernel._mmd import ESTIMATORS, KERNELS, energy_distance, median_bandwidth, mmd
from divergent.kernel._stein import ksd, ksd_test
from divergent.kernel._two_sample import mmd_test

__all__ = [
    "mmd",
    "energy_distance",
    "median_bandwidth",
    "mmd_test",
    "mmd_agg_test",
    "MMDAggResult",
    "ksd",
    "ksd_test",
    "kde_logpdf",
    "cauchy_schwarz_divergence",
    "KERNELS",
    "ESTIMATORS",
]
