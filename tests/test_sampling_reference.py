"""The Rust samplers and targets against their NumPy references.

With ``noise="replay"`` the reference consumes exactly the random numbers of the Rust
run, so every state must agree to round-off (the only differences are the summation
orders of the target's matrix products).
"""

import divergent as dv
import numpy as np
import pytest
from divergent.reference import sampling as ref
from hypothesis import given, settings
from hypothesis import strategies as st


def dense_cov(d, seed):
    a = np.random.default_rng(seed).standard_normal((d, d))
    return a @ a.T / d + 0.5 * np.eye(d)


def target_pair(kind, d, seed=0):
    """(Rust target, NumPy target) with the same parameters."""
    rng = np.random.default_rng(seed)
    if kind == "gaussian":
        m, S = rng.standard_normal(d), dense_cov(d, seed)
        return dv.targets.Gaussian(m, S), ref.Gaussian(m, S)
    if kind == "mixture":
        w = np.array([0.2, 0.5, 0.3])
        means = 2 * rng.standard_normal((3, d))
        covs = np.stack([dense_cov(d, seed + k) for k in range(3)])
        return dv.targets.GaussianMixture(w, means, covs), ref.GaussianMixture(w, means, covs)
    if kind == "banana":
        return dv.targets.Banana(dim=max(d, 2), b=0.1, sigma=2.0), ref.Banana(dim=max(d, 2), b=0.1, sigma=2.0)
    return dv.targets.Funnel(dim=max(d, 2), scale=1.5), ref.Funnel(dim=max(d, 2), scale=1.5)


