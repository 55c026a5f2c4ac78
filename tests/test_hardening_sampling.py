"""Targets, samplers and diagnostics on bad or extreme input: non-real dtypes refused
with the argument named, non-finite log-densities refused, values far outside the float
range rescaled."""

import warnings

import divergent as dv
import numpy as np
import pytest
from divergent import diagnostics
from divergent.targets import Banana, Custom, Funnel, Gaussian

G3 = Gaussian([0.0, 0.0, 0.0], 1.0)


@pytest.mark.parametrize("bad", [np.array([1j, 0, 0]), np.array(["1", "0", "0"]), np.array([1, 0, 0], dtype=object)])
def test_target_points_must_be_real_numbers(bad):
    with pytest.raises(TypeError, match="x "):
        G3.logp_and_grad(bad)


def test_target_points_must_be_finite():
    with pytest.raises(ValueError, match="x contains NaN"):
        G3.logp([np.nan, 0, 0])


@pytest.mark.parametrize(
    "target, point", [(Funnel(), np.full(10, 1e200)), (Banana(), [1e200, 1e200]), (G3, [1e200, 0, 0])]
)
def test_builtin_targets_refuse_points_beyond_float64(target, point):
    with pytest.raises(ValueError, match="not representable in float64 at point 0"):
        target.logp(point)


def test_far_but_representable_points_still_evaluate():
    assert G3.logp([1e150, 0, 0]) == pytest.approx(-0.5e300, rel=1e-12)


def test_custom_target_results_are_checked():
    with pytest.raises(ValueError, match="custom target's logp_and_grad returned NaN"):
        Custom(lambda x: (np.full(len(x), np.nan), -x), 2).logp([0.0, 0.0])
    with pytest.raises(TypeError, match="custom target's logp"):
        Custom(lambda x: ((-(x**2)).sum(1).astype(str), -x), 2).logp([0.0, 0.0])
    with pytest.raises(TypeError, match="custom target's grad"):
        Custom(lambda x: (-(x**2).sum(1), -x + 0j), 2).logp([0.0, 0.0])
    # log p = -inf outside the support is a valid answer.
    half = Custom(lambda x: (np.where(x[:, 0] > 0, 0.0, -np.inf), np.zeros_like(x)), 1)
    assert half.logp([-1.0]) == -np.inf


@pytest.mark.parametrize("cov", [np.array(["1", "1"]), np.array([1 + 0j, 1])])
def test_gaussian_target_covariance_must_be_real(cov):
    with pytest.raises(TypeError, match="cov"):
        Gaussian([0.0, 0.0], cov)


@pytest.mark.parametrize("x0", [np.zeros(2) + 1j, ["a", "b"]])
def test_langevin_x0_must_be_real(x0):
    with pytest.raises(TypeError, match="x0"):
        dv.langevin(Gaussian([0.0, 0.0], 1.0), n_chains=2, n_steps=5, step_size=0.1, x0=x0)


@pytest.mark.parametrize("fn", [diagnostics.ess, diagnostics.rhat, diagnostics.mcse])
@pytest.mark.parametrize("dtype", [str, object, complex])
def test_diagnostics_refuse_non_real_draws(fn, dtype):
    draws = np.random.default_rng(0).normal(size=(4, 100)).astype(dtype)
    with pytest.raises(TypeError, match="draws"):
        fn(draws)


def test_rhat_of_constant_draws_is_nan_with_a_warning():
    with pytest.warns(RuntimeWarning, match="same value in every draw"):
        assert np.isnan(diagnostics.rhat(np.ones((4, 100))))
    # Chains each constant but at different values have not mixed: a huge R-hat (inf,
    # or huge where the within-chain variance rounds to a tiny number), no warning.
    stuck = np.repeat(np.arange(4.0)[:, None], 100, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert diagnostics.rhat(stuck) > 1e6


def test_diagnostics_of_huge_draws():
    draws = np.random.default_rng(1).normal(size=(4, 200, 2))
    s = 2.0**700
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.allclose(diagnostics.mcse(draws * s) / s, diagnostics.mcse(draws), rtol=1e-12)
        assert np.allclose(diagnostics.ess(draws * s, method="mean"), diagnostics.ess(draws, method="mean"), rtol=1e-12)
        assert np.allclose(diagnostics.rhat(draws * s), diagnostics.rhat(draws), rtol=1e-12)


def test_svgd_score_must_be_real():
    x = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(TypeError, match="score's result"):
        dv.svgd(lambda p: -p + 0j, x, n_steps=2)


def test_svgd_overflowing_update_is_an_error_not_inf():
    x = np.random.default_rng(0).normal(size=(20, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="left the float64 range at step 0.*reduce step_size"):
            dv.svgd(lambda p: -p * 1e300, x, n_steps=1, step_size=1e10)
