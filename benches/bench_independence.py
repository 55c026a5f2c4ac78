"""Independence-test benchmarks: divergent vs hyppo, dcor and a NumPy-BLAS permutation test;
the aggregated MMD test (MMDAgg) vs its dense NumPy reference and a NumPy-BLAS version.

Run (2 threads, as on the reference machine):

    pip install '.[bench]'
    pytest benches/bench_independence.py -k "not mmd_agg" --benchmark-only --benchmark-json=benches/independence.json
    pytest benches/bench_independence.py -k mmd_agg --benchmark-only --benchmark-json=benches/mmd_agg.json
    python benches/report.py

The peers run a single round (`pedantic`): their run time dwarfs the noise.
"""

import warnings

import divergent as dv
import numpy as np
import pytest

N = 2_000
PERMUTATIONS = 500


def paired(n, d, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    return x, rng.normal(size=(n, d)) + 0.1 * np.tanh(x)


def numpy_hsic_test(x, y, n_permutations, seed=0):
    """The permutation HSIC test the fast NumPy way: Gram matrices by BLAS, centred once,
    each permutation a fancy-indexed product summed."""

    def centred_gram(z):
        sq = (z * z).sum(1)
        d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (z @ z.T), 0.0)
        h2 = np.median(d2[np.triu_indices(len(z), 1)])
        k = np.exp(-d2 / h2)
        return k - k.mean(0)[None, :] - k.mean(1)[:, None] + k.mean()

    kc, lc = centred_gram(x), centred_gram(y)
    stat = (kc * lc).sum()
    rng = np.random.default_rng(seed)
    null = np.array([(kc * lc[np.ix_(p, p)]).sum() for p in (rng.permutation(len(x)) for _ in range(n_permutations))])
    return (1 + (null >= stat).sum()) / (1 + n_permutations)


@pytest.fixture(autouse=True, scope="module")
def two_threads():
    dv.set_num_threads(2)


@pytest.mark.parametrize("d", [10, 512])
@pytest.mark.benchmark(group="hsic-test-n2000")
def bench_hsic_test_divergent(benchmark, d):
    x, y = paired(N, d)
    benchmark.pedantic(dv.hsic_test, (x, y), {"n_permutations": PERMUTATIONS, "seed": 0}, rounds=3)


@pytest.mark.parametrize("d", [10, 512])
@pytest.mark.benchmark(group="hsic-test-n2000")
def bench_hsic_test_numpy(benchmark, d):
    x, y = paired(N, d)
    benchmark.pedantic(numpy_hsic_test, (x, y, PERMUTATIONS), rounds=1)


@pytest.mark.parametrize("d", [10, 512])
@pytest.mark.benchmark(group="hsic-test-n2000")
def bench_hsic_test_hyppo(benchmark, d):
    hyppo = pytest.importorskip("hyppo.independence")
    x, y = paired(N, d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # auto=False: hyppo otherwise replaces the permutations by a chi-square
        # approximation from n = 20 on.
        hyppo.Hsic().test(x[:50], y[:50], reps=10, workers=2, auto=False)  # numba compilation, not timed
        kw = {"reps": PERMUTATIONS, "workers": 2, "auto": False}
        benchmark.pedantic(hyppo.Hsic().test, (x, y), kw, rounds=1)


@pytest.mark.benchmark(group="dcor-1d-n1e6")
def bench_dcor1d_divergent(benchmark):
    x, y = paired(1_000_000, 1)
    benchmark.pedantic(dv.distance_correlation, (x[:, 0], y[:, 0]), rounds=3)


@pytest.mark.benchmark(group="dcor-1d-n1e6")
def bench_dcor1d_dcor(benchmark):
    dcor = pytest.importorskip("dcor")
    x, y = paired(1_000_000, 1)
    dcor.distance_correlation(x[:100, 0], y[:100, 0], method="avl")  # compilation, not timed
    benchmark.pedantic(dcor.distance_correlation, (x[:, 0], y[:, 0]), {"method": "avl"}, rounds=3)


@pytest.mark.benchmark(group="dcov-test-n2000-d10")
def bench_dcov_test_divergent(benchmark):
    x, y = paired(N, 10)
    benchmark.pedantic(dv.dcov_test, (x, y), {"n_permutations": PERMUTATIONS, "seed": 0}, rounds=3)


@pytest.mark.benchmark(group="dcov-test-n2000-d10")
def bench_dcov_test_dcor(benchmark):
    dcor = pytest.importorskip("dcor")
    x, y = paired(N, 10)
    test = dcor.independence.distance_covariance_test
    benchmark.pedantic(test, (x, y), {"num_resamples": PERMUTATIONS, "random_state": 0}, rounds=1)


# MMDAgg: n = m = 2,000, 10 bandwidths x (gaussian, laplace), 500 + 500 permutations (every
# implementation's cost is linear in them: the default 2,000 + 2,000 takes 4x as long).
AGG_PERMUTATIONS = 500
AGG_DECISIONS = {}


def two_samples(d, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, d))
    y = rng.normal(size=(N, d))
    y[:, 0] += 0.05
    return x, y


