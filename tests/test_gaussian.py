"""divergent.gaussian against independent computations, identities and bad input."""

import divergent as dv
import numpy as np
import pytest
import scipy.linalg
import scipy.stats

G = dv.gaussian


def spd(rng, d, scale=1.0):
    a = rng.normal(size=(d, d))
    return scale * (a @ a.T / d + 0.5 * np.eye(d))


def test_kl_against_monte_carlo(rng):
    d = 3
    m0, m1 = rng.normal(size=d), rng.normal(size=d)
    S0, S1 = spd(rng, d), spd(rng, d, 2.0)
    x = rng.multivariate_normal(m0, S0, size=200_000)
    log_ratio = scipy.stats.multivariate_normal(m0, S0).logpdf(x) - scipy.stats.multivariate_normal(m1, S1).logpdf(x)
    se = log_ratio.std(ddof=1) / np.sqrt(len(x))
    assert abs(G.kl(m0, S0, m1, S1) - log_ratio.mean()) <= 4 * se


def test_wasserstein_commuting_closed_form(rng):
    a, b = rng.random(4) + 0.1, rng.random(4) + 0.1
    m0, m1 = rng.normal(size=4), rng.normal(size=4)
    want = ((m0 - m1) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert G.wasserstein2(m0, a, m1, b, squared=True) == pytest.approx(want, rel=1e-12)
    assert G.wasserstein2(m0, np.diag(a), m1, np.diag(b)) == pytest.approx(np.sqrt(want), rel=1e-12)


def test_wasserstein_general_against_sqrtm(rng):
    S0, S1 = spd(rng, 5), spd(rng, 5, 3.0)
    r0 = scipy.linalg.sqrtm(S0).real
    want = np.trace(S0 + S1 - 2 * scipy.linalg.sqrtm(r0 @ S1 @ r0).real)
    assert G.wasserstein2(np.zeros(5), S0, np.zeros(5), S1, squared=True) == pytest.approx(want, rel=1e-9)
    assert G.wasserstein2(np.zeros(5), S0, np.zeros(5), S0) == pytest.approx(0.0, abs=1e-6)


def test_renyi_limits_and_identities(rng):
    d = 3
    m0, m1 = rng.normal(size=d), rng.normal(size=d)
    S0, S1 = spd(rng, d), spd(rng, d)
    kl = G.kl(m0, S0, m1, S1)
    assert G.renyi(m0, S0, m1, S1, 1 - 1e-7) == pytest.approx(kl, rel=1e-5)
    assert G.renyi(m0, S0, m1, S1, 1 + 1e-7) == pytest.approx(kl, rel=1e-5)
    b = G.bhattacharyya(m0, S0, m1, S1)
    assert G.renyi(m0, S0, m1, S1, 0.5) == pytest.approx(2 * b, rel=1e-12)
    assert G.hellinger(m0, S0, m1, S1) ** 2 == pytest.approx(1 - np.exp(-b), rel=1e-12)
    # Renyi against numerical integration in 1-D.
    f = lambda x: scipy.stats.norm.pdf(x, 0, 1) ** 0.3 * scipy.stats.norm.pdf(x, 1, 1.5) ** 0.7  # noqa: E731
    integral = scipy.integrate.quad(f, -30, 30)[0]
    assert G.renyi(0, 1, 1, 1.5**2, 0.3) == pytest.approx(np.log(integral) / (0.3 - 1), rel=1e-9)


def test_renyi_beyond_validity_is_infinite():
    # alpha S1 + (1 - alpha) S0 = 3 * 0.2 - 2 * 1 < 0: the integral diverges.
    assert G.renyi(0, 1, 0, 0.2, 3.0) == np.inf
    assert np.isfinite(G.renyi(0, 1, 0, 0.9, 3.0))


def test_entropy_and_mutual_information(rng):
    S = spd(rng, 4)
    assert G.entropy(S) == pytest.approx(scipy.stats.multivariate_normal(cov=S).entropy(), rel=1e-12)
    assert G.entropy(2.0) == pytest.approx(scipy.stats.norm(scale=np.sqrt(2)).entropy(), rel=1e-12)
    rho = 0.9
    assert G.mutual_information([[1, rho], [rho, 1]], 1) == pytest.approx(-0.5 * np.log(1 - rho**2), rel=1e-12)
    mi = G.mutual_information(S, 2)
    assert mi == pytest.approx(G.entropy(S[:2, :2]) + G.entropy(S[2:, 2:]) - G.entropy(S), rel=1e-12)


def test_mmd_closed_form_and_against_samples():
    # Isotropic case: 2 (h^2 / (h^2 + 2 s^2))^(d/2) (1 - exp(-|D|^2 / (2 (h^2 + 2 s^2)))).
    h, s, d = 1.3, 0.8, 2
    delta = np.array([0.4, -0.2])
    c = (h * h / (h * h + 2 * s * s)) ** (d / 2)
    want = 2 * c * (1 - np.exp(-(delta @ delta) / (2 * (h * h + 2 * s * s))))
    assert G.mmd(np.zeros(2), s * s, delta, s * s, h) == pytest.approx(want, rel=1e-12)
    # The unbiased sample estimate is centred on it (10 replications, 4 SE of the mean).
    rng = np.random.default_rng(0)
    S0, S1 = np.array([[1.0, 0.5], [0.5, 2.0]]), np.diag([0.5, 1.5])
    truth = G.mmd([0, 0], S0, [0.5, 0], S1, 1.0)
    est = [
        dv.mmd(rng.multivariate_normal([0, 0], S0, 3000), rng.multivariate_normal([0.5, 0], S1, 3000), bandwidth=1.0)
        for _ in range(10)
    ]
    assert abs(np.mean(est) - truth) <= 4 * np.std(est, ddof=1) / np.sqrt(10)


def test_cauchy_schwarz_known_value():
    # Equal variances s^2: D_CS = |m0 - m1|^2 / (2 s^2).
    assert G.cauchy_schwarz(0.0, 1.0, 2.0, 1.0) == pytest.approx(2.0, rel=1e-12)
    assert G.cauchy_schwarz([0, 0], 0.5, [1, 1], 0.5) == pytest.approx(2.0, rel=1e-12)
    assert G.cauchy_schwarz(0.0, 1.0, 0.0, 1.0) == pytest.approx(0.0, abs=1e-14)


def test_batches_broadcast(rng):
    means = rng.normal(size=(5, 3))
    S = spd(rng, 3)
    got = G.kl(means, S, np.zeros(3), np.eye(3))
    assert got.shape == (5,)
    np.testing.assert_allclose(got, [G.kl(m, S, np.zeros(3), np.eye(3)) for m in means], rtol=1e-13)
    covs = np.stack([spd(rng, 3) for _ in range(5)])
    w = G.wasserstein2(means, covs, np.zeros(3), S)
    np.testing.assert_allclose(
        w, [G.wasserstein2(m, c, np.zeros(3), S) for m, c in zip(means, covs, strict=True)], rtol=1e-12
    )


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: G.kl([0, 0], [[1, 2], [2, 1]], [0, 0], np.eye(2)), "S0 is not positive definite"),
        (lambda: G.kl([0, 0], np.eye(2), [0, 0], [[1, 0.5], [0.4, 1]]), "S1 is not symmetric"),
        (lambda: G.kl([0, 0], [1, -1], [0, 0], np.eye(2)), "S0 .*variances.* must be positive"),
        (lambda: G.kl([0, 0], np.eye(3), [0, 0], np.eye(2)), "S0 has shape"),
        (lambda: G.kl([0, 0], np.eye(2), [0, 0, 0], np.eye(3)), "dimensions 2 and 3"),
        (lambda: G.kl(np.zeros((2, 2)), np.eye(2), np.zeros((3, 2)), np.eye(2)), "do not broadcast"),
        (lambda: G.renyi(0, 1, 0, 1, 0.0), "alpha must be a positive"),
        (lambda: G.renyi(0, 1, 0, 1, 1.0), "use divergent.gaussian.kl"),
        (lambda: G.mutual_information(np.eye(3), 3), "dx must be an integer in \\(0, "),
        (lambda: G.mmd(0, 1, 0, 1, -1.0), "bandwidth"),
        (lambda: G.entropy([[1, 2], [2, 1]]), "not positive definite"),
        (lambda: G.kl([0, np.nan], np.eye(2), [0, 0], np.eye(2)), "m0 contains NaN"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_results_beyond_float64_are_named_errors():
    with pytest.raises(ValueError, match="kl is outside float64's range"):
        dv.gaussian.kl(0.0, 1e300, 0.0, 1e-300)
    with pytest.raises(ValueError, match="kl is outside float64's range"):
        dv.gaussian.kl(1e200, 1.0, -1e200, 1.0)
    with pytest.raises(ValueError, match="cauchy_schwarz is outside float64's range"):
        dv.gaussian.cauchy_schwarz(1e200, 1.0, -1e200, 1.0)
    # Bounded divergences reach their limits instead.
    assert dv.gaussian.hellinger(1e200, 1.0, -1e200, 1.0) == 1.0


def test_wasserstein2_is_rescaled_far_outside_the_float_range():
    rng = np.random.default_rng(3)
    m0, m1 = rng.normal(size=3), rng.normal(size=3)
    A, B = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    S0, S1 = A @ A.T + np.eye(3), B @ B.T + np.eye(3)
    base = dv.gaussian.wasserstein2(m0, S0, m1, S1)
    s = 2.0**700
    assert dv.gaussian.wasserstein2(m0 * s, S0 * 2.0**1000, m1 * s, S1 * 2.0**1000) == pytest.approx(
        np.hypot(np.linalg.norm(m0 - m1) * s, dv.gaussian.wasserstein2(m0, S0, m0, S1) * 2.0**500), rel=1e-12
    )
    assert dv.gaussian.wasserstein2(m0 * 2.0**-500, S0 * 2.0**-1000, m1 * 2.0**-500, S1 * 2.0**-1000) == pytest.approx(
        base * 2.0**-500, rel=1e-12
    )
    assert dv.gaussian.wasserstein2(1e200, 1.0, -1e200, 1.0) == pytest.approx(2e200, rel=1e-15)
    with pytest.raises(ValueError, match=r"wasserstein2 \(squared\) is outside"):
        dv.gaussian.wasserstein2(1e200, 1.0, -1e200, 1.0, squared=True)


@pytest.mark.parametrize(
    "bad, name",
    [
        (([], 1.0, [], 1.0), "m0 is empty"),
        ((np.array([1j]), 1.0, [0.0], 1.0), "m0 has complex"),
        (([0.0], np.array(["1"]), [0.0], 1.0), "S0 must be a numeric"),
    ],
)
def test_bad_parameters_name_the_argument(bad, name):
    with pytest.raises((ValueError, TypeError), match=name):
        dv.gaussian.kl(*bad)
