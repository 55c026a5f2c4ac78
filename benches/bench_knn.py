"""k-NN estimators against a scipy cKDTree(workers=2) implementation of the same
estimator and scikit-learn's KSG (and NPEET where installed); on embeddings (d = 32 to
512, brute force on the Gram path) the KL estimator against the same two searches by
faiss-cpu's IndexFlatL2 (float32) and scikit-learn's brute-force NearestNeighbors
(float64, BLAS), all giving the same neighbours.

    pytest benches/bench_knn.py --benchmark-only --benchmark-json=benches/knn.json -k "not embeddings"
    pytest benches/bench_knn.py --benchmark-only --benchmark-json=benches/knn_high_dim.json -k embeddings
"""

import math

import divergent as dv
import numpy as np
import pytest
from scipy.spatial import cKDTree
from scipy.special import digamma


@pytest.fixture(autouse=True, scope="module")
def two_threads():
    dv.set_num_threads(2)


def kl_scipy(x, y, k):
    """Wang-Kulkarni-Verdu KL with scipy's tree, as users write it (2 workers)."""
    n, d = x.shape
    rho = cKDTree(x).query(x, k + 1, workers=2)[0][:, -1]
    nu = cKDTree(y).query(x, [k], workers=2)[0][:, -1]
    return d * np.mean(np.log(nu) - np.log(rho)) + math.log(y.shape[0] / (n - 1))


def entropy_scipy(x, k):
    n, d = x.shape
    eps = cKDTree(x).query(x, k + 1, workers=2)[0][:, -1]
    log_vd = 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1)
    return digamma(n) - digamma(k) + log_vd + d * np.mean(np.log(eps))


def gaussians(n, d, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal((n, d)) * 1.2 + 0.3


@pytest.mark.parametrize("n", [100_000, 1_000_000])
@pytest.mark.benchmark(group="kl-d5-k5")
def bench_kl_divergent(benchmark, n):
    x, y = gaussians(n, 5)
    rounds = 3 if n <= 100_000 else 1
    got = benchmark.pedantic(dv.kl_divergence, args=(x, y), kwargs={"k": 5}, rounds=rounds, iterations=1)
    benchmark.extra_info["value"] = got


@pytest.mark.parametrize("n", [100_000, 1_000_000])
@pytest.mark.benchmark(group="kl-d5-k5")
def bench_kl_scipy(benchmark, n):
    x, y = gaussians(n, 5)
    rounds = 3 if n <= 100_000 else 1
    got = benchmark.pedantic(kl_scipy, args=(x, y, 5), rounds=rounds, iterations=1)
    assert got == pytest.approx(dv.kl_divergence(x, y, k=5), rel=1e-12)


@pytest.mark.benchmark(group="entropy-n1e6-d3-k3")
def bench_entropy_divergent(benchmark):
    x, _ = gaussians(1_000_000, 3)
    benchmark.pedantic(dv.entropy, args=(x,), rounds=3, iterations=1)


@pytest.mark.benchmark(group="entropy-n1e6-d3-k3")
def bench_entropy_scipy(benchmark):
    x, _ = gaussians(1_000_000, 3)
    got = benchmark.pedantic(entropy_scipy, args=(x, 3), rounds=1, iterations=1)
    assert got == pytest.approx(dv.entropy(x), rel=1e-12)


def mi_data(n=100_000):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(n)
    return x, 0.8 * x + 0.6 * rng.standard_normal(n)


@pytest.mark.benchmark(group="mi-ksg1-n1e5-k3")
def bench_mi_divergent(benchmark):
    x, y = mi_data()
    benchmark.pedantic(dv.mutual_information, args=(x / x.std(), y / y.std()), rounds=3, iterations=1)


@pytest.mark.benchmark(group="mi-ksg1-n1e5-k3")
def bench_mi_sklearn(benchmark):
    fs = pytest.importorskip("sklearn.feature_selection")
    x, y = mi_data()
    got = benchmark.pedantic(
        fs.mutual_info_regression,
        args=(x[:, None], y),
        kwargs={"n_neighbors": 3, "random_state": 0},
        rounds=1,
        iterations=1,
    )[0]
    assert got == pytest.approx(dv.mutual_information(x / x.std(), y / y.std()), abs=1e-6)


@pytest.mark.benchmark(group="mi-ksg1-n1e5-k3")
def bench_mi_npeet(benchmark):
    ee = pytest.importorskip("npeet.entropy_estimators")
    x, y = mi_data()
    benchmark.pedantic(ee.mi, args=(x[:, None], y[:, None]), kwargs={"k": 3}, rounds=1, iterations=1)


HIGH_DIMS = [32, 128, 512]
N_EMB = 10_000


def embeddings(d, dtype, n=N_EMB):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d))
    y = rng.standard_normal((n, d)) + 0.1
    return x.astype(dtype), y.astype(dtype)


