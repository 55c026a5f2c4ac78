"""Estimators against closed-form population values and independent implementations.

Tolerances are multiples of standard errors estimated from independent replications,
never fixed numbers picked to pass.
"""

import math

import divergent as dv
import numpy as np
import pytest
import scipy.stats

N = 4000
REPS = 30


def gaussian_mmd2(delta, s, h, d):
    """Population MMD^2, Gaussian kernel of width h, between N(mu1, s^2 I) and N(mu2, s^2 I).

    X - X' ~ N(0, 2 s^2 I) and X - Y ~ N(delta, 2 s^2 I), and
    E exp(-|Z|^2 / (2 h^2)) = (h^2 / (h^2 + 2 s^2))^(d/2) exp(-|mu|^2 / (2 (h^2 + 2 s^2))).
    """
    c = (h * h / (h * h + 2 * s * s)) ** (d / 2)
    return 2 * c * (1 - math.exp(-float(delta @ delta) / (2 * (h * h + 2 * s * s)))), c


def replicate(f, reps=REPS, seed=0):
    rng = np.random.default_rng(seed)
    return np.array([f(rng) for _ in range(reps)])


def within(estimates, truth, what):
    """The first replicate within 4 SE of the truth, and the mean within 4 SE / sqrt(R)."""
    se = estimates.std(ddof=1)
    assert abs(estimates[0] - truth) <= 4 * se, (what, estimates[0], truth, se)
    assert abs(estimates.mean() - truth) <= 4 * se / math.sqrt(len(estimates)), (
        what,
        estimates.mean(),
        truth,
        se,
    )


@pytest.mark.parametrize("d", [1, 3])
def test_gaussian_mmd_unbiased_and_biased(d):
    s, h = 1.0, 1.3
    delta = np.zeros(d)
    delta[0] = 0.4
    truth, c = gaussian_mmd2(delta, s, h, d)

    def draw(rng):
        x = rng.normal(0, s, size=(N, d))
        y = rng.normal(0, s, size=(N, d)) + delta
        return dv.mmd(x, y, bandwidth=h), dv.mmd(x, y, bandwidth=h, estimator="biased")

    est = replicate(draw, seed=d)
    within(est[:, 0], truth, "unbiased")
    # V-statistic: E = truth + (k(0) - E k(X, X')) / n + (k(0) - E k(Y, Y')) / m.
    within(est[:, 1], truth + 2 * (1 - c) / N, "biased")
    # The bias itself (1.6e-4 at d = 1) is far below those tolerances; the difference
    # V - U = (k(0) - mean_{i != j} k(x_i, x_j)) / n + (the same for y) has a standard
    # error of ~1e-6 and tells the estimators apart.
    within(est[:, 1] - est[:, 0], 2 * (1 - c) / N, "biased - unbiased")


def test_gaussian_mmd_null_is_centred_at_zero():
    def draw(rng):
        return dv.mmd(rng.normal(size=(N, 2)), rng.normal(size=(N, 2)), bandwidth=1.0)

    within(replicate(draw, seed=7), 0.0, "null")


def test_linear_mmd_is_unbiased():
    delta = np.array([0.8, 0.0])
    truth, _ = gaussian_mmd2(delta, 1.0, 1.0, 2)

    def draw(rng):
        return dv.mmd(rng.normal(size=(N, 2)), rng.normal(size=(N, 2)) + delta, bandwidth=1.0, estimator="linear")

    within(replicate(draw, reps=60, seed=11), truth, "linear")


def test_energy_distance_closed_form_1d():
    """N(0, 1) vs N(D, 1): E|X - Y| = 2 sigma phi(D/sigma) + D (2 Phi(D/sigma) - 1), sigma = sqrt 2."""
    D = 0.5
    sig = math.sqrt(2.0)
    exy = 2 * sig * scipy.stats.norm.pdf(D / sig) + D * (2 * scipy.stats.norm.cdf(D / sig) - 1)
    exx = 2 / math.sqrt(math.pi)
    truth = 2 * exy - 2 * exx

    def draw(rng):
        # The unbiased (U-statistic) form has expectation exactly `truth`.
        return dv.mmd(rng.normal(size=N), rng.normal(size=N) + D, kernel="energy")

    within(replicate(draw, seed=3), truth, "energy")


@pytest.mark.parametrize("shape", [(50, 40, 1), (300, 200, 3), (1000, 1200, 8)])
def test_energy_distance_equals_dcor(shape, rng):
    dcor = pytest.importorskip("dcor")
    n, m, d = shape
    x = rng.normal(size=(n, d))
    y = rng.standard_t(3, size=(m, d)) + 0.2
    got = dv.energy_distance(x, y)
    want = dcor.energy_distance(x, y)
    assert got == pytest.approx(want, rel=1e-10, abs=0)


def test_energy_distance_equals_scipy_in_1d(rng):
    # scipy.stats.energy_distance returns the square root, computed from the CDFs.
    u, v = rng.exponential(size=700), rng.normal(1, 1, size=900)
    assert dv.energy_distance(u, v) == pytest.approx(scipy.stats.energy_distance(u, v) ** 2, rel=1e-10)


def test_median_bandwidth_known_value():
    # Four corners of the unit square: distances 1, 1, 1, 1, sqrt 2, sqrt 2 -> median 1.
    square = np.array([[0.0, 0], [0, 1], [1, 0], [1, 1]])
    assert dv.median_bandwidth(square) == 1.0
    # Two points per side of 0 on a line: pooled median of |x_i - x_j|.
    assert dv.median_bandwidth([0.0, 1.0], [3.0]) == 2.0


def test_mmd_of_identical_samples():
    x = np.random.default_rng(0).normal(size=(100, 3))
    assert dv.mmd(x, x, estimator="biased") == pytest.approx(0.0, abs=1e-15)
    assert dv.energy_distance(x, x) == pytest.approx(0.0, abs=1e-13)
