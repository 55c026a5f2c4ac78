"""Invalid sampler and target arguments raise clear errors that name the argument."""

import divergent as dv
import numpy as np
import pytest
from divergent.targets import Banana, Custom, Funnel, Gaussian, GaussianMixture

G = Gaussian([0.0, 0.0], [[1.0, 0.3], [0.3, 1.0]])


def run(target=G, **kw):
    args = dict(n_chains=3, n_steps=20, step_size=0.1, seed=0)
    args.update(kw)
    return dv.langevin(target, **args)


@pytest.mark.parametrize("step_size", [0.0, -0.1, np.inf, np.nan])
def test_step_size_must_be_positive(step_size):
    with pytest.raises(ValueError, match="step_size"):
        run(step_size=step_size)


def test_step_size_is_required():
    with pytest.raises(TypeError):
        dv.langevin(G, n_chains=2)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(n_chains=0), "n_chains"),
        (dict(n_steps=0), "n_steps"),
        (dict(thin=0), "thin"),
        (dict(thin=30), "thin"),
        (dict(burn_in=-1), "burn_in"),
        (dict(friction=0.0, method="underdamped"), "friction"),
        (dict(method="hmc"), "method"),
        (dict(adapt_step_size=True), "burn_in"),
        (dict(adapt_step_size=True, burn_in=5, method="ula"), "mala"),
        (dict(seed=-1), "seed"),
    ],
)
def test_bad_sampler_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        run(**kw)


@pytest.mark.parametrize("x0", [np.zeros(3), np.zeros((2, 2)), np.zeros((3, 3)), np.full((3, 2), np.nan)])
def test_x0_of_the_wrong_shape_or_not_finite(x0):
    with pytest.raises(ValueError, match="x0"):
        run(x0=x0)


def test_x0_broadcasts_one_point():
    trace = run(x0=[1.0, 2.0])
    assert trace.samples.shape == (3, 20, 2)


def test_target_must_be_a_target():
    with pytest.raises(TypeError, match="Custom"):
        dv.langevin(lambda x: x, n_chains=2, step_size=0.1)


@pytest.mark.parametrize(
    ("cov", "match"),
    [
        ([[1.0, 2.0], [2.0, 1.0]], "positive definite"),
        ([[1.0, 0.5], [0.0, 1.0]], "symmetric"),
        ([[1.0, np.nan], [np.nan, 1.0]], "NaN"),
        (np.eye(3), "shape"),
        ([0.0, 1.0], "positive definite"),
    ],
)
def test_covariance_must_be_spd(cov, match):
    with pytest.raises(ValueError, match=match):
        Gaussian([0.0, 0.0], cov)


def test_mixture_weights():
    means, covs = np.zeros((2, 1)), np.ones(2)
    with pytest.raises(ValueError, match="sum to 1"):
        GaussianMixture([0.5, 0.6], means, covs)
    with pytest.raises(ValueError, match="non-negative"):
        GaussianMixture([1.5, -0.5], means, covs)
    with pytest.raises(ValueError, match="means"):
        GaussianMixture([0.5, 0.5], np.zeros((3, 1)), covs)
    with pytest.raises(ValueError, match="covs"):
        GaussianMixture([0.5, 0.5], means, np.ones(3))
    # a zero weight is allowed and ignored
    m = GaussianMixture([1.0, 0.0], [[0.0], [5.0]], [1.0, 1.0])
    assert abs(m.logp([0.0]) - Gaussian([0.0], 1.0).logp([0.0])) < 1e-14


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Banana(dim=1), "dim"),
        (lambda: Banana(sigma=0.0), "sigma"),
        (lambda: Banana(b=np.nan), "b"),
        (lambda: Funnel(dim=1), "dim"),
        (lambda: Funnel(scale=-1.0), "scale"),
        (lambda: Custom(lambda x: x, dim=0), "dim"),
    ],
)
def test_bad_target_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_custom_not_callable():
    with pytest.raises(TypeError, match="callable"):
        Custom(3, dim=2)


def test_point_of_the_wrong_dimension():
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        G.logp(np.zeros(3))


def test_custom_returning_wrong_shapes_names_the_step():
    calls = []

    def bad(x):
        calls.append(1)
        lp, g = G.logp_and_grad(x)
        return (lp, g[:, :1]) if len(calls) > 4 else (lp, g)

    with pytest.raises(ValueError, match="at step 4.*expected"):
        run(Custom(bad, 2))
    with pytest.raises(ValueError, match="tuple"):
        run(Custom(lambda x: G.logp(x), 2))


def test_custom_returning_nan_names_the_chain_and_step():
    def bad(x):
        lp, g = G.logp_and_grad(x)
        bad.calls += 1
        if bad.calls == 6:
            lp[1] = np.nan
        return lp, g

    bad.calls = 0
    with pytest.raises(ValueError, match="chain 1 at step 5"):
        run(Custom(bad, 2))


def test_custom_exceptions_propagate():
    def boom(x):
        raise ZeroDivisionError("inside the user's target")

    with pytest.raises(ZeroDivisionError, match="user's target"):
        run(Custom(boom, 2))


def test_diverging_chain_is_an_error_not_nan():
    with pytest.raises(ValueError, match="reduce step_size"):
        run(Gaussian([0.0], 1.0), method="ula", step_size=5.0, n_steps=2000)


def test_mala_rejects_proposals_outside_the_support():
    # log p = -inf for x < 0: MALA must reject, never move there.
    def half(x):
        lp = np.where(x[:, 0] > 0, -0.5 * x[:, 0] ** 2, -np.inf)
        return lp, -x

    trace = run(Custom(half, 1), x0=np.ones((3, 1)), step_size=1.0, n_steps=500)
    assert np.all(trace.samples > 0)
    assert np.all(trace.acceptance_rate < 1)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(step_size=0.0), "step_size"),
        (dict(n_steps=-1), "n_steps"),
        (dict(bandwidth=-1.0), "bandwidth"),
        (dict(bandwidth="scott"), "bandwidth"),
    ],
)
def test_bad_svgd_arguments(kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        dv.svgd(G, np.random.default_rng(0).normal(size=(10, 2)), **kw)


def test_svgd_score_checks():
    x = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises(ValueError, match="shape"):
        dv.svgd(lambda p: p[:, :1], x, n_steps=2)
    with pytest.raises(ValueError, match="particle 0 at step 0"):
        dv.svgd(lambda p: np.full_like(p, np.nan), x, n_steps=2)
    with pytest.raises(ValueError, match="dimension"):
        dv.svgd(Gaussian([0.0], 1.0), x, n_steps=2)
    with pytest.raises(TypeError, match="score"):
        dv.svgd("gaussian", x, n_steps=2)
    with pytest.raises(ValueError, match="median"):
        dv.svgd(G, np.zeros((10, 2)), n_steps=2)
    with pytest.raises(ValueError, match="at least 2"):
        dv.svgd(G, np.zeros((1, 2)), n_steps=2)
