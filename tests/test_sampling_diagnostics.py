"""ESS, R-hat and MCSE against ArviZ, and Trace.to_arviz."""

import warnings

import divergent as dv
import numpy as np
import pytest
from divergent.diagnostics import ess, mcse, rhat
from hypothesis import given, settings
from hypothesis import strategies as st

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # ArviZ 0.2x announces its refactor at import
    az = pytest.importorskip("arviz")


def chains(rng, n_chains, n_draws, rho, shift):
    """AR(1) chains with autocorrelation rho, chain c shifted by c * shift."""
    x = np.empty((n_chains, n_draws))
    x[:, 0] = rng.standard_normal(n_chains)
    for t in range(1, n_draws):
        x[:, t] = rho * x[:, t - 1] + np.sqrt(1 - rho * rho) * rng.standard_normal(n_chains)
    return x + shift * np.arange(n_chains)[:, None]


@settings(max_examples=40)
@given(
    n_chains=st.integers(2, 6),
    n_draws=st.integers(4, 700),
    rho=st.floats(-0.5, 0.99),
    shift=st.sampled_from([0.0, 0.1, 2.0]),
    ties=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_agrees_with_arviz(n_chains, n_draws, rho, shift, ties, seed):
    x = chains(np.random.default_rng(seed), n_chains, n_draws, rho, shift)
    if ties:
        x = np.round(x, 1)
    np.testing.assert_allclose(rhat(x), az.rhat(x), rtol=1e-6)
    np.testing.assert_allclose(ess(x), az.ess(x, method="bulk"), rtol=1e-6)
    np.testing.assert_allclose(ess(x, method="mean"), az.ess(x, method="mean"), rtol=1e-6)
    np.testing.assert_allclose(mcse(x), az.mcse(x, method="mean"), rtol=1e-6)


def test_single_chain_ess_agrees_with_arviz():
    x = chains(np.random.default_rng(0), 1, 500, 0.7, 0.0)
    np.testing.assert_allclose(ess(x), az.ess(x), rtol=1e-6)
    assert np.isfinite(rhat(x))  # split halves of one chain


def test_trace_diagnostics_and_to_arviz():
    t = dv.targets.Gaussian([0.0, 1.0, 2.0], 1.0)
    trace = dv.langevin(t, n_chains=4, n_steps=300, step_size=0.5, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        idata = trace.to_arviz()
        np.testing.assert_allclose(trace.ess(), az.ess(idata)["x"].values, rtol=1e-6)
        np.testing.assert_allclose(trace.rhat(), az.rhat(idata)["x"].values, rtol=1e-6)
        np.testing.assert_allclose(trace.mcse(), az.mcse(idata)["x"].values, rtol=1e-6)
    assert idata.posterior["x"].shape == (4, 300, 3)
    np.testing.assert_array_equal(idata.sample_stats["lp"].values, trace.logp)


def test_white_noise_has_full_ess_and_unit_rhat():
    x = np.random.default_rng(5).standard_normal((4, 2000))
    assert 0.9 * x.size < ess(x) < 1.1 * x.size
    assert abs(rhat(x) - 1) < 0.01
    assert rhat(x + np.arange(4)[:, None]) > 1.5  # chains stuck at different levels


def test_bad_draws():
    with pytest.raises(ValueError, match="at least 4 draws"):
        ess(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        rhat(np.zeros(10))
    with pytest.raises(ValueError, match="NaN"):
        mcse(np.full((2, 10), np.nan))
    with pytest.raises(ValueError, match="method"):
        ess(np.zeros((2, 10)), method="tail")
