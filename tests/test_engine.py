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


SIMD_PROBE = """
import json, numpy as np, divergent as dv
from divergent import _core
rng = np.random.default_rng(5)
x, y = rng.random((900, 3)), rng.random((700, 3))
r = dv.ot.sinkhorn(x, y, epsilon=1e-3, scaling=0.5)
print(json.dumps({"level": _core.simd_level(), "values": [
    dv.mmd(x, y), dv.energy_distance(x, y), float(dv.kde_logpdf(x, y[:50]).sum()), r.cost, r.n_iter]}))
"""


def _simd_run(level):
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ)
    env.pop("DIVERGENT_SIMD", None)
    if level is not None:
        env["DIVERGENT_SIMD"] = level
    out = subprocess.run([sys.executable, "-c", SIMD_PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_simd_level_can_be_lowered_and_every_level_agrees():
    # DIVERGENT_SIMD lowers the instruction set the hot loops run with (never above the
    # CPU's); each level computes the same numbers up to round-off (FMA or not).
    best = _simd_run(None)
    assert best["level"] in ("avx512", "avx2", "baseline")
    for level in ("baseline", "avx2", "avx512"):
        got = _simd_run(level)
        order = ["baseline", "avx2", "avx512"]
        assert got["level"] == order[min(order.index(level), order.index(best["level"]))]
        np.testing.assert_allclose(got["values"][:4], best["values"][:4], rtol=1e-10)
        assert got["values"][4] == best["values"][4]
