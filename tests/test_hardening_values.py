"""Extreme but valid inputs: a finite, correct value (scale-covariant estimators are
computed on data divided by a power of two), or a ValueError naming the argument."""

import fractions

import numpy as np
import pytest

import divergent as dv


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    return rng.normal(size=(60, 3)), rng.normal(size=(45, 3))


@pytest.mark.parametrize("fn", [dv.kl_divergence, dv.js_divergence,
                                lambda a, b: dv.renyi_divergence(a, b, alpha=0.5)])
def test_knn_divergences_are_scale_invariant_far_outside_the_float_range(xy, fn):
    x, y = xy
    for s in (2.0**600, 2.0**-600):
        assert fn(x * s, y * s) == pytest.approx(fn(x, y), rel=1e-12)


def test_knn_entropy_shifts_by_d_log_c(xy):
    x, _ = xy
    assert dv.entropy(x * 2.0**700) == pytest.approx(dv.entropy(x) + 3 * 700 * np.log(2), rel=1e-12)


def test_kernel_sums_on_huge_data(xy):
    x, y = xy
    s = 2.0**600
    assert dv.mmd(x * s, y * s) == pytest.approx(dv.mmd(x, y), rel=1e-12)
    assert dv.median_bandwidth(x * s) == pytest.approx(dv.median_bandwidth(x) * s, rel=1e-12)
    assert dv.mmd(x * 1e-300, y * 1e-300) == pytest.approx(dv.mmd(x, y), rel=1e-9)


def test_bandwidths_that_underflow_every_kernel_value_name_the_bandwidth(xy):
    x, y = xy
    with pytest.raises(ValueError, match="bandwidth=1e-300 is too small"):
        dv.mmd(x, y, bandwidth=1e-300)
    with pytest.raises(ValueError, match="bandwidth=1e-300"):
        dv.kde_logpdf(x, y, bandwidth=1e-300)
    with pytest.raises(ValueError, match="bandwidth"):
        dv.cauchy_schwarz_divergence(x, y + 1e160)


def test_kde_far_point_names_points(xy):
    x, _ = xy
    with pytest.raises(ValueError, match=r"points\[0\]"):
        dv.kde_logpdf(x, [[1e160, 0, 0]])


def test_weights_whose_sum_overflows_are_rescaled(xy):
    x, y = xy
    assert np.allclose(dv.kde_logpdf(x, y, weights=np.full(60, 1e308)), dv.kde_logpdf(x, y), rtol=1e-12)
    a, b = np.full(60, 1e308), np.full(45, 1e308)
    assert dv.ot.sinkhorn(x, y, epsilon=0.1, a=a, b=b).cost == pytest.approx(dv.ot.sinkhorn(x, y, epsilon=0.1).cost)


def test_wasserstein_far_outside_the_float_range():
    rng = np.random.default_rng(1)
    u, v = rng.normal(size=50), rng.normal(size=40)
    s = 2.0**660
    assert dv.ot.wasserstein_1d(u * s, v * s, p=2) == pytest.approx(dv.ot.wasserstein_1d(u, v, p=2) * s, rel=1e-12)
    with pytest.raises(ValueError, match="outside float64's range"):
        dv.ot.wasserstein_1d([1.7e308], [-1.7e308])
    with pytest.raises(ValueError, match="p must be"):
        dv.ot.wasserstein_1d(u, v, p=1e300)


@pytest.mark.parametrize("kwargs, says", [
    (dict(reach=1e200), "reach=1e\\+200"), (dict(reach=1e-300), "reach=1e-300"),
    (dict(p=1e300), "p=1e\\+300"), (dict(max_iter=10**30), "max_iter="),
    (dict(reach=1.0, a=np.full(60, 1e300), b=np.full(45, 1e300)), "masses"),
])
def test_sinkhorn_arguments_out_of_range_are_named(xy, kwargs, says):
    x, y = xy
    with pytest.raises(ValueError, match=says):
        dv.ot.sinkhorn(x, y, epsilon=0.1, **kwargs)


def test_sizes_are_checked_before_allocating(xy):
    x, y = xy
    with pytest.raises(MemoryError, match="n_permutations"):
        dv.mmd_test(x, y, n_permutations=10**12)
    with pytest.raises(MemoryError, match="n_bootstrap"):
        dv.ksd_test(x, lambda z: -z, n_bootstrap=10**12)
    with pytest.raises(MemoryError, match="n_projections"):
        dv.ot.sliced_wasserstein(x, y, n_projections=10**12)


def test_ragged_input_names_the_argument(xy):
    _, y = xy
    with pytest.raises(ValueError, match="x is a ragged"):
        dv.mmd([[1.0, 2.0], [3.0]], y)


def test_fraction_epsilon(xy):
    x, y = xy
    assert dv.ot.sinkhorn(x, y, epsilon=fractions.Fraction(1, 20)).cost == pytest.approx(
        dv.ot.sinkhorn(x, y, epsilon=0.05).cost)
