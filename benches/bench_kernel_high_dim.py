"""Kernel sums on embeddings: divergent against the fastest plain-NumPy formulation
(|a|^2 + |b|^2 - 2 a b^T through multi-threaded BLAS, in blocks, in the input's dtype),
and the machine's GEMM rate (NumPy's own dgemm/sgemm on the same pairs).

    pytest benches/bench_kernel_high_dim.py --benchmark-only --benchmark-json=benches/kernel_high_dim.json

Data: x ~ N(0, I_d), y ~ N(0.1, I_d), n = m = 4,000, fixed bandwidth sqrt(d) (the
median distance's scale). The unbiased MMD evaluates 2 n^2 pairs once each (n^2 / 2 in
each self sum, n^2 across); "gemm" is two n x d by d x n products, the same 2 n^2 inner
products, so gemm's time over divergent's is the fraction of the GEMM rate divergent
reaches.
"""

import numpy as np
import pytest

import divergent as dv

N = 4000
DIMS = [128, 512, 2048]
DTYPES = ["float64", "float32"]


def samples(d, dtype, n=N, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(n, d)) + 0.1
    return x.astype(dtype), y.astype(dtype)


def blas_sum(a, b, f, block=1024):
    """sum_ij f(|a_i - b_j|^2) through BLAS, in blocks of rows, in a's dtype."""
    na, nb = (a * a).sum(1), (b * b).sum(1)
    total = 0.0
    for i in range(0, len(a), block):
        d2 = na[i : i + block, None] + nb[None, :] - 2 * (a[i : i + block] @ b.T)
        np.maximum(d2, 0, out=d2)
        total += float(f(d2).sum())
    return total


def numpy_mmd(x, y, h):
    n, m = len(x), len(y)

    def gauss(d2):
        return np.exp(d2 * (-0.5 / h**2))

    kxx, kyy, kxy = blas_sum(x, x, gauss), blas_sum(y, y, gauss), blas_sum(x, y, gauss)
    return (kxx - n) / (n * (n - 1)) + (kyy - m) / (m * (m - 1)) - 2 * kxy / (n * m)


def numpy_energy(x, y):
    n, m = len(x), len(y)
    exy = blas_sum(x, y, np.sqrt) / (n * m)
    return 2 * exy - blas_sum(x, x, np.sqrt) / n**2 - blas_sum(y, y, np.sqrt) / m**2


@pytest.fixture(autouse=True, scope="module")
def two_threads():
    dv.set_num_threads(2)


CASES = [(d, t) for d in DIMS for t in DTYPES]
IDS = [f"d{d}-{t}" for d, t in CASES]
WARM = dict(rounds=3, warmup_rounds=1, iterations=1)


@pytest.mark.parametrize("d, dtype", CASES, ids=IDS)
@pytest.mark.benchmark(group="mmd-gaussian-n4000")
def bench_mmd_divergent(benchmark, d, dtype):
    x, y = samples(d, dtype)
    value = benchmark.pedantic(dv.mmd, args=(x, y), kwargs=dict(bandwidth=np.sqrt(d)), **WARM)
    benchmark.extra_info["value"] = value


@pytest.mark.parametrize("d, dtype", CASES, ids=IDS)
@pytest.mark.benchmark(group="mmd-gaussian-n4000")
def bench_mmd_numpy_blas(benchmark, d, dtype):
    x, y = samples(d, dtype)
    value = benchmark.pedantic(numpy_mmd, args=(x, y, np.sqrt(d)), rounds=1, iterations=1)
    want = dv.mmd(x.astype(np.float64), y.astype(np.float64), bandwidth=np.sqrt(d))
    benchmark.extra_info["value"] = value
    # Same estimate (to float32's accuracy where the data are float32).
    assert abs(value - want) <= (1e-3 if dtype == "float32" else 1e-9) * (abs(want) + 1)


@pytest.mark.parametrize("d, dtype", CASES, ids=IDS)
@pytest.mark.benchmark(group="mmd-gaussian-n4000")
def bench_mmd_gemm(benchmark, d, dtype):
    x, y = samples(d, dtype)

    def products():
        x @ y.T
        y @ x.T

    benchmark.pedantic(products, rounds=3, warmup_rounds=1, iterations=1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.benchmark(group="energy-distance-n4000-d512")
def bench_energy_divergent(benchmark, dtype):
    x, y = samples(512, dtype)
    benchmark.pedantic(dv.energy_distance, args=(x, y), **WARM)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.benchmark(group="energy-distance-n4000-d512")
def bench_energy_numpy_blas(benchmark, dtype):
    x, y = samples(512, dtype)
    benchmark.pedantic(numpy_energy, args=(x, y), rounds=1, iterations=1)
