"""mmd_test, ksd, ksd_test, kde_logpdf and cauchy_schwarz_divergence against the
NumPy references (and kde_logpdf against scipy.stats.gaussian_kde)."""

import dataclasses

import divergent as dv
import numpy as np
import pytest
import scipy.stats
from divergent import reference as ref
from hypothesis import given
from hypothesis import strategies as st


def assert_close(got, want, scale, rtol=1e-10):
    """rtol relative to the value, plus 1e-13 of the magnitude of the summed terms."""
    got, want = np.asarray(got), np.asarray(want)
    assert np.all(np.abs(got - want) <= rtol * np.abs(want) + 1e-13 * scale), (got, want)


@st.composite
def samples(draw, max_n=60, max_d=5):
    n = draw(st.integers(2, max_n))
    m = draw(st.integers(2, max_n))
    d = draw(st.integers(1, max_d))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(m, d)) * draw(st.floats(0.5, 2)) + draw(st.floats(-1, 1))
    if draw(st.booleans()):
        x = np.asfortranarray(x)
    return x, y


@given(data=samples(), kernel=st.sampled_from(["gaussian", "laplace", "imq", "energy"]), seed=st.integers(0, 10**6))
def test_mmd_test_matches_reference(data, kernel, seed):
    x, y = data
    got = dv.mmd_test(x, y, kernel=kernel, n_permutations=50, seed=seed)
    want = ref.mmd_test(x, y, kernel=kernel, n_permutations=50, seed=seed)
    scale = 1.0 if kernel != "energy" else 10.0
    assert_close(got.statistic, want.statistic, scale)
    assert_close(got.null_distribution, want.null_distribution, scale)
    assert got.pvalue == want.pvalue
    # The statistic comes from the null's pass (the observed split as one more column).
    assert_close(got.statistic, dv.mmd(x, y, kernel=kernel), scale)


def test_mmd_test_null_is_the_statistic_of_each_split(rng):
    # Independent of the reference: recompute three permutations by hand.
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(30, 2))
    res = dv.mmd_test(x, y, n_permutations=3, seed=9)
    z = np.concatenate([x, y])
    perm_rng = np.random.default_rng(9)
    h = dv.median_bandwidth(x, y)
    for p in range(3):
        idx = perm_rng.permutation(70)
        mask = np.zeros(70, bool)
        mask[idx[:40]] = True
        assert res.null_distribution[p] == pytest.approx(dv.mmd(z[mask], z[~mask], bandwidth=h), abs=1e-14)


def test_mmd_test_pvalue_definition_and_reproducibility(rng):
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + 0.2
    a = dv.mmd_test(x, y, n_permutations=99, seed=1)
    b = dv.mmd_test(x, y, n_permutations=99, seed=1)
    np.testing.assert_array_equal(a.null_distribution, b.null_distribution)
    assert a.pvalue == (1 + np.sum(a.null_distribution >= a.statistic)) / 100
    assert isinstance(a, dv.TestResult) and a.null_distribution.shape == (99,)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.pvalue = 0.5


@st.composite
def stein_inputs(draw):
    n = draw(st.integers(2, 70))
    d = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.normal(size=(n, d)) * draw(st.floats(0.3, 3))
    s = rng.normal(size=(n, d)) * draw(st.floats(0.1, 5))
    return x, s


@given(
    data=stein_inputs(),
    kernel=st.sampled_from(["imq", "gaussian"]),
    bandwidth=st.floats(0.2, 5),
    estimator=st.sampled_from(["unbiased", "biased"]),
    as_callable=st.booleans(),
)
def test_ksd_matches_reference(data, kernel, bandwidth, estimator, as_callable):
    x, s = data
    score = (lambda z: s) if as_callable else s
    got = dv.ksd(x, score, kernel=kernel, bandwidth=bandwidth, estimator=estimator)
    want = ref.ksd(x, s, kernel=kernel, bandwidth=bandwidth, estimator=estimator)
    scale = 1.0 + np.mean(np.sum(s * s, axis=1)) + x.shape[1] / bandwidth**2
    assert_close(got, want, scale)


