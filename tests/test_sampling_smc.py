"""Tempered SMC: log-evidence of targets with known normalising constants, moments,
thread independence, bad input."""

import math

import divergent as dv
import numpy as np
import pytest
from divergent.reference import sampling as ref
from divergent.sampling import smc
from hypothesis import given, settings
from hypothesis import strategies as st
from test_sampling_reference import KINDS, dense_cov, target_pair


def _mixture(d=10, scale=3.0):
    means = np.zeros((4, d))
    means[0, 0], means[1, 0], means[2, 1], means[3, 1] = scale, -scale, scale, -scale
    return dv.targets.GaussianMixture(np.full(4, 0.25), means, np.stack([0.5 * np.eye(d)] * 4)), means


def _z_check(estimates, log_z):
    # The estimates over seeds are independent: their mean is within 4 standard errors
    # of log Z (the bias of log Z-hat, half its variance, is far below that here).
    z = np.asarray(estimates)
    se = z.std(ddof=1) / math.sqrt(len(z))
    assert abs(z.mean() - log_z) < 4 * se + 1e-3, (z.mean(), se)


def test_log_evidence_of_a_normalised_four_mode_mixture():
    target, means = _mixture()
    runs = [smc(target, n_particles=4096, seed=s) for s in range(8)]
    _z_check([r.log_evidence for r in runs], 0.0)
    assert max(abs(r.log_evidence) for r in runs) < 0.15
    r = runs[0]
    assert r.temperatures[0] == 0.0 and r.temperatures[-1] == 1.0
    assert np.all(np.diff(r.temperatures) > 0)
    assert r.acceptance_rate.shape == r.step_size.shape == (r.n_temperatures,)
    # Every mode holds about a quarter of the particles.
    mode = np.argmin(((r.samples[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert np.all(np.abs(np.bincount(mode, minlength=4) / len(mode) - 0.25) < 0.08)


def test_hmc_moves_give_the_log_evidence_and_their_acceptance():
    target, _ = _mixture()
    runs = [smc(target, n_particles=4096, kernel="hmc", seed=s) for s in range(8)]
    _z_check([r.log_evidence for r in runs], 0.0)
    assert max(abs(r.log_evidence) for r in runs) < 0.15
    # The step adapts after every move towards 0.65.
    assert all(0.4 < a < 0.9 for r in runs for a in r.acceptance_rate[1:])


def test_log_evidence_of_an_unnormalised_custom_target():
    # exp(c) N(mu, S): log Z = c.
    c, mu = 3.7, np.array([1.0, -2.0, 0.5])
    cov = np.diag([0.3, 2.0, 1.0])
    prec = np.linalg.inv(cov)

    def logp_and_grad(x):
        r = x - mu
        g = -r @ prec
        lp = c - 1.5 * math.log(2 * math.pi) - 0.5 * math.log(np.linalg.det(cov)) + 0.5 * np.einsum("ij,ij->i", r, g)
        return lp, g

    t = dv.targets.Custom(logp_and_grad, dim=3)
    runs = [smc(t, n_particles=2048, seed=s) for s in range(8)]
    _z_check([r.log_evidence for r in runs], c)
    x = np.concatenate([r.samples for r in runs])
    se = np.sqrt(np.diag(cov) / len(x)) * 3  # resampled particles are correlated
    np.testing.assert_array_less(np.abs(x.mean(0) - mu), 4 * se)


def test_a_reference_equal_to_the_target_takes_one_stage_and_is_exact():
    cov = np.array([[2.0, 0.5], [0.5, 1.0]])
    t = dv.targets.Gaussian([1.0, -1.0], cov)
    r = smc(t, n_particles=256, reference=dv.targets.Gaussian([1.0, -1.0], cov), seed=0)
    assert list(r.temperatures) == [0.0, 1.0]
    assert abs(r.log_evidence) < 1e-12
    assert abs(r.ess - 256) < 1e-9


def test_same_bits_for_any_thread_count():
    target, _ = _mixture(d=4)
    out = []
    for n in (1, 2, 3):
        with dv.threads(n):
            out.append(smc(target, n_particles=500, seed=7))
    for r in out[1:]:
        np.testing.assert_array_equal(r.samples, out[0].samples)
        assert r.log_evidence == out[0].log_evidence
        np.testing.assert_array_equal(r.temperatures, out[0].temperatures)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_particles": 1}, ValueError, "n_particles"),
        ({"ess_threshold": 0.0}, ValueError, "ess_threshold"),
        ({"ess_threshold": 1.5}, ValueError, "ess_threshold"),
        ({"n_mcmc_steps": -1}, ValueError, "n_mcmc_steps"),
        ({"kernel": "rwm"}, ValueError, "kernel"),
        ({"reference": dv.targets.Gaussian(np.zeros(3), np.eye(3))}, ValueError, "dimension 3"),
        ({"reference": "normal"}, TypeError, "reference must be"),
    ],
)
def test_bad_input_names_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        smc(dv.targets.Gaussian(np.zeros(2), np.eye(2)), **{"n_particles": 64, **kwargs})


def test_a_target_not_finite_at_the_reference_draws_is_an_error():
    def nan(x):
        return np.full(len(x), np.nan), np.zeros_like(x)

    def zero(x):
        return np.full(len(x), -np.inf), np.zeros_like(x)

    with pytest.raises(ValueError, match="step 0"):
        smc(dv.targets.Custom(nan, dim=2), n_particles=16)
    with pytest.raises(ValueError, match="-inf at every draw"):
        smc(dv.targets.Custom(zero, dim=2), n_particles=16)


@settings(max_examples=15, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    n_particles=st.integers(2, 300),
    d=st.integers(1, 5),
    n_mcmc_steps=st.integers(0, 4),
    ess_threshold=st.floats(0.2, 0.95),
    gaussian_reference=st.booleans(),
    kernel=st.sampled_from(["mala", "hmc"]),
    seed=st.integers(0, 2**64 - 1),
)
def test_smc_replays_the_reference(kind, n_particles, d, n_mcmc_steps, ess_threshold, gaussian_reference, kernel, seed):
    # The reference follows the core's streams (particle slot i's normals and uniforms,
    # index n_particles for the resampling) and its arithmetic: the same run to round-off.
    t, r = target_pair(kind, d)
    reference = dv.targets.Gaussian(np.full(t.dim, 0.3), dense_cov(t.dim, 2) * 2) if gaussian_reference else None
    kw = dict(
        n_particles=n_particles, n_mcmc_steps=n_mcmc_steps, ess_threshold=ess_threshold, reference=reference, seed=seed
    )
    a = smc(t, kernel=kernel, **kw)
    b = ref.smc(r, kernel=kernel, **kw)
    # HMC's step size adapts after every move, which feeds round-off back through five
    # leapfrog steps each time: on the mixture the particles agree to ~1e-9, not 1e-11.
    tol = dict(rtol=1e-9, atol=1e-11) if kernel == "mala" else dict(rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(a.temperatures, b.temperatures, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(a.samples, b.samples, **tol)
    np.testing.assert_allclose(a.log_weights, b.log_weights, **tol)
    np.testing.assert_allclose(a.log_evidence, b.log_evidence, rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(a.acceptance_rate, b.acceptance_rate, **tol)
    np.testing.assert_allclose(a.step_size, b.step_size, rtol=tol["rtol"])
