"""Kernel sums on embeddings: divergent against the fastest plain-NumPy formulation
(|a|^2 + |b|^2 - 2 a b^T through multi-threaded BLAS, in blocks, in the input's dtype),
and the machine's GEMM rate (NumPy's own dgemm/sgemm on the same pairs).

    pytest benches/bench_kernel_high_dim.py --benchmark-only --benchmark-json=benches/kernel_high_dim.json

The other families at d = 512 (float64), each against the same kind of NumPy-BLAS
formulation: KSD (IMQ, N(0, I) scores, n = 2,000: every Stein term from the three
products X X^T, S S^T, X S^T), KDE (n = m = 4,000, Scott's bandwidth: the whitening
and then log-sum-exps of blocks), and the MMD permutation test (n = m = 1,000, 199
permutations: the dense pooled kernel matrix times the permutations' membership
vectors), the test also against hyppo's ``ksample.MMD``.

Data: x ~ N(0, I_d), y ~ N(0.1, I_d), n = m = 4,000, fixed bandwidth sqrt(d) (the
median distance's scale). The unbiased MMD evaluates 2 n^2 pairs once each (n^2 / 2 in
each self sum, n^2 across); "gemm" is two n x d by d x n products, the same 2 n^2 inner
products, so gemm's time over divergent's is the fraction of the GEMM rate divergent
reaches.
"""

import divergent as dv
import numpy as np
import pytest

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


D_FAMILIES = 512


def numpy_ksd(x, s, h, block=500):
    """Unbiased KSD^2 with the IMQ kernel (1 + t / h^2)^(-1/2), from BLAS products."""
    n, d = x.shape
    nx, a = (x * x).sum(1), (x * s).sum(1)
    c = 1.0 / h**2
    total = 0.0
    for i in range(0, n, block):
        xi, si = x[i : i + block], s[i : i + block]
        t = np.maximum(nx[i : i + block, None] + nx[None, :] - 2 * xi @ x.T, 0)
        ss = si @ s.T
        sd = xi @ s.T + si @ x.T - a[i : i + block, None] - a[None, :]  # (s' - s).(x - x')
        r = 1.0 / np.sqrt(1 + c * t)
        dphi, ddphi = -0.5 * c * r**3, 0.75 * c * c * r**5
        u = r * ss + 2 * dphi * sd - 2 * d * dphi - 4 * t * ddphi
        idx = np.arange(i, min(i + block, n))
        u[idx - i, idx] = 0.0
        total += float(u.sum())
    return total / (n * (n - 1))


def numpy_kde(data, points, block=1000):
    from scipy.special import logsumexp

    n, d = data.shape
    factor = n ** (-1.0 / (d + 4))
    chol = np.linalg.cholesky(np.cov(data.T)) * factor
    inv = np.linalg.inv(chol)
    zd, zp = data @ inv.T, points @ inv.T
    nd = (zd * zd).sum(1)
    out = []
    for i in range(0, len(zp), block):
        p = zp[i : i + block]
        d2 = np.maximum((p * p).sum(1)[:, None] + nd[None, :] - 2 * p @ zd.T, 0)
        out.append(logsumexp(-0.5 * d2, axis=1))
    return np.concatenate(out) - np.log(n) - 0.5 * d * np.log(2 * np.pi) - np.log(np.diag(chol)).sum()


def numpy_mmd_test(x, y, h, n_permutations, seed=0):
    z = np.concatenate([x, y])
    n, big_n = len(x), len(x) + len(y)
    nz = (z * z).sum(1)
    k = np.exp(np.maximum(nz[:, None] + nz[None, :] - 2 * z @ z.T, 0) * (-0.5 / h**2))
    np.fill_diagonal(k, 0.0)
    rng = np.random.default_rng(seed)
    v = np.zeros((big_n, n_permutations + 1))
    v[:n, 0] = 1.0
    for b in range(1, n_permutations + 1):
        v[rng.permutation(big_n)[:n], b] = 1.0
    kv, r = k @ v, k.sum(1)
    m = big_n - n
    sxx = (v * kv).sum(0)
    sxy = (v * (r[:, None] - kv)).sum(0)
    syy = ((1 - v) * (r[:, None] - kv)).sum(0)
    stats = sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2 * sxy / (n * m)
    return (1 + np.sum(stats[1:] >= stats[0])) / (1 + n_permutations)


@pytest.mark.benchmark(group="ksd-imq-n2000-d512")
def bench_ksd_divergent(benchmark):
    x, _ = samples(D_FAMILIES, "float64", n=2000)
    h = np.sqrt(D_FAMILIES)
    benchmark.pedantic(dv.ksd, args=(x, -x), kwargs=dict(bandwidth=h), **WARM)


@pytest.mark.benchmark(group="ksd-imq-n2000-d512")
def bench_ksd_numpy_blas(benchmark):
    x, _ = samples(D_FAMILIES, "float64", n=2000)
    h = np.sqrt(D_FAMILIES)
    value = benchmark.pedantic(numpy_ksd, args=(x, -x, h), rounds=1, iterations=1)
    assert abs(value - dv.ksd(x, -x, bandwidth=h)) <= 1e-9 * (abs(value) + 1)


@pytest.mark.benchmark(group="kde-n4000-m4000-d512")
def bench_kde_divergent(benchmark):
    data, points = samples(D_FAMILIES, "float64")
    benchmark.pedantic(dv.kde_logpdf, args=(data, points), **WARM)


@pytest.mark.benchmark(group="kde-n4000-m4000-d512")
def bench_kde_numpy_blas(benchmark):
    data, points = samples(D_FAMILIES, "float64")
    value = benchmark.pedantic(numpy_kde, args=(data, points), rounds=1, iterations=1)
    np.testing.assert_allclose(value, dv.kde_logpdf(data, points), rtol=1e-9)


@pytest.mark.benchmark(group="mmd-test-n1000-d512-199perm")
def bench_mmd_test_divergent(benchmark):
    x, y = samples(D_FAMILIES, "float64", n=1000)
    h = np.sqrt(D_FAMILIES)
    benchmark.pedantic(dv.mmd_test, args=(x, y), kwargs=dict(bandwidth=h, n_permutations=199, seed=0), **WARM)


@pytest.mark.benchmark(group="mmd-test-n1000-d512-199perm")
def bench_mmd_test_numpy_blas(benchmark):
    x, y = samples(D_FAMILIES, "float64", n=1000)
    h = np.sqrt(D_FAMILIES)
    benchmark.pedantic(numpy_mmd_test, args=(x, y, h, 199), rounds=1, iterations=1)


@pytest.mark.filterwarnings("ignore:The number of replications is low")
@pytest.mark.benchmark(group="mmd-test-n1000-d512-199perm")
def bench_mmd_test_hyppo(benchmark):
    ksample = pytest.importorskip("hyppo.ksample")
    x, y = samples(D_FAMILIES, "float64", n=1000)
    # hyppo's Gaussian kernel is exp(-gamma |a - b|^2); gamma = 1 / (2 h^2) with h = sqrt(d).
    test = ksample.MMD(compute_kernel="gaussian", gamma=1.0 / (2 * D_FAMILIES))
    benchmark.pedantic(test.test, args=(x, y), kwargs=dict(reps=199, workers=2, random_state=0), rounds=1, iterations=1)