@given(data=stein_inputs(), kernel=st.sampled_from(["imq", "gaussian"]), seed=st.integers(0, 10**6))
def test_ksd_test_matches_reference(data, kernel, seed):
    x, s = data
    got = dv.ksd_test(x, s, kernel=kernel, n_bootstrap=40, seed=seed)
    want = ref.ksd_test(x, s, kernel=kernel, n_bootstrap=40, seed=seed)
    scale = 1.0 + np.mean(np.sum(s * s, axis=1)) + x.shape[1]
    assert_close(got.statistic, want.statistic, scale)
    assert_close(got.null_distribution, want.null_distribution, scale)
    assert got.pvalue == want.pvalue
    assert got.statistic == pytest.approx(dv.ksd(x, s, kernel=kernel, estimator="biased"), rel=1e-12)


def test_score_callable_is_called_once_on_the_whole_sample(rng):
    calls = []

    def score(z):
        calls.append(z.shape)
        return -z

    x = rng.normal(size=(25, 3))
    dv.ksd(x, score)
    dv.ksd_test(x, score, n_bootstrap=5, seed=0)
    assert calls == [(25, 3), (25, 3)]


@given(
    n=st.integers(3, 80),
    m=st.integers(1, 50),
    d=st.integers(1, 4),
    bandwidth=st.sampled_from(["scott", "silverman", 0.3, 1.7]),
    weighted=st.booleans(),
    seed=st.integers(0, 10**6),
)
def test_kde_logpdf_matches_scipy_and_reference(n, m, d, bandwidth, weighted, seed):
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(n + d, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d)
    points = rng.normal(size=(m, d)) * 3
    weights = rng.random(n + d) + 0.01 if weighted else None
    got = dv.kde_logpdf(data, points, bandwidth=bandwidth, weights=weights)
    kde = scipy.stats.gaussian_kde(data.T, bw_method=bandwidth, weights=weights)
    want = kde.logpdf(points.T)
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-10)
    np.testing.assert_allclose(got, ref.kde_logpdf(data, points, bandwidth=bandwidth, weights=weights), rtol=1e-10)
    assert np.isfinite(got).all()


def test_kde_logpdf_is_finite_far_in_the_tails(rng):
    data = rng.normal(size=(500, 2))
    points = np.array([[0.0, 0.0], [60.0, 0.0], [0.0, -1e4]])
    got = dv.kde_logpdf(data, points)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, ref.kde_logpdf(data, points), rtol=1e-12)
    # Far away, the nearest data point dominates: log p ~ log(1/n) - |L^-1 (x - x_j)|^2 / 2 + log_norm.
    assert got[2] < got[1] < got[0]
    with np.errstate(divide="ignore"):
        assert not np.isfinite(np.log(scipy.stats.gaussian_kde(data.T).pdf(points[2:].T))).any()


def test_kde_logpdf_1d_matches_scipy(rng):
    data = rng.exponential(size=300)
    pts = np.linspace(-1, 8, 50)
    np.testing.assert_allclose(dv.kde_logpdf(data, pts), scipy.stats.gaussian_kde(data).logpdf(pts), rtol=1e-10)


@given(data=samples(max_n=50, max_d=4), bandwidth=st.floats(0.1, 5))
def test_cauchy_schwarz_matches_reference(data, bandwidth):
    x, y = data
    got = dv.cauchy_schwarz_divergence(x, y, bandwidth=bandwidth)
    want = ref.cauchy_schwarz_divergence(x, y, bandwidth=bandwidth)
    assert_close(got, want, 1.0)
    assert got >= -1e-12


def test_cauchy_schwarz_known_values(rng):
    x = rng.normal(size=(40, 2))
    assert dv.cauchy_schwarz_divergence(x, x) == pytest.approx(0.0, abs=1e-12)
    # One point each: -2 log K(a, b) = |a - b|^2 / (2 h^2).
    a, b = np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]])
    assert dv.cauchy_schwarz_divergence(a, b, bandwidth=0.5) == pytest.approx(25 / (2 * 0.25), rel=1e-14)
    # Far apart: finite, where the plain kernel means underflow to 0.
    assert dv.cauchy_schwarz_divergence(a, b * 1e3, bandwidth=0.5) == pytest.approx(25e6 / 0.5, rel=1e-12)
