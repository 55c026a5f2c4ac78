"""Extreme but valid inputs: a finite, correct value (scale-covariant estimators are
computed on data divided by a power of two), or a ValueError naming the argument."""

import fractions

import divergent as dv
import numpy as np
import pytest


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    return rng.normal(size=(60, 3)), rng.normal(size=(45, 3))


@pytest.mark.parametrize("fn", [dv.kl_divergence, dv.js_divergence, lambda a, b: dv.renyi_divergence(a, b, alpha=0.5)])
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


@pytest.mark.parametrize(
    "kwargs, says",
    [
        (dict(reach=1e200), "reach=1e\\+200"),
        (dict(reach=1e-300), "reach=1e-300"),
        (dict(p=1e300), "p=1e\\+300"),
        (dict(max_iter=10**30), "max_iter="),
        (dict(reach=1.0, a=np.full(60, 1e300), b=np.full(45, 1e300)), "masses"),
    ],
)
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
        dv.ot.sinkhorn(x, y, epsilon=0.05).cost
    )


# --- entries at the edge of float64 (1.7e308) --------------------------------------------

BIG = 1.7e308


@pytest.mark.parametrize("scale", [2.0**600, 1.7e308, 2.0**-600])
def test_sinkhorn_from_cost_is_scale_covariant_outside_the_float_range(scale):
    c = np.random.default_rng(1).random((20, 30))
    c /= c.max()
    want = dv.ot.sinkhorn_from_cost(c, epsilon=0.05)
    for backend in ("dense", "online"):
        got = dv.ot.sinkhorn_from_cost(c * scale, epsilon=0.05 * scale, backend=backend)
        assert got.converged and got.n_iter == want.n_iter
        assert got.cost / scale == pytest.approx(want.cost, rel=1e-13)
        assert got.value / scale == pytest.approx(want.value, rel=1e-13)
        assert np.allclose(got.f / scale, want.f, rtol=1e-13, atol=1e-15)
        assert np.allclose(got.plan(), want.plan(), rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("cost_scale, epsilon", [(1e200, 0.5), (1.0, 1e-300), (1.0, 1e-13), (0.0, 1e-310)])
def test_an_epsilon_float64_cannot_resolve_against_the_costs_is_named(cost_scale, epsilon):
    c = np.random.default_rng(1).random((20, 30)) * cost_scale
    with pytest.raises(ValueError, match=rf"epsilon={epsilon!r} is below .*(?i:the smallest) .*works is"):
        dv.ot.sinkhorn_from_cost(c, epsilon=epsilon)


def test_the_smallest_epsilon_named_works(xy):
    x, y = xy
    with pytest.raises(ValueError, match="epsilon=1e-300 is below") as info:
        dv.ot.sinkhorn(x, y, epsilon=1e-300)
    smallest = float(info.value.args[0].split("works is ")[1].split()[0])
    with pytest.warns(dv.ConvergenceWarning):
        res = dv.ot.sinkhorn(x, y, epsilon=smallest * 1.001, max_iter=20)
    assert np.isfinite(res.cost) and np.isfinite(res.f).all()
    with pytest.raises(ValueError, match="epsilon=1e-300 is below"):
        dv.ot.sinkhorn_divergence(x, y, epsilon=1e-300)


def test_logits_whose_differences_overflow():
    a, b = np.array([[BIG, -BIG]]), np.array([[-BIG, BIG]])
    # p = (1, 0), q = (0, 1): JS = ln 2, TV = H = 1 exactly; KL = 3.4e308 is beyond float64.
    for p, q in ((a, b), (a[0], b[0]), (a, b[0])):  # fused (2-D and 1-D) and broadcast paths
        assert np.allclose(dv.discrete.js(p, q, from_logits=True), np.log(2), rtol=1e-15)
        assert np.allclose(dv.discrete.tv(p, q, from_logits=True), 1.0, rtol=1e-15)
        assert np.allclose(dv.discrete.hellinger(p, q, from_logits=True), 1.0, rtol=1e-15)
        with pytest.raises(ValueError, match=r"KL\(p \|\| q\) is outside float64's range.*row 0"):
            dv.discrete.kl(p, q, from_logits=True)


def test_logits_far_apart_with_a_finite_divergence():
    # p's mass e^-700 (1e-304) where q's log-probability is about -BIG: KL = 1.7e308 e^-700.
    a = np.array([[0.0, -700.0], [0.0, 1.0]])
    b = np.array([[0.0, -BIG], [2.0, -BIG]])
    w = np.exp(-700.0) / (1 + np.exp(-700.0))
    fused = dv.discrete.kl(a, b, from_logits=True)
    assert fused[0] == pytest.approx(w * BIG - np.log1p(w) + w * 700, rel=1e-12)
    wide = [dv.discrete.kl(a[i], b[i, None], from_logits=True)[0] for i in range(2)]  # broadcast path
    assert np.allclose(wide, fused, rtol=1e-12)
    # The reverse direction puts no mass where the logits differ by ~BIG.
    rev = dv.discrete.kl(b, a, from_logits=True)
    assert abs(rev[0]) < 1e-300 and np.isfinite(rev[1])
    assert rev[1] == pytest.approx(dv.discrete.kl(b[1:], a[1:], from_logits=True)[0])
    # Rows with logits beyond 2^1022 (half units) agree with the same rows scaled down.
    a, b = np.array([[5e307, 1.0, -5e307]]), np.array([[1.0, 5e307, 2.0]])
    assert dv.discrete.kl(a, b, from_logits=True)[0] == pytest.approx(
        8 * dv.discrete.kl(a / 8, b / 8, from_logits=True)[0], rel=1e-14
    )
    assert dv.discrete.js(a, b, from_logits=True)[0] == pytest.approx(np.log(2), rel=1e-15)


@pytest.mark.parametrize(
    "call",
    [
        lambda x, y: dv.mmd(x, y, kernel="laplace", bandwidth=1.0, estimator="biased"),
        lambda x, y: dv.cauchy_schwarz_divergence(x, y),
        lambda x, y: dv.cauchy_schwarz_divergence(x, y, bandwidth=1.0),
    ],
)
def test_kernel_sums_with_entries_at_the_float_limit_name_the_bandwidth(call):
    x = np.array([[BIG, -BIG], [0.0, 1.0], [1.0, 2.0]])
    with pytest.raises(ValueError, match=r"bandwidth=1.0 is too small .*2\^1024"):
        call(x, x[::-1] * 0.5)


def test_a_scalar_distribution_is_named():
    for kwargs in ({"from_logits": True}, {}):
        with pytest.raises(ValueError, match="q must have at least one axis"):
            dv.discrete.kl(np.array([0.5, 0.5]), np.array(1.5), **kwargs)
        with pytest.raises(ValueError, match="q must have at least one axis"):
            dv.discrete.kl(np.array([[0.5, 0.5]]), np.array(1.5), **kwargs)
