"""Bad input: a clear ValueError/TypeError naming the argument, never a crash or NaN."""

import divergent as dv
import numpy as np
import pytest
from divergent import reference as ref

GOOD = np.random.default_rng(0).normal(size=(20, 3))


@pytest.fixture(params=[dv, ref], ids=["divergent", "reference"])
def impl(request):
    return request.param


@pytest.mark.parametrize(
    "x, y, match",
    [
        (np.zeros((4, 3, 2)), GOOD, "x must be a 1-D or 2-D array.*3-D"),
        (GOOD, np.zeros((2, 2, 2)), "y must be a 1-D or 2-D"),
        (np.float64(1.0), GOOD, "x must be a 1-D or 2-D array.*scalar"),
        (GOOD, np.zeros((10, 4)), "same number of features"),
        (np.zeros((0, 3)), GOOD, "x is empty"),
        (GOOD, np.zeros((5, 0)), "y is empty"),
        (GOOD[:1], GOOD, "x has 1 sample.*at least 2"),
    ],
)
def test_shapes(impl, x, y, match):
    with pytest.raises(ValueError, match=match):
        impl.mmd(x, y)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite(impl, bad):
    x = GOOD.copy()
    x[7, 1] = bad
    with pytest.raises(ValueError, match="x contains NaN or infinity.*row 7"):
        impl.mmd(x, GOOD)
    with pytest.raises(ValueError, match="y contains NaN or infinity"):
        impl.energy_distance(GOOD, x)


@pytest.mark.parametrize(
    "x, match",
    [
        (GOOD.astype(complex), "complex"),
        (GOOD.astype(object), "numeric array.*object"),
        (np.array([["a", "b"], ["c", "d"]]), "numeric array"),
    ],
)
def test_dtypes(impl, x, match):
    with pytest.raises(TypeError, match=match):
        impl.mmd(x, GOOD[:, :2])


@pytest.mark.parametrize("bandwidth", [0.0, -1.0, np.nan, np.inf])
def test_bad_bandwidth_value(impl, bandwidth):
    with pytest.raises(ValueError, match="bandwidth must be a positive finite number"):
        impl.mmd(GOOD, GOOD, bandwidth=bandwidth)


@pytest.mark.parametrize("bandwidth", [None, True, [1.0], "scott"])
def test_bad_bandwidth_type(impl, bandwidth):
    with pytest.raises((TypeError, ValueError), match="bandwidth"):
        impl.mmd(GOOD, GOOD, bandwidth=bandwidth)


def test_bandwidth_with_energy_kernel(impl):
    with pytest.raises(ValueError, match="energy kernel.*no bandwidth"):
        impl.mmd(GOOD, GOOD, kernel="energy", bandwidth=1.0)


def test_unknown_names(impl):
    with pytest.raises(ValueError, match="unknown kernel 'rbf'.*'gaussian'"):
        impl.mmd(GOOD, GOOD, kernel="rbf")
    with pytest.raises(ValueError, match="unknown estimator 'quadratic'"):
        impl.mmd(GOOD, GOOD, estimator="quadratic")


def test_linear_needs_equal_sizes(impl):
    with pytest.raises(ValueError, match="same number of samples.*20 and 19"):
        impl.mmd(GOOD, GOOD[:19], estimator="linear")


def test_unbiased_needs_two_points_but_biased_does_not(impl):
    with pytest.raises(ValueError, match="y has 1 sample"):
        impl.mmd(GOOD, GOOD[:1], bandwidth=1.0)
    assert np.isfinite(impl.mmd(GOOD, GOOD[:1], bandwidth=1.0, estimator="biased"))


def test_zero_median_distance(impl):
    same = np.ones((10, 2))
    with pytest.raises(ValueError, match="median pairwise distance.*is 0.*explicit positive bandwidth"):
        impl.mmd(same, same)
    # An explicit bandwidth works.
    assert impl.mmd(same, same, bandwidth=1.0) == pytest.approx(0.0, abs=1e-15)


def test_distances_beyond_the_float_range_are_rescaled(impl):
    # Squared distances of 1e200 overflow; the energy distance is homogeneous of degree
    # 1, so it is computed on data divided by a power of two and scaled back.
    small = np.array([[1.0], [-1.0], [3.0]])
    scale = 2.0**660
    assert impl.energy_distance(small * scale, -small * scale) == pytest.approx(
        impl.energy_distance(small, -small) * scale, rel=1e-14
    )


def test_median_bandwidth_needs_two_points():
    with pytest.raises(ValueError, match="at least 2 points"):
        dv.median_bandwidth(GOOD[:1])


def test_core_rejects_mismatched_arrays_without_crashing():
    # The extension's own checks, behind the Python validation.
    from divergent import _core

    with pytest.raises(ValueError, match="same number of features"):
        _core.kernel_sum(GOOD, GOOD[:, :2], "gaussian", 1.0)
    with pytest.raises(ValueError, match="weights of y have length 3"):
        _core.kernel_sum(GOOD, GOOD, "gaussian", 1.0, None, np.ones(3))
    with pytest.raises(ValueError, match="bandwidth must be finite and positive"):
        _core.kernel_self_sum(GOOD, "laplace", -2.0)
    with pytest.raises(ValueError, match="needs a bandwidth"):
        _core.kernel_self_sum(GOOD, "imq", None)
    with pytest.raises(TypeError):
        _core.kernel_self_sum(GOOD.astype(np.int64), "energy")
    with pytest.raises(TypeError, match="must both be float32 or both float64"):
        _core.kernel_sum(GOOD, GOOD.astype(np.float32), "gaussian", 1.0)
    # float32 is read as float32, and agrees with float64 on float32-exact data.
    exact = np.round(GOOD * 8) / 8
    assert _core.kernel_self_sum(exact.astype(np.float32), "energy") == pytest.approx(
        _core.kernel_self_sum(exact, "energy"), rel=1e-6
    )
