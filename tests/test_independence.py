"""divergent.independence: HSIC, distance covariance and correlation, and their tests,
against the dense NumPy references, dcor and hyppo, closed forms, and calibration."""

import dcor
import divergent as dv
import numpy as np
import pytest
from divergent import reference
from divergent._special import gamma_sf
from hypothesis import given, settings
from hypothesis import strategies as st

ref = reference.independence


def pair(n, dx, dy, seed, dependence=0.5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dx))
    y = rng.normal(size=(n, dy)) + dependence * np.tanh(x[:, :1])
    return x, y


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(4, 90),
    dx=st.integers(1, 24),
    dy=st.integers(1, 24),
    kernel=st.sampled_from(["gaussian", "laplace", "imq", "energy"]),
    estimator=st.sampled_from(["unbiased", "biased"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_hsic_matches_the_reference(n, dx, dy, kernel, estimator, seed):
    x, y = pair(n, dx, dy, seed)
    got = dv.hsic(x, y, kernel=kernel, estimator=estimator)
    want = ref.hsic(x, y, kernel=kernel, estimator=estimator)
    # The statistic is a sum of centred products of either sign: its round-off is
    # relative to the products' magnitude, sqrt(sum Kc^2 sum Lc^2) / n^2, not to itself.
    scale = np.sqrt(
        ref.hsic(x, x, kernel=kernel, estimator="biased") * ref.hsic(y, y, kernel=kernel, estimator="biased")
    )
    assert got == pytest.approx(want, rel=1e-10, abs=1e-12 * scale)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(4, 90),
    dx=st.integers(1, 20),
    dy=st.integers(1, 20),
    ties=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_distance_statistics_match_the_reference_and_dcor(n, dx, dy, ties, seed):
    x, y = pair(n, dx, dy, seed)
    if ties:
        x, y = np.round(x), np.round(2 * y)
    if np.ptp(x, axis=0).max() == 0 or np.ptp(y, axis=0).max() == 0:
        return
    dcov, want = dv.distance_covariance(x, y), ref.distance_covariance(x, y)
    scale = np.sqrt(ref.distance_covariance(x, x) * ref.distance_covariance(y, y))
    assert dcov == pytest.approx(want, rel=1e-9, abs=1e-6 * scale)
    assert dcov == pytest.approx(dcor.distance_covariance(x, y), rel=1e-8, abs=1e-6 * scale)
    assert dv.distance_correlation(x, y) == pytest.approx(ref.distance_correlation(x, y), rel=1e-9, abs=1e-11)
    assert dv.distance_correlation(x, y) == pytest.approx(dcor.distance_correlation(x, y), rel=1e-8, abs=1e-10)
    try:
        want = ref.distance_correlation(x, y, bias_corrected=True)
    except ValueError:
        with pytest.raises(ValueError, match="distance variance 0"):
            dv.distance_correlation(x, y, bias_corrected=True)
        return
    assert dv.distance_correlation(x, y, bias_corrected=True) == pytest.approx(want, rel=1e-9, abs=1e-11)
    assert want == pytest.approx(dcor.u_distance_correlation_sqr(x, y), rel=1e-8, abs=1e-10)


@pytest.mark.parametrize("n", [5, 200, 3000])
def test_one_dimensional_distance_statistics_take_the_fast_path_exactly(n):
    rng = np.random.default_rng(n)
    x = rng.normal(size=n)
    y = x**2 + rng.normal(size=n)
    y[::4] = y[0]  # ties
    dense_x, dense_y = x[:, None].repeat(2, 1) / np.sqrt(2), y[:, None]
    # (x, x)/sqrt(2) in 2-D has the same distances as x: the pair-loop path's answer.
    assert dv.distance_covariance(x, y) == pytest.approx(dv.distance_covariance(dense_x, dense_y), rel=1e-9)
    for bc in (False, True):
        got = dv.distance_correlation(x, y, bias_corrected=bc)
        assert got == pytest.approx(dv.distance_correlation(dense_x, dense_y, bias_corrected=bc), rel=1e-9)
    if n <= 200:
        assert dv.distance_covariance(x, y) == pytest.approx(ref.distance_covariance(x, y), rel=1e-10)


def test_hyppo_dcorr_is_the_bias_corrected_distance_correlation():
    hyppo = pytest.importorskip("hyppo.independence")
    x, y = pair(120, 3, 2, 7)
    assert dv.distance_correlation(x, y, bias_corrected=True) == pytest.approx(hyppo.Dcorr().statistic(x, y), rel=1e-9)


@settings(max_examples=10, deadline=None)
@given(
    n=st.integers(4, 60),
    dx=st.integers(1, 20),
    dy=st.integers(1, 3),
    kernel=st.sampled_from(["gaussian", "laplace", "energy"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_permutation_tests_replay_the_reference(n, dx, dy, kernel, seed):
    x, y = pair(n, dx, dy, seed, dependence=0.3)
    a = dv.hsic_test(x, y, kernel=kernel, n_permutations=49, seed=seed)
    b = ref.hsic_test(x, y, kernel=kernel, n_permutations=49, seed=seed)
    scale = np.sqrt(
        ref.hsic(x, x, kernel=kernel, estimator="biased") * ref.hsic(y, y, kernel=kernel, estimator="biased")
    )
    np.testing.assert_allclose(a.null_distribution, b.null_distribution, rtol=1e-10, atol=1e-12 * scale)
    assert a.statistic == pytest.approx(b.statistic, rel=1e-10, abs=1e-12 * scale)
    assert a.pvalue == b.pvalue
    c, d = dv.dcov_test(x, y, n_permutations=49, seed=seed), ref.dcov_test(x, y, n_permutations=49, seed=seed)
    scale = ref.distance_covariance(x, x) * ref.distance_covariance(y, y)
    np.testing.assert_allclose(c.null_distribution, d.null_distribution, rtol=1e-9, atol=1e-11 * scale)
    assert c.pvalue == d.pvalue


def test_the_gamma_approximation_matches_gretton_et_al():
    x, y = pair(80, 2, 3, 1, dependence=0.2)
    a, b = dv.hsic_test(x, y, method="gamma"), ref.hsic_test(x, y, method="gamma")
    assert a.statistic == pytest.approx(b.statistic, rel=1e-10)
    assert a.pvalue == pytest.approx(b.pvalue, rel=1e-8)
    assert a.null_distribution.size == 0


def test_gamma_survival_function_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for shape in (0.3, 1.0, 4.5, 60.0, 2500.0):
        for q in (1e-6, 0.01, 0.3, 0.5, 0.9, 0.999999):
            x = stats.gamma.ppf(q, shape, scale=2.0)
            assert gamma_sf(x, shape, 2.0) == pytest.approx(1 - q, rel=1e-9)


def test_p_values_do_not_depend_on_the_thread_count():
    x, y = pair(300, 20, 2, 3, dependence=0.1)
    x1, y1 = x[:, 0], y[:, 0]
    runs = []
    for t in (1, 2, 3):
        with dv.threads(t):
            runs.append(
                (
                    dv.hsic_test(x, y, n_permutations=99, seed=1).null_distribution,
                    dv.dcov_test(x1, y1, n_permutations=99, seed=1).null_distribution,
                    dv.hsic(x, y),
                )
            )
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0][0], other[0])
        np.testing.assert_array_equal(runs[0][1], other[1])
        assert runs[0][2] == other[2]


def test_known_answers():
    x = np.arange(1.0, 12.0)
    # Affine similarities have distance correlation 1; a constant shift changes nothing.
    assert dv.distance_correlation(x, 3 * x + 1) == pytest.approx(1.0, rel=1e-12)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 3))
    rotation = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    assert dv.distance_correlation(z, 2 * z @ rotation + 5) == pytest.approx(1.0, rel=1e-10)
    # dCov(x, x) = dVar(x); HSIC with the energy kernel is dCov^2.
    assert dv.hsic(z, z[:, :1], kernel="energy", estimator="biased") == pytest.approx(
        dv.distance_covariance(z, z[:, :1]) ** 2, rel=1e-10
    )
    # Population dCor of a bivariate normal with correlation rho (Szekely et al. 2007,
    # Theorem 7); at n = 20,000 the V-statistic's sd is below 0.005 and its bias ~1/n.
    rho = 0.6
    n = 20_000
    u = rng.normal(size=(n, 2))
    a, b = u[:, 0], rho * u[:, 0] + np.sqrt(1 - rho**2) * u[:, 1]
    r = rho * np.arcsin(rho) + np.sqrt(1 - rho**2) - rho * np.arcsin(rho / 2) - np.sqrt(4 - rho**2) + 1
    population = np.sqrt(r / (1 + np.pi / 3 - np.sqrt(3)))
    assert dv.distance_correlation(a, b) == pytest.approx(population, abs=0.015)


@pytest.mark.parametrize("test", ["hsic", "hsic_gamma", "dcov"])
def test_rejection_rate_under_independence(test):
    # 400 null replications at alpha = 0.05: the rate's sd is 0.011; fixed seeds. The
    # gamma approximation is conservative at small n (0.02 at n = 40), so it gets n = 200.
    rejections = 0
    n = 200 if test == "hsic_gamma" else 40
    for r in range(400):
        rng = np.random.default_rng(10_000 + r)
        x, y = rng.normal(size=(n, 2)), rng.standard_t(3, size=n)
        if test == "hsic":
            p = dv.hsic_test(x, y, n_permutations=99, seed=r).pvalue
        elif test == "hsic_gamma":
            p = dv.hsic_test(x, y, method="gamma").pvalue
        else:
            p = dv.dcov_test(x, y, n_permutations=99, seed=r).pvalue
        rejections += p <= 0.05
    assert 0.03 <= rejections / 400 <= 0.07


def test_power_against_a_dependence_correlation_misses():
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, size=200)
    y = x**2 + 0.1 * rng.normal(size=200)
    assert abs(np.corrcoef(x, y)[0, 1]) < 0.2
    assert dv.hsic_test(x, y, seed=0).pvalue <= 0.01
    assert dv.dcov_test(x, y, seed=0).pvalue <= 0.01
    assert dv.hsic_test(x, y, method="gamma").pvalue <= 0.01