KINDS = ["gaussian", "mixture", "banana", "funnel"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("d", [1, 2, 7])
def test_targets_match_numpy(kind, d):
    t, r = target_pair(kind, d)
    x = np.random.default_rng(1).standard_normal((133, t.dim))
    lp, g = t.logp_and_grad(x)
    lp_ref, g_ref = r.logp_and_grad(x)
    np.testing.assert_allclose(lp, lp_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g, g_ref, rtol=1e-11, atol=1e-12)
    # single points give floats and (d,) gradients
    assert isinstance(t.logp(x[0]), float)
    assert t.score(x[0]).shape == (t.dim,)
    np.testing.assert_allclose(t(x), g_ref, rtol=1e-11, atol=1e-12)


def test_gaussian_logp_is_the_normal_density():
    from scipy import stats

    m, S = np.array([1.0, -2.0, 0.5]), dense_cov(3, 4)
    x = np.random.default_rng(2).standard_normal((50, 3))
    np.testing.assert_allclose(dv.targets.Gaussian(m, S).logp(x), stats.multivariate_normal(m, S).logpdf(x), rtol=1e-12)
    w = np.array([0.4, 0.6])
    means = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    covs = np.stack([S, 2 * S])
    mix = w[0] * stats.multivariate_normal(means[0], covs[0]).pdf(x) + w[1] * stats.multivariate_normal(
        means[1], covs[1]
    ).pdf(x)
    np.testing.assert_allclose(dv.targets.GaussianMixture(w, means, covs).logp(x), np.log(mix), rtol=1e-12)


@settings(max_examples=20)
@given(
    kind=st.sampled_from(KINDS),
    method=st.sampled_from(["ula", "mala", "underdamped"]),
    n_chains=st.integers(1, 20),
    d=st.integers(1, 6),
    burn_in=st.integers(0, 30),
    thin=st.integers(1, 4),
    start=st.booleans(),
    seed=st.integers(0, 2**64 - 1),
)
def test_langevin_replays_the_reference(kind, method, n_chains, d, burn_in, thin, start, seed):
    t, r = target_pair(kind, d)
    x0 = np.random.default_rng(0).standard_normal((n_chains, t.dim)) * 0.5 if start else None
    kw = dict(
        n_chains=n_chains,
        n_steps=60,
        step_size=0.05,
        method=method,
        x0=x0,
        burn_in=burn_in,
        thin=thin,
        seed=seed,
        adapt_step_size=method == "mala" and burn_in > 0,
    )
    a = dv.langevin(t, **kw)
    b = ref.langevin(r, noise="replay", **kw)
    assert a.samples.shape == (n_chains, 60 // thin, t.dim)
    np.testing.assert_allclose(a.samples, b.samples, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(a.logp, b.logp, rtol=1e-9, atol=1e-10)
    np.testing.assert_array_equal(a.acceptance_rate, b.acceptance_rate)
    np.testing.assert_allclose(a.step_size, b.step_size, rtol=1e-12)
    assert a.seed == b.seed == seed


def test_numpy_noise_reference_is_a_valid_sampler():
    # The default (NumPy-noise) reference is the benchmark baseline: it must sample correctly.
    t = ref.Gaussian([1.0, -1.0], [[1.0, 0.5], [0.5, 2.0]])
    tr = ref.langevin(t, n_chains=20, n_steps=2000, step_size=0.5, burn_in=200, seed=1)
    x = tr.samples.reshape(-1, 2)
    se = x.std(axis=0) / np.sqrt(tr.ess())
    assert np.all(np.abs(x.mean(axis=0) - [1.0, -1.0]) < 4 * se)


def test_custom_target_gives_the_rust_targets_samples():
    t, r = target_pair("gaussian", 4)
    custom = dv.targets.Custom(r.logp_and_grad, 4)
    for method in ["ula", "mala", "underdamped"]:
        a = dv.langevin(t, n_chains=6, n_steps=200, step_size=0.1, method=method, seed=5)
        b = dv.langevin(custom, n_chains=6, n_steps=200, step_size=0.1, method=method, seed=5)
        np.testing.assert_allclose(a.samples, b.samples, rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(a.acceptance_rate, b.acceptance_rate)


@pytest.mark.parametrize("keep", ["array", "view"])
def test_points_a_custom_target_keeps_are_not_overwritten(keep):
    # The sampler refills the array it passes to the callable only while nothing else
    # holds it; a callable that keeps the points (or a view of them) must see them stay.
    t, r = target_pair("gaussian", 3)
    kept = []

    def keeping(x):
        kept.append(x if keep == "array" else x[:, 1])
        return r.logp_and_grad(x)

    a = dv.langevin(dv.targets.Custom(keeping, 3), n_chains=4, n_steps=30, step_size=0.1, method="ula", seed=2)
    b = dv.langevin(t, n_chains=4, n_steps=30, step_size=0.1, method="ula", seed=2)
    np.testing.assert_allclose(a.samples, b.samples, rtol=1e-10, atol=1e-12)
    assert len(kept) == 31  # the start, then one call per step
    # ULA moves to every proposal, so the points of call s are the draws of step s.
    for s in range(1, 31):
        expect = a.samples[:, s - 1] if keep == "array" else a.samples[:, s - 1, 1]
        np.testing.assert_array_equal(kept[s], expect)


@pytest.mark.parametrize("method", ["ula", "mala", "underdamped"])
def test_samples_do_not_depend_on_the_thread_count(method):
    t, _ = target_pair("mixture", 5)
    before = dv.get_num_threads()
    try:
        runs = []
        for n in (1, 2, 3):
            dv.set_num_threads(n)
            runs.append(dv.langevin(t, n_chains=70, n_steps=50, step_size=0.1, method=method, seed=9))
    finally:
        dv.set_num_threads(before)
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0].samples, other.samples)
        np.testing.assert_array_equal(runs[0].logp, other.logp)


def test_seed_none_is_recorded_and_reproduces_the_run():
    t, _ = target_pair("banana", 2)
    a = dv.langevin(t, n_chains=3, n_steps=40, step_size=0.1)
    b = dv.langevin(t, n_chains=3, n_steps=40, step_size=0.1, seed=a.seed)
    np.testing.assert_array_equal(a.samples, b.samples)
    c = dv.langevin(t, n_chains=3, n_steps=40, step_size=0.1, seed=np.random.default_rng(3))
    d = dv.langevin(t, n_chains=3, n_steps=40, step_size=0.1, seed=np.random.default_rng(3))
    np.testing.assert_array_equal(c.samples, d.samples)
    assert not np.array_equal(a.samples, dv.langevin(t, n_chains=3, n_steps=40, step_size=0.1, seed=a.seed + 1).samples)


@pytest.mark.parametrize(("n", "d"), [(1, 1), (2, 3), (57, 2), (300, 4)])
def test_svgd_direction_matches_the_dense_formula(n, d):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, d)) + 10.0  # far from the origin: centring must keep precision
    s = rng.standard_normal((n, d))
    for h in (0.3, 1.7):
        np.testing.assert_allclose(
            dv._core.svgd_direction(x, s, h), ref.svgd_direction(x, s, h), rtol=1e-10, atol=1e-12
        )


def test_svgd_matches_the_reference_run():
    t, r = target_pair("gaussian", 3)
    x0 = np.random.default_rng(0).standard_normal((80, 3)) * 0.2 + 2.0
    for bw in ("median", 0.8):
        a = dv.svgd(t, x0, n_steps=30, step_size=0.2, bandwidth=bw)
        b = ref.svgd(r, x0, n_steps=30, step_size=0.2, bandwidth=bw)
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)
    np.testing.assert_array_equal(x0, np.random.default_rng(0).standard_normal((80, 3)) * 0.2 + 2.0)
