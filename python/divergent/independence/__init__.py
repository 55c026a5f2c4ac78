"""Tests of independence of paired samples (x_i, y_i): the Hilbert-Schmidt independence
criterion and the distance covariance and correlation, with permutation tests.

Every pair sum runs in the Rust core: the statistics in two streamed passes (O(n)
memory), distance covariance of two 1-D samples in O(n log n), and the permutation
tests on the centred matrices stored once.
"""

from divergent.independence._dcov import dcov_test, distance_correlation, distance_covariance
from divergent.independence._hsic import hsic, hsic_test

__all__ = ["hsic", "hsic_test", "distance_covariance", "distance_correlation", "dcov_test"]
