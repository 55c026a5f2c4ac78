"""Bad input to the k-NN estimators: a clear ValueError or TypeError naming the fix."""

import divergent as dv
import numpy as np
import pytest

rng = np.random.default_rng(0)
X = rng.standard_normal((50, 2))
Y = rng.standard_normal((40, 2))
Z = rng.standard_normal((50, 1))

ALL = [
    lambda x, **kw: dv.entropy(x, **kw),
    lambda x, **kw: dv.kl_divergence(x, Y, **kw),
    lambda x, **kw: dv.renyi_divergence(x, Y, alpha=0.5, **kw),
    lambda x, **kw: dv.js_divergence(x, Y, **kw),
    lambda x, **kw: dv.mutual_information(x, Z, **kw),
    lambda x, **kw: dv.conditional_mutual_information(x, Z, Z[::-1], **kw),
]


@pytest.mark.parametrize("f", ALL)
@pytest.mark.parametrize("k", [0, -1])
def test_k_below_one(f, k):
    with pytest.raises(ValueError, match="k must be a positive integer"):
        f(X, k=k)


@pytest.mark.parametrize("f", ALL)
def test_k_not_an_integer(f):
    with pytest.raises(TypeError, match="k must be a positive integer"):
        f(X, k=2.5)


@pytest.mark.parametrize("f", ALL)
def test_k_too_large(f):
    with pytest.raises(ValueError, match="k=50 is too large"):
        f(X, k=50)


def test_k_limits_are_exact():
    dv.entropy(X, k=49)
    dv.kl_divergence(X, Y, k=40)
    with pytest.raises(ValueError, match="too large"):
        dv.kl_divergence(X, Y, k=41)  # y has only 40 points
    with pytest.raises(ValueError, match="too large"):
        dv.js_divergence(X, Y, k=40)  # y has 39 others


@pytest.mark.parametrize("f", ALL)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite(f, bad):
    x = X.copy()
    x[7, 1] = bad
    with pytest.raises(ValueError, match="NaN or infinity .*row 7"):
        f(x)


@pytest.mark.parametrize("f", ALL)
def test_wrong_ndim_and_empty(f):
    with pytest.raises(ValueError, match="3-D array"):
        f(X[None])
    with pytest.raises(ValueError, match="scalar"):
        f(np.float64(1.0))
    with pytest.raises(ValueError, match="empty"):
        f(np.empty((0, 2)))
    with pytest.raises(TypeError, match="numeric"):
        f(np.array([["a", "b"]] * 5))


@pytest.mark.parametrize("f", [dv.kl_divergence, dv.js_divergence, lambda x, y: dv.renyi_divergence(x, y, alpha=2)])
def test_dimension_mismatch(f):
    with pytest.raises(ValueError, match="same number of features"):
        f(X, rng.standard_normal((40, 3)))


def test_sample_count_mismatch_for_paired_estimators():
    with pytest.raises(ValueError, match="x and y must have the same number of samples"):
        dv.mutual_information(X, Y)
    with pytest.raises(ValueError, match="x and y must have the same number of samples"):
        dv.mutual_information(np.arange(10.0), np.arange(11.0))
    with pytest.raises(ValueError, match="x and z must have the same number of samples"):
        dv.conditional_mutual_information(X, Z, Z[:-1])


@pytest.mark.parametrize("alpha", [0, -0.5, np.nan, np.inf])
def test_alpha_out_of_range(alpha):
    with pytest.raises(ValueError, match="alpha must be a positive finite number"):
        dv.renyi_divergence(X, Y, alpha=alpha)


def test_alpha_one_points_to_kl():
    with pytest.raises(ValueError, match="use kl_divergence"):
        dv.renyi_divergence(X, Y, alpha=1)


def test_alpha_too_large_for_k():
    with pytest.raises(ValueError, match="pass k >= 6"):
        dv.renyi_divergence(X, Y, alpha=6.5, k=5)
    dv.renyi_divergence(X, Y, alpha=5.5, k=5)
    with pytest.raises(TypeError, match="alpha"):
        dv.renyi_divergence(X, Y, alpha="0.5")


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown method 'ksg3'"):
        dv.mutual_information(X, Z, method="ksg3")


def test_duplicates_raise_and_jitter_fixes_them():
    x = np.repeat(rng.standard_normal((20, 2)), 4, axis=0)  # every point 4 times
    with pytest.raises(ValueError, match="distance 0 .*jitter=True"):
        dv.entropy(x)
    with pytest.raises(ValueError, match="distance 0"):
        dv.kl_divergence(x, Y)
    with pytest.raises(ValueError, match="distance 0"):
        dv.mutual_information(x, x[:, :1])
    with pytest.raises(ValueError, match="pooled"):
        dv.js_divergence(X, X, k=1)
    assert np.isfinite(dv.entropy(x, jitter=True, seed=0))
    assert np.isfinite(dv.entropy(x, k=4))  # k above the number of copies
    assert np.isfinite(dv.mutual_information(x, x[:, :1], jitter=True, seed=0))
    assert np.isfinite(dv.js_divergence(X, X, jitter=True, seed=0))


def test_zero_distance_to_the_other_sample():
    y = np.repeat(X[:5], 3, axis=0)  # x_0..x_4 each have 3 copies in y
    with pytest.raises(ValueError, match="5 point\\(s\\) of x have their 1st nearest neighbour in y"):
        dv.kl_divergence(X, y)


@pytest.mark.parametrize("jitter", [-1e-10, np.nan, "yes"])
def test_bad_jitter(jitter):
    with pytest.raises((ValueError, TypeError), match="jitter"):
        dv.entropy(X, jitter=jitter)
