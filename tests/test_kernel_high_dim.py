"""Kernel sums on embeddings (d = 32 to 1024): the Gram path against the NumPy
references, in float64 anywhere in space and in float32 within the contract's 1e-3."""

import divergent as dv
import numpy as np
import pytest
from divergent import _core
from divergent import reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st

KERNELS = ["gaussian", "laplace", "imq", "energy"]


def embeddings(rng, n, d, offset=0.0, gap=None):
    """n points in d dimensions; with `gap`, in near-duplicate pairs `gap` apart."""
    x = rng.normal(size=(n, d))
    if gap is not None:
        x[1::2] = x[0 : 2 * (n // 2) : 2] + gap * rng.normal(size=(n // 2, d))
    return x + offset


def bandwidth_for(kernel, d):
    return "median" if kernel == "energy" else float(np.sqrt(2 * d))


def close(got, want, rtol, scale):
    """|got - want| <= rtol (|want| + scale): an MMD is a difference of means of size
    `scale` (1 for bounded kernels, the typical distance for the energy kernel)."""
    assert abs(got - want) <= rtol * (abs(want) + scale), (got, want)


@pytest.mark.parametrize("d", [32, 128, 1024])
@pytest.mark.parametrize("where", ["origin", "offset", "near-duplicates"])
@pytest.mark.parametrize("kernel", KERNELS)
def test_float64_matches_reference_wherever_the_data_lie(rng, d, where, kernel):
    offset, gap = {"origin": (0.0, None), "offset": (1e3, None), "near-duplicates": (1e3, 1e-4)}[where]
    n = 120 if d < 1024 else 60
    x = embeddings(rng, n, d, offset, gap)
    y = embeddings(rng, n + 7, d, offset, gap) + 0.05
    h = bandwidth_for(kernel, d)
    scale = np.sqrt(2 * d) if kernel == "energy" else 1.0
    for estimator in ["unbiased", "biased"]:
        got = dv.mmd(x, y, kernel=kernel, bandwidth=h, estimator=estimator)
        want = ref.mmd(x, y, kernel=kernel, bandwidth=h, estimator=estimator)
        close(got, want, 1e-10, 1e-3 * scale)
    if kernel == "energy":
        close(dv.energy_distance(x, y), ref.energy_distance(x, y), 1e-10, 1e-3 * scale)


@pytest.mark.parametrize("d", [32, 128, 1024])
@pytest.mark.parametrize("kernel", KERNELS)
def test_float32_within_the_contract_of_float64(rng, d, kernel):
    n = 150 if d < 1024 else 60
    x = embeddings(rng, n, d, offset=3.0).astype(np.float32)
    y = (embeddings(rng, n, d, offset=3.0) + 0.2).astype(np.float32)
    h = bandwidth_for(kernel, d)
    scale = np.sqrt(2 * d) if kernel == "energy" else 1.0
    got = dv.mmd(x, y, kernel=kernel, bandwidth=h)
    want = ref.mmd(x.astype(np.float64), y.astype(np.float64), kernel=kernel, bandwidth=h)
    close(got, want, 1e-3, scale)
    # float32 is computed as float32: not bit-identical to the float64 computation.
    assert got != dv.mmd(x.astype(np.float64), y.astype(np.float64), kernel=kernel, bandwidth=h)


def test_mixed_dtypes_compute_in_float64(rng):
    x = rng.normal(size=(50, 40))
    y = rng.normal(size=(60, 40)).astype(np.float32)
    got = dv.mmd(x, y, bandwidth=5.0)
    assert got == dv.mmd(x, y.astype(np.float64), bandwidth=5.0)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 150),
    m=st.integers(2, 150),
    d=st.integers(6, 80),
    seed=st.integers(0, 2**32 - 1),
    kernel=st.sampled_from(KERNELS),
    float32=st.booleans(),
)
def test_shapes_across_tiles_and_the_switch_point(n, m, d, seed, kernel, float32):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, d)) + 10.0, rng.normal(size=(m, d)) + 10.1
    if float32:
        x, y = x.astype(np.float32), y.astype(np.float32)
    h = bandwidth_for(kernel, d)
    scale = np.sqrt(2 * d) if kernel == "energy" else 1.0
    got = dv.mmd(x, y, kernel=kernel, bandwidth=h)
    want = ref.mmd(x.astype(np.float64), y.astype(np.float64), kernel=kernel, bandwidth=h)
    if float32:
        close(got, want, 1e-3, scale)
    else:
        close(got, want, 1e-10, 1e-3 * scale)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gram_path_is_the_same_for_any_thread_count(rng, dtype):
    x = rng.normal(size=(700, 96)).astype(dtype)
    y = rng.normal(size=(500, 96)).astype(dtype)
    before = dv.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3):
            dv.set_num_threads(threads)
            results.append((dv.mmd(x, y, bandwidth=9.0), dv.energy_distance(x, y)))
    finally:
        dv.set_num_threads(before)
    assert results[0] == results[1] == results[2]