def test_bad_input_is_refused_with_named_errors():
    x, y = pair(20, 2, 2, 0)
    with pytest.raises(ValueError, match="paired row by row"):
        dv.hsic(x, y[:-1])
    with pytest.raises(ValueError, match="paired row by row"):
        dv.dcov_test(x, y[:-1])
    with pytest.raises(ValueError, match="at least 4"):
        dv.distance_covariance(x[:3], y[:3])
    with pytest.raises(ValueError, match="constant"):
        dv.distance_correlation(np.ones(10), np.arange(10.0))
    with pytest.raises(ValueError, match="constant"):
        dv.distance_correlation(np.arange(10.0), np.ones((10, 2)), bias_corrected=True)
    with pytest.raises(ValueError, match="y: .*median"):
        dv.hsic(x, np.ones(20))
    with pytest.raises(ValueError, match="no bandwidth"):
        dv.hsic(x, y, kernel="energy", bandwidth=1.0)
    with pytest.raises(ValueError, match="bounded kernel"):
        dv.hsic_test(x, y, kernel="energy", method="gamma")
    with pytest.raises(ValueError, match="y.*NaN|y.*finite"):
        dv.dcov_test(x, np.full(20, np.nan))
    with pytest.raises(dv.InvalidParameterError, match="bandwidth"):
        dv.hsic(x, y, bandwidth=(1.0, -1.0))
    with pytest.raises(dv.InvalidParameterError, match="bandwidth"):
        dv.hsic(x, y, bandwidth="mean")
    assert dv.hsic(x, y, bandwidth=(1.0, 2.0)) == pytest.approx(ref.hsic(x, y, bandwidth=(1.0, 2.0)), rel=1e-10)


def test_extreme_magnitudes_are_rescaled_exactly():
    x, y = pair(30, 2, 1, 4)
    assert dv.distance_covariance(x * 2.0**600, y) == pytest.approx(dv.distance_covariance(x, y) * 2.0**300, rel=1e-12)
    assert dv.hsic(x * 1e300, y * 1e-300) == pytest.approx(dv.hsic(x, y), rel=1e-12)
    t = dv.dcov_test(x[:, 0] * 1e300, y[:, 0], n_permutations=19, seed=0)
    assert np.isfinite(t.statistic) and t.pvalue == dv.dcov_test(x[:, 0], y[:, 0], n_permutations=19, seed=0).pvalue
