"""Pure-NumPy reference implementations of every estimator in divergent.

Same names, signatures and conventions as the public API. They are the ground truth of
the equivalence tests and the baseline of the benchmarks: correct and readable, with
memory bounded by blocking, but not fast.
"""

from divergent.reference.kernel import energy_distance, kernel_matrix, median_bandwidth, mmd

__all__ = ["mmd", "energy_distance", "median_bandwidth", "kernel_matrix"]
