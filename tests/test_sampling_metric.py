"""Preconditioned Langevin samplers (``metric=``): the NumPy replay, known answers on
an ill-conditioned Gaussian, adapted metrics against the covariance, thread
independence, bad input, and the progress bars of langevin, hmc and smc."""

import divergent as dv
import numpy as np
import pytest
from divergent.reference import sampling as ref
from hypothesis import given, settings
from hypothesis import strategies as st
from test_sampling_hmc import metric_argument, rotated_gaussian, z_scores
from test_sampling_reference import KINDS, target_pair


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    method=st.sampled_from(["ula", "mala", "underdamped"]),
    metric=st.sampled_from(["diag given", "dense given", "diag", "dense"]),
    n_chains=st.integers(1, 12),
    d=st.integers(1, 5),
    burn_in=st.integers(10, 60),
    thin=st.integers(1, 3),
    seed=st.integers(0, 2**64 - 1),
)
def test_langevin_with_a_metric_replays_the_reference(kind, method, metric, n_chains, d, burn_in, thin, seed):
    t, r = target_pair(kind, d)
    kw = dict(
        n_chains=n_chains,
        n_steps=40,
        step_size=0.05,
        method=method,
        burn_in=burn_in,
        thin=thin,
        seed=seed,
        metric=metric_argument(metric, t.dim, seed % 1000),
        adapt_step_size=method == "mala",
    )
    a = dv.langevin(t, **kw)
    b = ref.langevin(r, noise="replay", **kw)
    np.testing.assert_allclose(a.samples, b.samples, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(a.logp, b.logp, rtol=1e-9, atol=1e-10)
    np.testing.assert_array_equal(a.acceptance_rate, b.acceptance_rate)
    np.testing.assert_allclose(a.step_size, b.step_size, rtol=1e-10)
    np.testing.assert_allclose(a.metric, b.metric, rtol=1e-10, atol=1e-14)


def test_an_identity_metric_given_is_the_unpreconditioned_sampler_to_round_off():
    t, _ = target_pair("mixture", 3)
    kw = dict(n_chains=5, n_steps=100, step_size=0.1, seed=3)
    for method in ["ula", "mala", "underdamped"]:
        a = dv.langevin(t, method=method, **kw)
        b = dv.langevin(t, method=method, metric=np.ones(3), **kw)
        c = dv.langevin(t, method=method, metric=np.eye(3), **kw)
        np.testing.assert_allclose(b.samples, a.samples, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(c.samples, a.samples, rtol=1e-10, atol=1e-12)
        assert a.metric is None and b.metric.shape == (3,) and c.metric.shape == (3, 3)


@pytest.mark.parametrize("metric", ["dense", "given"])
def test_mala_moments_of_an_ill_conditioned_gaussian_within_their_monte_carlo_error(metric):
    # Condition number 10^3 in d = 8: unpreconditioned MALA would need a step set by the
    # smallest scale (1) and ~1000 times as many steps to cross the largest.
    target, cov = rotated_gaussian(8, 1e3, 0)
    tr = dv.langevin(
        target,
        n_chains=32,
        n_steps=1500,
        step_size=0.5,
        metric=cov if metric == "given" else metric,
        burn_in=600,
        adapt_step_size=True,
        seed=2,
    )
    mean_z, var_z = z_scores(tr, cov)
    # 16 z-scores of N(0, 1): all within 4.5 has probability > 0.9999.
    assert np.abs(mean_z).max() < 4.5, mean_z
    assert np.abs(var_z).max() < 4.5, var_z
    # MALA's optimal acceptance, reached in whitened coordinates.
    assert 0.45 < tr.acceptance_rate.mean() < 0.7
    assert tr.ess().min() > 1000


@pytest.mark.parametrize("method", ["mala", "underdamped"])
def test_adapted_metrics_estimate_the_covariance(method):
    target, cov = rotated_gaussian(4, 50.0, 3)
    step = 0.3 if method == "mala" else 0.5
    for kind in ["diag", "dense"]:
        kw = dict(n_chains=64, n_steps=10, step_size=step, method=method, burn_in=1000, seed=4)
        tr = dv.langevin(target, metric=kind, **kw)
        est = tr.metric
        truth = cov if kind == "dense" else np.diag(cov)
        # The last window pools 64 chains x 500 autocorrelated states: each entry within
        # 15% of the largest variance.
        assert np.abs(est - truth).max() < 0.15 * np.diag(cov).max(), (est, truth)


@pytest.mark.parametrize("method", ["ula", "mala", "underdamped"])
def test_preconditioned_samples_do_not_depend_on_the_thread_count(method):
    t, _ = target_pair("mixture", 5)
    before = dv.get_num_threads()
    try:
        runs = []
        for n in (1, 2, 3):
            dv.set_num_threads(n)
            kw = dict(n_chains=70, n_steps=30, step_size=0.1, method=method, burn_in=40, seed=9)
            runs.append(dv.langevin(t, metric="dense", **kw))
    finally:
        dv.set_num_threads(before)
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0].samples, other.samples)
        np.testing.assert_array_equal(runs[0].metric, other.metric)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"metric": np.ones(3)}, r"metric has shape \(3,\)"),
        ({"metric": np.array([[1.0, 2.0], [2.0, 1.0]])}, "not positive definite"),
        ({"metric": np.array([[1.0, 0.5], [0.4, 1.0]])}, "not symmetric"),
        ({"metric": np.array([1.0, np.inf])}, "NaN or infinity"),
        ({"metric": np.array([0.0, 1.0])}, "must be positive"),
        ({"metric": "diag"}, "estimated during burn-in"),
    ],
)
def test_bad_metrics_name_the_argument(kwargs, match):
    target = dv.targets.Gaussian(np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match=match):
        dv.langevin(target, n_steps=10, step_size=0.1, **kwargs)
    with pytest.raises(dv.InvalidParameterError, match="metric"):
        dv.langevin(target, n_steps=10, step_size=0.1, metric="full")


def test_progress_bars_show_on_stderr_and_change_nothing(capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def without_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_tqdm)
    t = dv.targets.Gaussian(np.zeros(2), np.eye(2))
    a = dv.langevin(t, n_steps=200, step_size=0.3, seed=1, progress=True)
    err = capsys.readouterr().err
    assert "mala: 100% 200/200" in err, err
    b = dv.langevin(t, n_steps=200, step_size=0.3, seed=1)
    np.testing.assert_array_equal(a.samples, b.samples)
    dv.sampling.hmc(t, n_steps=50, step_size=0.3, burn_in=10, seed=1, progress=True)
    assert "hmc: 100% 60/60" in capsys.readouterr().err
    dv.smc(t, n_particles=64, seed=1, progress=True)
    assert "smc: 100%" in capsys.readouterr().err
    dv.langevin(t, n_steps=20, step_size=0.3, seed=1)
    assert capsys.readouterr().err == ""


def test_a_failing_progress_callback_stops_the_run():
    t = dv.targets.Gaussian(np.zeros(2), np.eye(2))

    def fail(done):
        raise RuntimeError("display gone")

    # Called from the watcher every 50 ms once the work reports progress: a run of
    # about a second must see it.
    with pytest.raises(RuntimeError, match="display gone"):
        dv._core.langevin(t._spec(), None, 2, None, 64, "mala", 10**6, 0, 1000, 0.3, 1.0, False, 0, progress=fail)
