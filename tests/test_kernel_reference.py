"""The Rust estimators against the pure-NumPy references in divergent.reference."""

import divergent as dv
import numpy as np
import pytest
from divergent import reference as ref
from hypothesis import given
from hypothesis import strategies as st

KERNELS = ["gaussian", "laplace", "imq", "energy"]


def assert_estimates_equal(got, want, scale, rtol=1e-10, float32=False):
    """|got - want| <= rtol |want| + 1e-13 scale.

    An MMD estimate is a difference of means of kernel values of size `scale`; float64
    evaluates each mean to ~1e-16 relative, so the difference carries an absolute error
    ~1e-16 * scale that no implementation can beat when the estimate is near zero.
    float32 input is computed in float32 with float64 accumulation, and the contract
    holds each mean to 1e-3 relative of the float64 computation: 1e-3 of `scale`.
    """
    if float32:
        rtol, atol = 1e-3, 1e-3 * scale
    else:
        atol = 1e-13 * scale
    assert abs(got - want) <= rtol * abs(want) + atol, (got, want)


@st.composite
def sample_pair(draw, same_n=False):
    n = draw(st.integers(2, 300))
    m = n if same_n else draw(st.integers(2, 300))
    d = draw(st.integers(1, 20))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1e-3, 1.0, 50.0]))
    x = rng.normal(size=(n, d)) * scale
    y = (rng.normal(size=(m, d)) + draw(st.floats(-1, 1))) * scale
    if draw(st.booleans()):
        # Repeated points: zero distances stress sqrt-based kernels and the diagonal.
        x[n // 2 :] = x[: n - n // 2]
    layout = draw(st.sampled_from(["C", "F", "strided", "float32"]))
    if layout == "F":
        x, y = np.asfortranarray(x), np.asfortranarray(y)
    elif layout == "strided":
        x = np.repeat(x, 2, axis=0)[::2]
        y = np.concatenate([y, y], axis=1)[:, :d]
    elif layout == "float32":
        x, y = x.astype(np.float32), y.astype(np.float32)
    return x, y, scale * np.sqrt(d)


def kernel_scale(kernel, data_scale):
    return data_scale if kernel == "energy" else 1.0


@given(
    data=sample_pair(),
    kernel=st.sampled_from(KERNELS),
    estimator=st.sampled_from(["unbiased", "biased"]),
    fixed=st.booleans(),
)
def test_mmd_matches_reference(data, kernel, estimator, fixed):
    x, y, scale = data
    bandwidth = "median"
    if fixed and kernel != "energy":
        bandwidth = 0.7 * scale
    got = dv.mmd(x, y, kernel=kernel, bandwidth=bandwidth, estimator=estimator)
    want = ref.mmd(x, y, kernel=kernel, bandwidth=bandwidth, estimator=estimator)
    assert_estimates_equal(got, want, kernel_scale(kernel, scale), float32=x.dtype == np.float32)


@given(data=sample_pair(same_n=True), kernel=st.sampled_from(KERNELS))
def test_linear_mmd_matches_reference(data, kernel):
    x, y, scale = data
    got = dv.mmd(x, y, kernel=kernel, estimator="linear")
    want = ref.mmd(x, y, kernel=kernel, estimator="linear")
    # float32: the median bandwidth's distances come from float32 products from d = 16.
    assert_estimates_equal(got, want, kernel_scale(kernel, scale), float32=x.dtype == np.float32)


@given(data=sample_pair())
def test_energy_distance_matches_reference(data):
    x, y, scale = data
    got = dv.energy_distance(x, y)
    assert_estimates_equal(got, ref.energy_distance(x, y), scale, float32=x.dtype == np.float32)
    # The contract: energy distance is the biased MMD with the energy kernel.
    assert_estimates_equal(got, dv.mmd(x, y, kernel="energy", estimator="biased"), scale)


@given(data=sample_pair())
def test_median_bandwidth_matches_reference(data):
    x, y, _ = data
    assert dv.median_bandwidth(x, y) == pytest.approx(ref.median_bandwidth(x, y), rel=1e-12)


def test_median_bandwidth_on_a_subsample_matches_reference(rng):
    # 6000 pooled points: both take the same fixed-seed subset of 5000.
    x = rng.normal(size=(3500, 3))
    y = rng.normal(size=(2500, 3)) * 2
    got = dv.median_bandwidth(x, y)
    assert got == pytest.approx(ref.median_bandwidth(x, y), rel=1e-12)
    assert got == dv.median_bandwidth(x, y)  # deterministic
    # and it is not the full-sample median (so the subsample path really ran)
    assert got != pytest.approx(ref.median_bandwidth(x[:2000], y[:2000]), rel=1e-6)


def test_large_sample_matches_reference(rng):
    # Many tiles and chunks, uneven sizes, fixed bandwidth.
    x = rng.normal(size=(2500, 7))
    y = rng.normal(size=(1900, 7)) * 1.1
    for kernel in KERNELS:
        bw = "median" if kernel == "energy" else 2.0
        got = dv.mmd(x, y, kernel=kernel, bandwidth=bw)
        want = ref.mmd(x, y, kernel=kernel, bandwidth=bw)
        assert_estimates_equal(got, want, kernel_scale(kernel, np.sqrt(7)), rtol=1e-11)


def test_kernel_matrix_reference_agrees_with_its_sums(rng):
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(20, 2))
    K = ref.kernel_matrix(x, y, kernel="gaussian", bandwidth=0.5)
    d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(K, np.exp(-d2 / 0.5), rtol=1e-14)
    Kxx = ref.kernel_matrix(x, x, kernel="gaussian", bandwidth=0.5)
    Kyy = ref.kernel_matrix(y, y, kernel="gaussian", bandwidth=0.5)
    u = (Kxx.sum() - 30) / (30 * 29) + (Kyy.sum() - 20) / (20 * 19) - 2 * K.mean()
    assert dv.mmd(x, y, bandwidth=0.5) == pytest.approx(u, rel=1e-12)