def kl_from(rho, nu, d, n, m):
    return d * np.mean(np.log(nu) - np.log(rho)) + math.log(m / (n - 1))


def kl_faiss(x, y):
    """k = 1: x's nearest other point (the second hit of a self-search) and nearest y."""
    import faiss

    n, d = x.shape
    ix, iy = faiss.IndexFlatL2(d), faiss.IndexFlatL2(d)
    ix.add(x)
    iy.add(y)
    rho2 = ix.search(x, 2)[0][:, 1]
    nu2 = iy.search(x, 1)[0][:, 0]
    return kl_from(np.sqrt(rho2.astype(np.float64)), np.sqrt(nu2.astype(np.float64)), d, n, len(y))


def kl_sklearn(x, y):
    from sklearn.neighbors import NearestNeighbors

    n, d = x.shape
    rho = NearestNeighbors(n_neighbors=2, algorithm="brute", n_jobs=2).fit(x).kneighbors(x)[0][:, 1]
    nu = NearestNeighbors(n_neighbors=1, algorithm="brute", n_jobs=2).fit(y).kneighbors(x)[0][:, 0]
    return kl_from(rho, nu, d, n, len(y))


HD = dict(rounds=1, iterations=1, warmup_rounds=0)
# The faster ones three times (this machine is noisy), after one warm-up.
HD3 = dict(rounds=3, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("d", HIGH_DIMS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.benchmark(group="kl-k1-n1e4-embeddings")
def bench_kl_embeddings_divergent(benchmark, d, dtype):
    x, y = embeddings(d, dtype)
    value = benchmark.pedantic(dv.kl_divergence, args=(x, y), kwargs=dict(k=1), **HD3)
    benchmark.extra_info["value"] = value


@pytest.mark.parametrize("d", HIGH_DIMS)
@pytest.mark.parametrize("dtype", ["float32"])
@pytest.mark.benchmark(group="kl-k1-n1e4-embeddings")
def bench_kl_embeddings_faiss(benchmark, d, dtype):
    pytest.importorskip("faiss")
    x, y = embeddings(d, dtype)
    value = benchmark.pedantic(kl_faiss, args=(x, y), **HD3)
    benchmark.extra_info["value"] = value


@pytest.mark.parametrize("d", HIGH_DIMS)
@pytest.mark.parametrize("dtype", ["float64"])
@pytest.mark.benchmark(group="kl-k1-n1e4-embeddings")
def bench_kl_embeddings_sklearn(benchmark, d, dtype):
    x, y = embeddings(d, dtype)
    value = benchmark.pedantic(kl_sklearn, args=(x, y), **HD)
    benchmark.extra_info["value"] = value
    assert value == pytest.approx(dv.kl_divergence(x, y, k=1), rel=1e-9)


def mi_embeddings(n=N_EMB, d=32):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, d))
    return x, x + rng.standard_normal((n, d))


def mi_ckdtree(x, y, k=3):
    """KSG1 with scipy's tree in the max-norm (2 workers): the joint k-th neighbour
    distance, then strict marginal counts within it."""
    n = len(x)
    z = np.hstack([x, y])
    eps = cKDTree(z).query(z, k + 1, p=np.inf, workers=2)[0][:, -1]
    r = np.nextafter(eps, 0)  # strict: dist < eps
    nx = cKDTree(x).query_ball_point(x, r, p=np.inf, workers=2, return_length=True) - 1
    ny = cKDTree(y).query_ball_point(y, r, p=np.inf, workers=2, return_length=True) - 1
    return digamma(k) + digamma(n) - np.mean(digamma(nx + 1) + digamma(ny + 1))


@pytest.mark.benchmark(group="mi-ksg1-n1e4-d32x32-k3")
def bench_mi_embeddings_divergent(benchmark):
    x, y = mi_embeddings()
    benchmark.pedantic(dv.mutual_information, args=(x, y), kwargs=dict(k=3), **HD3)


@pytest.mark.benchmark(group="mi-ksg1-n1e4-d32x32-k3")
def bench_mi_embeddings_scipy(benchmark):
    x, y = mi_embeddings()
    value = benchmark.pedantic(mi_ckdtree, args=(x, y), **HD)
    assert value == pytest.approx(dv.mutual_information(x, y, k=3), rel=1e-12)
