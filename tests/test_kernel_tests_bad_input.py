"""Bad input to mmd_test, ksd, ksd_test, kde_logpdf, cauchy_schwarz_divergence."""

import divergent as dv
import numpy as np
import pytest
from divergent import reference as ref

X = np.random.default_rng(0).normal(size=(30, 2))


@pytest.fixture(params=[dv, ref], ids=["divergent", "reference"])
def impl(request):
    return request.param


@pytest.mark.parametrize("bad", [0, -5])
def test_counts_must_be_positive(impl, bad):
    with pytest.raises(ValueError, match="n_permutations must be a positive integer"):
        impl.mmd_test(X, X, n_permutations=bad)
    with pytest.raises(ValueError, match="n_bootstrap must be a positive integer"):
        impl.ksd_test(X, -X, n_bootstrap=bad)


@pytest.mark.parametrize("bad", [10.5, "99", None, True])
def test_counts_must_be_integers(impl, bad):
    with pytest.raises(TypeError, match="n_permutations must be a positive integer"):
        impl.mmd_test(X, X, n_permutations=bad)
    with pytest.raises(TypeError, match="n_bootstrap must be a positive integer"):
        impl.ksd_test(X, -X, n_bootstrap=bad)


def test_bad_seed(impl):
    with pytest.raises(ValueError, match="seed must be None, a non-negative integer"):
        impl.mmd_test(X, X, seed=-1)
    with pytest.raises(TypeError, match="seed"):
        impl.ksd_test(X, -X, seed="a")


def test_score_with_the_wrong_shape(impl):
    with pytest.raises(ValueError, match=r"score\(x\) returned shape \(30, 1\), expected \(30, 2\)"):
        impl.ksd(X, lambda z: z[:, :1])
    with pytest.raises(ValueError, match=r"score has shape \(29, 2\)"):
        impl.ksd_test(X, -X[:29])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_scores(impl, bad):
    s = -X.copy()
    s[4, 1] = bad
    with pytest.raises(ValueError, match="score contains NaN or infinity.*sample 4"):
        impl.ksd(X, s)
    with pytest.raises(ValueError, match="score contains NaN"):
        impl.ksd_test(X, lambda z: s)


def test_a_raising_score_propagates_unchanged(impl):
    class MyError(Exception):
        pass

    def score(z):
        raise MyError("model failed")

    with pytest.raises(MyError, match="model failed"):
        impl.ksd(X, score)


def test_ksd_kernel_and_bandwidth(impl):
    with pytest.raises(ValueError, match="unknown kernel 'laplace'"):
        impl.ksd(X, -X, kernel="laplace")
    with pytest.raises(ValueError, match="bandwidth must be a positive finite number"):
        impl.ksd(X, -X, bandwidth=0.0)
    with pytest.raises(ValueError, match="unknown estimator 'linear'"):
        impl.ksd(X, -X, estimator="linear")
    with pytest.raises(ValueError, match="x has 1 sample"):
        impl.ksd(X[:1], -X[:1])


@pytest.mark.parametrize(
    "weights, err, match",
    [
        (-np.ones(30), ValueError, "weights must be non-negative"),
        (np.zeros(30), ValueError, "weights are all zero"),
        (np.ones(29), ValueError, "weights must be a 1-D array of length 30"),
        (np.full(30, np.nan), ValueError, "weights contains NaN"),
        (np.array(["a"] * 30), TypeError, "weights must be a numeric array"),
    ],
)
def test_kde_bad_weights(impl, weights, err, match):
    with pytest.raises(err, match=match):
        impl.kde_logpdf(X, X, weights=weights)


def test_kde_singular_covariance(impl):
    collinear = np.column_stack([X[:, 0], 2 * X[:, 0]])
    with pytest.raises(ValueError, match="covariance of data.*singular.*jitter.*reduce d"):
        impl.kde_logpdf(collinear, X)
    with pytest.raises(ValueError, match="singular"):
        impl.kde_logpdf(X[:2], X)  # n <= d
    # Two points in 2-D: a rank-1 covariance that Cholesky passes on round-off (it used
    # to return log-densities of about -1e18), at any scale of the features.
    pair = np.random.default_rng(0).normal(size=(60, 3))[:2, :2]
    for scale in (1.0, 1e-8, 1e8):
        with pytest.raises(ValueError, match="singular"):
            impl.kde_logpdf(scale * pair, scale * X[:3])


def test_kde_dimension_mismatch_and_bandwidth(impl):
    with pytest.raises(ValueError, match="data and points must have the same number of features"):
        impl.kde_logpdf(X, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="unknown bandwidth 'median'"):
        impl.kde_logpdf(X, X, bandwidth="median")
    with pytest.raises(ValueError, match="positive finite"):
        impl.kde_logpdf(X, X, bandwidth=-1.0)
    with pytest.raises(ValueError, match="data has 1 sample"):
        impl.kde_logpdf(X[:1], X)


def test_cauchy_schwarz_bad_input(impl):
    with pytest.raises(ValueError, match="bandwidth must be a positive finite number"):
        impl.cauchy_schwarz_divergence(X, X, bandwidth=np.inf)
    with pytest.raises(ValueError, match="same number of features"):
        impl.cauchy_schwarz_divergence(X, X[:, :1])
    with pytest.raises(TypeError, match="bandwidth"):
        impl.cauchy_schwarz_divergence(X, X, bandwidth="median")


def test_mmd_test_inherits_mmd_validation(impl):
    with pytest.raises(ValueError, match="y has 1 sample"):
        impl.mmd_test(X, X[:1])
    with pytest.raises(ValueError, match="contains NaN"):
        impl.mmd_test(X, np.full((4, 2), np.nan))