@pytest.mark.parametrize("d", [32, 128, 1024])
@pytest.mark.parametrize("where", ["origin", "near-duplicates"])
def test_median_bandwidth_on_the_gram_path(rng, d, where):
    offset, gap = (0.0, None) if where == "origin" else (1e3, 1e-5)
    x = embeddings(rng, 150, d, offset, gap)
    y = embeddings(rng, 140, d, offset, gap)
    want = ref.median_bandwidth(x, y)
    assert dv.median_bandwidth(x, y) == pytest.approx(want, rel=1e-12)
    # float32 samples (as mmd passes them): the median of the float32 values' distances,
    # from float32 products, within float32's accuracy.
    z32 = np.concatenate([x, y]).astype(np.float32)
    want32 = ref.median_bandwidth(z32.astype(np.float64))
    assert _core.median_pairwise_distance(z32) == pytest.approx(want32, rel=1e-5)


@pytest.mark.parametrize("kernel", ["gaussian", "energy"])
def test_mmd_test_on_embeddings_matches_reference(rng, kernel):
    # The permutation null's kernel tiles come from the Gram path from d = 16.
    x = embeddings(rng, 60, 64, offset=1e3)
    y = embeddings(rng, 50, 64, offset=1e3) + 0.3
    got = dv.mmd_test(x, y, kernel=kernel, n_permutations=99, seed=3)
    want = ref.mmd_test(x, y, kernel=kernel, n_permutations=99, seed=3)
    scale = np.sqrt(2 * 64) if kernel == "energy" else 1.0
    assert got.pvalue == want.pvalue
    np.testing.assert_allclose(got.null_distribution, want.null_distribution, rtol=0, atol=1e-10 * scale)
    close(got.statistic, want.statistic, 1e-10, 1e-3 * scale)


@pytest.mark.parametrize("d", [32, 128, 1024])
@pytest.mark.parametrize("kernel", ["imq", "gaussian"])
def test_ksd_on_the_gram_path_matches_reference(rng, d, kernel):
    # Scores of N(mu, I) at samples far from the origin: every Stein term from inner
    # products (x.x', s.s', [x, s].[s', x']) from d = 16.
    n = 100 if d < 1024 else 50
    mu = np.full(d, 1e3)
    x = embeddings(rng, n, d, offset=1e3, gap=1e-5) + 0.3
    score = mu - x
    h = float(np.sqrt(d))
    for estimator in ["unbiased", "biased"]:
        got = dv.ksd(x, score, kernel=kernel, bandwidth=h, estimator=estimator)
        want = ref.ksd(x, score, kernel=kernel, bandwidth=h, estimator=estimator)
        # The V-statistic's terms are O(d) (s.s' ~ d, the trace term 2 d phi').
        close(got, want, 1e-10, 1e-3 * d)
    got = dv.ksd_test(x, score, kernel=kernel, bandwidth=h, n_bootstrap=99, seed=4)
    want = ref.ksd_test(x, score, kernel=kernel, bandwidth=h, n_bootstrap=99, seed=4)
    assert got.pvalue == want.pvalue
    np.testing.assert_allclose(got.null_distribution, want.null_distribution, rtol=0, atol=1e-10 * d)


@pytest.mark.parametrize("d", [32, 128])
def test_kde_on_the_gram_path_matches_reference(rng, d):
    # Whitened coordinates far from the origin, a point on a data point and one far in
    # the tails (its log-density from the exact far-row pass).
    data = rng.normal(size=(4 * d, d)) + 50.0
    points = np.concatenate([rng.normal(size=(40, d)) + 50.0, data[:1] + 1e-9, data[:1] + 40.0])
    got = dv.kde_logpdf(data, points)
    want = ref.kde_logpdf(data, points)
    np.testing.assert_allclose(got, want, rtol=1e-10)
    assert np.isfinite(got[-1]) and got[-1] < -1e3


@pytest.mark.parametrize("d", [32, 128, 1024])
def test_cauchy_schwarz_on_the_gram_path_matches_reference(rng, d):
    x = embeddings(rng, 80, d, offset=1e3, gap=1e-6)
    y = embeddings(rng, 70, d, offset=1e3) + 0.5
    h = float(np.sqrt(d))
    got = dv.cauchy_schwarz_divergence(x, y, bandwidth=h)
    want = ref.cauchy_schwarz_divergence(x, y, bandwidth=h)
    close(got, want, 1e-10, 1e-6)
