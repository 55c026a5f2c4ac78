"""mmd_agg_test (MMDAgg): against the dense NumPy reference written from the paper's
algorithm, the single-kernel statistics, calibration, power, and bad input."""

import divergent as dv
import numpy as np
import pytest
from divergent import reference
from hypothesis import given, settings
from hypothesis import strategies as st


def samples(n, m, d, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d)) + shift


def assert_same_result(got, want):
    # The statistics are differences of means of kernel values in [0, 1]: their
    # round-off is absolute, ~1e-16 per term.
    np.testing.assert_allclose(got.null_distribution, want.null_distribution, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got.statistics, want.statistics, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got.thresholds, want.thresholds, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got.bandwidths, want.bandwidths, rtol=1e-12)
    np.testing.assert_array_equal(got.pvalues, want.pvalues)
    assert got.level == want.level
    assert got.reject == want.reject
    np.testing.assert_array_equal(got.rejects, want.rejects)


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(2, 70),
    m=st.integers(2, 70),
    d=st.integers(1, 40),
    kernels=st.sampled_from([("gaussian", "laplace"), "imq", ("laplace", "imq", "gaussian")]),
    n_bandwidths=st.integers(2, 6),
    shift=st.sampled_from([0.0, 0.3, 1.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_matches_the_dense_reference(n, m, d, kernels, n_bandwidths, shift, seed):
    x, y = samples(n, m, d, seed, shift)
    kw = dict(kernels=kernels, n_bandwidths=n_bandwidths, n_permutations=60, seed=seed)
    got, want = dv.mmd_agg_test(x, y, **kw), reference.mmd_agg_test(x, y, **kw)
    assert_same_result(got, want)
    assert got.kernels == ((kernels,) if isinstance(kernels, str) else kernels)
    assert got.statistics.shape == got.pvalues.shape == (len(got.kernels), n_bandwidths)
    assert got.null_distribution.shape == (len(got.kernels), n_bandwidths, 120)


@pytest.mark.parametrize("d, offset", [(3, 0.0), (64, 1e3)])
def test_statistics_are_the_unbiased_mmd_of_each_kernel(d, offset):
    # d = 64 far from the origin: the pair engine's Gram path, with its exact re-check.
    x, y = samples(150, 170, d, 1, 0.2)
    x, y = x + offset, y + offset
    res = dv.mmd_agg_test(x, y, n_bandwidths=4, n_permutations=20, seed=0)
    for i, kernel in enumerate(res.kernels):
        for j, h in enumerate(res.bandwidths[i]):
            want = dv.mmd(x, y, kernel=kernel, bandwidth=h)
            assert res.statistics[i, j] == pytest.approx(want, rel=1e-9, abs=1e-12)
    # The collection spans half the 5% quantile of the pooled distances to twice the
    # largest, geometrically.
    z = np.concatenate([x, y]) - offset
    dist = np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(-1))[np.triu_indices(len(z), 1)]
    want = np.geomspace(np.quantile(dist, 0.05) / 2, 2 * dist.max(), 4)
    np.testing.assert_allclose(res.bandwidths[0], want, rtol=1e-9)
    np.testing.assert_array_equal(res.bandwidths[0], res.bandwidths[1])


def test_given_bandwidths_one_collection_or_one_per_kernel():
    x, y = samples(40, 50, 2, 3, 0.5)
    one = dv.mmd_agg_test(x, y, bandwidths=[0.3, 1.0, 3.0], n_permutations=50, seed=1)
    per = dv.mmd_agg_test(x, y, bandwidths=[[0.3, 1.0, 3.0], [0.3, 1.0, 3.0]], n_permutations=50, seed=1)
    assert_same_result(one, per)
    assert_same_result(
        per, reference.mmd_agg_test(x, y, bandwidths=[[0.3, 1.0, 3.0], [0.3, 1.0, 3.0]], n_permutations=50, seed=1)
    )
    np.testing.assert_array_equal(one.bandwidths, [[0.3, 1.0, 3.0]] * 2)
    # Scaled data with scaled bandwidths: the same test.
    big = dv.mmd_agg_test(1e200 * x, 1e200 * y, bandwidths=[3e199, 1e200, 3e200], n_permutations=50, seed=1)
    np.testing.assert_allclose(big.statistics, one.statistics, rtol=1e-12, atol=1e-15)
    assert big.reject == one.reject


def test_same_result_for_any_number_of_threads():
    x, y = samples(300, 260, 5, 4, 0.1)
    results = []
    for n in (1, 2, 3):
        with dv.threads(n):
            results.append(dv.mmd_agg_test(x, y, n_permutations=100, seed=7))
    for r in results[1:]:
        np.testing.assert_array_equal(r.null_distribution, results[0].null_distribution)
        assert r.level == results[0].level


def test_rejection_rate_under_the_null_is_alpha():
    # 400 null replications: the rejection rate's standard deviation is 0.011 at 0.05. With
    # few permutations the thresholds are coarse order statistics and the test is
    # conservative (0.02 at 100); 500 resolve the corrected level.
    rejects = [dv.mmd_agg_test(*samples(40, 50, 2, 1000 + s), n_permutations=500, seed=s).reject for s in range(400)]
    assert 0.03 <= np.mean(rejects) <= 0.07


def wiggly(rng, n, freq=6, amp=0.9):
    """Draws of the density 1 + amp sin(2 pi freq u) on [0, 1] (by rejection): a
    difference from the uniform at the scale 1 / freq, below the median distance."""
    out = np.empty(0)
    while out.size < n:
        u = rng.uniform(size=2 * n)
        keep = rng.uniform(size=2 * n) * (1 + amp) < 1 + amp * np.sin(2 * np.pi * freq * u)
        out = np.concatenate([out, u[keep]])
    return out[:n, None]


def paired_power(draw, reps, n_permutations):
    """Per replication: (mmd_agg_test rejects, median-bandwidth mmd_test rejects)."""
    out = []
    for s in range(reps):
        x, y = draw(np.random.default_rng(s))
        agg = dv.mmd_agg_test(x, y, n_permutations=n_permutations, seed=s).reject
        med = dv.mmd_test(x, y, n_permutations=n_permutations - 1, seed=s).pvalue <= 0.05
        out.append((agg, med))
    return np.array(out, dtype=float)


def test_more_power_than_the_median_bandwidth_at_a_small_scale():
    power = paired_power(lambda r: (r.uniform(size=(150, 1)), wiggly(r, 150)), 100, 200)
    gain = power[:, 0] - power[:, 1]
    # About 0.7 against 0.1: the gain's standard error is below 0.06.
    assert gain.mean() > 0.3, power.mean(0)


def test_little_power_lost_against_the_median_bandwidth_on_a_mean_shift():
    power = paired_power(lambda r: (r.normal(size=(100, 2)), r.normal(size=(100, 2)) + [0.35, 0.0]), 150, 1000)
    loss = power[:, 1] - power[:, 0]
    # The median is the right scale here; aggregating costs at most 0.05 of power, up
    # to two standard errors of the paired estimate.
    assert loss.mean() <= 0.05 + 2 * loss.std(ddof=1) / np.sqrt(len(loss)), power.mean(0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(alpha=0.0), "alpha"),
        (dict(alpha=1.0), "alpha"),
        (dict(bandwidths=[]), "bandwidths is empty"),
        (dict(bandwidths=[1.0, -1.0]), "finite and positive"),
        (dict(bandwidths=[1.0, np.nan]), "finite and positive"),
        (dict(bandwidths=np.ones((3, 2))), "shape"),
        (dict(kernels="energy"), "energy kernel has none"),
        (dict(kernels=("gaussian", "cauchy")), "cauchy"),
        (dict(kernels=()), "non-empty"),
        (dict(kernels=("gaussian", "gaussian")), "twice"),
        (dict(n_bandwidths=1), "mmd_test"),
        (dict(n_permutations=0), "n_permutations"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    x, y = samples(20, 20, 2, 0)
    with pytest.raises(ValueError, match=match):
        dv.mmd_agg_test(x, y, **kwargs)


def test_bad_samples_are_named():
    x, y = samples(20, 20, 2, 0)
    with pytest.raises(ValueError, match="y"):
        dv.mmd_agg_test(x, y[:1])
    with pytest.raises(ValueError, match="dimension|features"):
        dv.mmd_agg_test(x, y[:, :1])
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="x"):
        dv.mmd_agg_test(bad, y)
    # Most points equal: the 5% quantile of the distances is 0.
    with pytest.raises(ValueError, match="identical points"):
        dv.mmd_agg_test(np.zeros((30, 2)), np.r_[np.zeros((29, 2)), np.ones((1, 2))])