def numpy_blas_mmd_agg(x, y, bandwidths, kernels, n_permutations, seed=0):
    """The aggregated statistics the fast NumPy way: squared distances by a BLAS Gram
    matrix, per kernel and bandwidth one product K V with the +-1 label matrix (q = v'Kv,
    with the row sums giving the rest), then the same level correction."""
    from divergent.kernel._aggregated import corrected_thresholds
    from divergent.kernel._two_sample import observed_and_permutation_masks

    z = np.concatenate([x, y])
    n, m, big_n = len(x), len(y), len(z)
    v = np.where(observed_and_permutation_masks(n, big_n, 2 * n_permutations, seed).T, 1.0, -1.0)
    sq = (z * z).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (z @ z.T), 0.0)
    stats = []
    for kernel, hs in zip(kernels, bandwidths):
        for h in hs:
            k = np.exp(-d2 / (2 * h * h)) if kernel == "gaussian" else np.exp(-np.sqrt(d2) / h)
            np.fill_diagonal(k, 0.0)
            q = (v * (k @ v)).sum(0)
            r = k.sum(1)
            t, s = r.sum(), r @ v
            sxx, syy, sxy = ((q + t) / 2 + s) / 2, ((q + t) / 2 - s) / 2, (t - q) / 4
            stats.append(sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2 * sxy / (n * m))
    stats = np.array(stats)
    thresholds, _ = corrected_thresholds(stats[:, 0], stats[:, 1:], 0.05)
    return bool((stats[:, 0] > thresholds).any())


@pytest.mark.parametrize("d", [10, 512])
@pytest.mark.benchmark(group="mmd-agg-test-n2000")
def bench_mmd_agg_test_divergent(benchmark, d):
    x, y = two_samples(d)
    res = benchmark.pedantic(dv.mmd_agg_test, (x, y), {"n_permutations": AGG_PERMUTATIONS, "seed": 0}, rounds=1)
    AGG_DECISIONS[d] = res


@pytest.mark.parametrize("d", [10, 512])
@pytest.mark.benchmark(group="mmd-agg-test-n2000")
def bench_mmd_agg_test_reference(benchmark, d):
    x, y = two_samples(d)
    kw = {"n_permutations": AGG_PERMUTATIONS, "seed": 0}
    res = benchmark.pedantic(dv.reference.mmd_agg_test, (x, y), kw, rounds=1)
    if d in AGG_DECISIONS:
        assert res.reject == AGG_DECISIONS[d].reject
        np.testing.assert_array_equal(res.rejects, AGG_DECISIONS[d].rejects)


@pytest.mark.parametrize("d", [10, 512])
@pytest.mark.benchmark(group="mmd-agg-test-n2000")
def bench_mmd_agg_test_numpy_blas(benchmark, d):
    x, y = two_samples(d)
    ours = AGG_DECISIONS.get(d) or dv.mmd_agg_test(x, y, n_permutations=AGG_PERMUTATIONS, seed=0)
    args = (x, y, ours.bandwidths, ours.kernels, AGG_PERMUTATIONS)
    reject = benchmark.pedantic(numpy_blas_mmd_agg, args, rounds=1)
    assert reject == ours.reject
