"""The kernel-sum primitives of the extension against dense NumPy computations."""

import numpy as np
import pytest

from divergent import _core
from divergent import reference as ref


@pytest.mark.parametrize("kernel", ["gaussian", "laplace", "imq", "energy"])
def test_weighted_sums_and_row_sums(kernel, rng):
    x = rng.normal(size=(83, 4))
    y = rng.normal(size=(47, 4))
    wx, wy = rng.random(83), rng.random(47)
    h = None if kernel == "energy" else 0.9
    Kxy = ref.kernel_matrix(x, y, kernel=kernel, bandwidth=h)
    Kxx = ref.kernel_matrix(x, x, kernel=kernel, bandwidth=h)
    np.testing.assert_allclose(_core.kernel_sum(x, y, kernel, h, wx, wy), wx @ Kxy @ wy, rtol=1e-12)
    np.testing.assert_allclose(_core.kernel_sum(x, y, kernel, h), Kxy.sum(), rtol=1e-12)
    offdiag = wx @ Kxx @ wx - (wx * wx * np.diag(Kxx)).sum()
    np.testing.assert_allclose(_core.kernel_self_sum(x, kernel, h, wx), offdiag, rtol=1e-12)
    np.testing.assert_allclose(_core.kernel_row_sums(x, y, kernel, h, wy), Kxy @ wy, rtol=1e-12)
    np.testing.assert_allclose(_core.kernel_row_sums(x, y, kernel, h), Kxy.sum(1), rtol=1e-12)
