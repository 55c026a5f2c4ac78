"""Kernel-sum benchmarks: divergent vs its NumPy reference, a BLAS NumPy formulation, dcor.

Run (2 threads, as on the reference machine):

    pip install '.[bench]'
    pytest benches/bench_kernel.py --benchmark-only --benchmark-json=benches/kernel.json
    python benches/report.py benches/kernel.json

Slow baselines run a single round (`pedantic`): their run time dwarfs the noise.
"""

import divergent as dv
import numpy as np
import pytest
from divergent import _core
from divergent import reference as ref

D = 10
H = 3.0  # fixed bandwidth ~ the median distance of N(0, I_10) samples
SIZES = [5_000, 20_000]


def samples(n, d=D, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 0.1


def numpy_gram_mmd(x, y, h, block=2048):
    """Unbiased Gaussian MMD^2 the fast NumPy way: |a|^2 + |b|^2 - 2 a.b^T via BLAS, in blocks."""

    def ksum(a, b):
        na, nb = (a * a).sum(1), (b * b).sum(1)
        total = 0.0
        for i in range(0, len(a), block):
            d2 = na[i : i + block, None] + nb[None, :] - 2.0 * (a[i : i + block] @ b.T)
            np.maximum(d2, 0.0, out=d2)
            total += np.exp(d2 * (-0.5 / h**2)).sum()
        return total

    n, m = len(x), len(y)
    return (ksum(x, x) - n) / (n * (n - 1)) + (ksum(y, y) - m) / (m * (m - 1)) - 2 * ksum(x, y) / (n * m)


@pytest.fixture(autouse=True, scope="module")
def two_threads():
    dv.set_num_threads(2)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.benchmark(group="mmd-gaussian-unbiased-d10")
def bench_mmd_divergent(benchmark, n):
    x, y = samples(n)
    benchmark(dv.mmd, x, y, bandwidth=H)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.benchmark(group="mmd-gaussian-unbiased-d10")
def bench_mmd_divergent_median_bandwidth(benchmark, n):
    x, y = samples(n)
    benchmark(dv.mmd, x, y)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.benchmark(group="mmd-gaussian-unbiased-d10")
def bench_mmd_reference(benchmark, n):
    x, y = samples(n)
    benchmark.pedantic(ref.mmd, args=(x, y), kwargs={"bandwidth": H}, rounds=1, iterations=1)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.benchmark(group="mmd-gaussian-unbiased-d10")
def bench_mmd_numpy_blas(benchmark, n):
    x, y = samples(n)
    rounds = 3 if n <= 5_000 else 1
    value = benchmark.pedantic(numpy_gram_mmd, args=(x, y, H), rounds=rounds, iterations=1)
    assert value == pytest.approx(dv.mmd(x, y, bandwidth=H), rel=1e-6)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.benchmark(group="energy-distance-d10")
def bench_energy_divergent(benchmark, n):
    x, y = samples(n)
    benchmark(dv.energy_distance, x, y)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.benchmark(group="energy-distance-d10")
def bench_energy_reference(benchmark, n):
    x, y = samples(n)
    benchmark.pedantic(ref.energy_distance, args=(x, y), rounds=1, iterations=1)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.benchmark(group="energy-distance-d10")
def bench_energy_dcor(benchmark, n):
    dcor = pytest.importorskip("dcor")
    if n * n * D * 8 > 8 * 2**30:
        # dcor forms the n x n x d array of coordinate differences (29.8 GiB at n = 20,000).
        pytest.skip(f"dcor needs {n * n * D * 8 / 2**30:.1f} GiB at n = {n}")
    x, y = samples(n)
    dcor.energy_distance(x[:100], y[:100])  # numba compilation outside the timing
    value = benchmark.pedantic(dcor.energy_distance, args=(x, y), rounds=1, iterations=1)
    assert value == pytest.approx(dv.energy_distance(x, y), rel=1e-9)


@pytest.mark.parametrize("d", [3, 10])
@pytest.mark.benchmark(group="gaussian-kernel-evaluations")
def bench_gaussian_kernel_sum_20000x20000(benchmark, d):
    """4e8 Gaussian kernel evaluations (cross sum); throughput = 4e8 / time."""
    x, y = samples(20_000, d)
    benchmark(_core.kernel_sum, x, y, "gaussian", 1.0)
