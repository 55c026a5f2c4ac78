"""Samplers against closed forms, with tolerances from the package's own ESS.

A Monte Carlo estimate of E[f(X)] from correlated chains has standard error
sd(f) / sqrt(ESS_mean(f)) (``divergent.diagnostics.mcse``); each check requires the
estimate within 4 of them; where one test makes m such comparisons at once the bound is
raised to the Bonferroni value for a family-wise false-alarm rate of 1e-3, when that is
larger. The seeds are fixed, so the tests are deterministic; a biased sampler (wrong
acceptance ratio, wrong noise scale, wrong splitting) misses by many standard errors.
"""

import math

import divergent as dv
import numpy as np


def mc_se(values):
    """Monte Carlo standard error of the mean of values (n_chains, n_draws)."""
    return dv.diagnostics.mcse(values)


def bound(m):
    """max(4, z) with P(|Z| > z) = 1e-3 / m: m simultaneous comparisons."""
    from divergent._special import norm_ppf

    return max(4.0, float(norm_ppf(1 - 1e-3 / (2 * m))))


def assert_mean_within(values, truth, k=4.0):
    se = mc_se(values)
    assert abs(values.mean() - truth) <= k * se, (values.mean(), truth, se)


def dense_cov(d, seed=3):
    a = np.random.default_rng(seed).standard_normal((d, d))
    return a @ a.T / d + 0.3 * np.eye(d)


def test_mala_on_a_dense_gaussian_in_10d():
    d = 10
    mean = np.linspace(-1.0, 1.0, d)
    cov = dense_cov(d)
    trace = dv.langevin(
        dv.targets.Gaussian(mean, cov),
        n_chains=16,
        n_steps=4000,
        step_size=0.05,
        method="mala",
        burn_in=1000,
        seed=2024,
        adapt_step_size=True,
    )
    x = trace.samples
    assert np.all((trace.acceptance_rate > 0.4) & (trace.acceptance_rate < 0.8)), trace.acceptance_rate
    assert np.all(trace.rhat() < 1.05)
    k = bound(d * (d + 1) // 2)  # 55 covariance entries: 4.3 standard errors
    for i in range(d):
        assert_mean_within(x[..., i], mean[i])
        for j in range(i, d):
            assert_mean_within((x[..., i] - mean[i]) * (x[..., j] - mean[j]), cov[i, j], k)


def test_ula_has_its_known_step_size_bias():
    # For N(0, s^2), ULA's chain is AR(1) with stationary variance s^2 / (1 - h / (2 s^2)).
    s, h = 1.5, 1.0
    trace = dv.langevin(
        dv.targets.Gaussian([0.0], s * s), n_chains=32, n_steps=5000, step_size=h, method="ula", burn_in=200, seed=7
    )
    x2 = trace.samples[..., 0] ** 2
    biased = s * s / (1 - h / (2 * s * s))
    assert_mean_within(x2, biased)
    assert abs(x2.mean() - s * s) > 10 * mc_se(x2)  # the bias is resolved, not hidden in noise
    assert np.all(trace.acceptance_rate == 1.0)


def test_underdamped_on_a_gaussian():
    mean, cov = np.array([2.0, -1.0, 0.0]), dense_cov(3, seed=5)
    trace = dv.langevin(
        dv.targets.Gaussian(mean, cov),
        n_chains=16,
        n_steps=5000,
        step_size=0.3,
        method="underdamped",
        friction=1.0,
        burn_in=500,
        seed=11,
    )
    x = trace.samples
    for i in range(3):
        assert_mean_within(x[..., i], mean[i])
        assert_mean_within((x[..., i] - mean[i]) ** 2, cov[i, i])


def test_gaussian_mixture_mode_weights():
    # Overlapping modes, so each chain crosses between them; P(X > 0) = sum_k w_k Phi(mu_k / s_k).
    w, mu, s = np.array([0.3, 0.7]), np.array([-1.5, 1.5]), 1.0
    target = dv.targets.GaussianMixture(w, mu[:, None], np.full(2, s * s))
    truth = sum(wk * 0.5 * math.erfc(-mk / (s * math.sqrt(2))) for wk, mk in zip(w, mu, strict=True))
    for method in ("mala", "underdamped"):
        trace = dv.langevin(target, n_chains=32, n_steps=5000, step_size=0.4, method=method, burn_in=500, seed=3)
        assert_mean_within((trace.samples[..., 0] > 0).astype(float), truth)


def test_banana_and_funnel_means():
    # Both have mean zero; MALA with a small step on a mild banana and a shallow funnel.
    for target in (dv.targets.Banana(dim=3, b=0.1, sigma=2.0), dv.targets.Funnel(dim=3, scale=1.0)):
        trace = dv.langevin(target, n_chains=32, n_steps=4000, step_size=0.1, method="mala", burn_in=500, seed=13)
        for i in range(target.dim):
            assert_mean_within(trace.samples[..., i], 0.0)


def test_svgd_on_a_gaussian_from_a_poor_start():
    mean, cov = np.array([1.0, -2.0]), np.array([[1.0, 0.6], [0.6, 2.0]])
    x0 = np.random.default_rng(0).normal(size=(300, 2)) * 0.1 + [5.0, 5.0]
    x = dv.svgd(dv.targets.Gaussian(mean, cov), x0, n_steps=2000, step_size=0.2)
    # SVGD's fixed point with n particles matches the mean closely and the covariance up to
    # a finite-n shrinkage of a few percent (Liu & Wang 2016, their Fig. 2).
    np.testing.assert_allclose(x.mean(axis=0), mean, atol=0.05)
    np.testing.assert_allclose(np.cov(x.T), cov, rtol=0.15, atol=0.1)
