"""Sinkhorn: NumPy reference, POT, closed forms, invariants, bad input."""

import warnings

import divergent as dv
import numpy as np
import ot as pot
import pytest
from divergent import _core
from divergent import reference as ref
from divergent.ot import ConvergenceWarning
from divergent.ot._sinkhorn import cost_matrix
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp

quiet = pytest.mark.filterwarnings("ignore::divergent.ot.ConvergenceWarning")


@st.composite
def problems(draw, max_n=40, rel_eps=(1.0, 0.1, 0.01)):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, m, d = draw(st.integers(1, max_n)), draw(st.integers(1, max_n)), draw(st.integers(1, 4))
    x = rng.normal(size=(n, d)) * draw(st.floats(0.1, 5))
    y = rng.normal(size=(m, d)) + draw(st.floats(-2, 2))
    if draw(st.booleans()):
        x = np.round(x)  # ties and zero distances
    a = rng.random(n) if draw(st.booleans()) else None
    b = rng.random(m) if draw(st.booleans()) else None
    if a is not None and n > 1 and draw(st.booleans()):
        a[0] = 0.0  # a zero-mass point
    p = draw(st.sampled_from([1.0, 2.0, 1.5]))
    diam = np.ptp(np.vstack([x, y]), axis=0).max() + 1e-3
    kw = dict(
        epsilon=diam**p * draw(st.sampled_from(rel_eps)),
        p=p,
        reach=draw(st.sampled_from([None, None, 0.5 * diam, 3 * diam])),
        scaling=(scaling := draw(st.sampled_from([None, 0.5, 0.8]))),
        max_iter=draw(st.sampled_from([1, 5, 300])) if scaling is None else 300,
        tol=1e-7,
    )
    return x, y, a, b, kw


def close(got, want, rtol=1e-9, scale=1.0):
    return abs(got - want) <= rtol * max(abs(want), scale)


@quiet
@given(problems(), st.sampled_from(["online", "dense"]))
def test_sinkhorn_matches_reference(prob, backend):
    x, y, a, b, kw = prob
    got = dv.ot.sinkhorn(x, y, a=a, b=b, backend=backend, **kw)
    want = ref.ot.sinkhorn(x, y, a=a, b=b, **kw)
    assert got.n_iter == want.n_iter and got.converged == want.converged
    scale = np.abs(want.f).max() + np.abs(want.g).max() + kw["epsilon"]
    assert close(got.value, want.value, scale=scale)
    assert close(got.cost, want.cost, scale=scale)
    np.testing.assert_allclose(got.f, want.f, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(got.g, want.g, rtol=1e-9, atol=1e-9 * scale)
    assert got.marginal_error == pytest.approx(want.marginal_error, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize(
    "p, reach, rel_eps", [(2.0, None, 0.01), (2.0, None, 1e-3), (1.0, None, 0.02), (2.0, 1.0, 0.01)]
)
def test_sinkhorn_matches_reference_over_several_row_stripes(rng, p, reach, rel_eps):
    """The online backend takes g's soft-min from f's pass (one stripe of rows per 64
    rows, each with its own column sums, truncated); the problems above have one stripe."""
    x, y = rng.random((300, 3)), rng.random((280, 3)) + [0.3, 0.0, 0.0]
    kw = dict(epsilon=rel_eps * 3.4 ** (p / 2), p=p, reach=reach, tol=1e-7, max_iter=2000)
    got = dv.ot.sinkhorn(x, y, backend="online", **kw)
    want = ref.ot.sinkhorn(x, y, **kw)
    assert got.converged and got.n_iter == want.n_iter
    scale = np.abs(want.f).max() + np.abs(want.g).max() + kw["epsilon"]
    assert close(got.cost, want.cost, scale=scale)
    np.testing.assert_allclose(got.f, want.f, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(got.g, want.g, rtol=1e-9, atol=1e-9 * scale)


@quiet
@settings(max_examples=30)
@given(problems(max_n=25))
def test_divergence_matches_reference(prob):
    x, y, a, b, kw = prob
    got = dv.ot.sinkhorn_divergence(x, y, a=a, b=b, **kw)
    want = ref.ot.sinkhorn_divergence(x, y, a=a, b=b, **kw)
    scale = kw["epsilon"] + np.ptp(np.vstack([x, y])) ** kw["p"]
    assert close(got, want, scale=scale)


@quiet
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 30),
    st.integers(1, 30),
    st.sampled_from([1.0, 0.1, 0.01, 1e-3]),
    st.sampled_from(["online", "dense"]),
)
def test_from_cost_matches_reference(seed, n, m, eps, backend):
    # At eps = 1e-3 on costs in [0, 1] the residual can plateau for iterations
    # (0.17001397405820 +- 3e-14 at n = 2, m = 7, seed 0): the solvers take no decision
    # on a rate within RATE_NOISE of 1, or the last digits would decide it.
    rng = np.random.default_rng(seed)
    c, a, b = rng.random((n, m)), rng.random(n), rng.random(m)
    got = dv.ot.sinkhorn_from_cost(c, a, b, epsilon=eps, max_iter=200, backend=backend)
    want = ref.ot.sinkhorn_from_cost(c, a, b, epsilon=eps, max_iter=200)
    assert got.n_iter == want.n_iter
    assert close(got.cost, want.cost) and close(got.value, want.value)
    np.testing.assert_allclose(got.f, want.f, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("eps", [0.1, 0.01])
def test_from_cost_matches_reference_over_several_row_stripes(rng, eps):
    """As above for a matrix of 300 rows: five stripes, each with its own column sums."""
    c, a, b = rng.random((300, 280)), rng.random(300), rng.random(280)
    got = dv.ot.sinkhorn_from_cost(c, a, b, epsilon=eps, tol=1e-9, backend="online")
    want = ref.ot.sinkhorn_from_cost(c, a, b, epsilon=eps, tol=1e-9)
    assert got.converged and got.n_iter == want.n_iter
    assert close(got.cost, want.cost) and close(got.value, want.value)
    np.testing.assert_allclose(got.f, want.f, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got.g, want.g, rtol=1e-9, atol=1e-9)


@quiet
@pytest.mark.parametrize("backend", ["online", "dense"])
def test_a_plateau_takes_the_same_decisions_as_the_reference(backend):
    """The residual stays at 0.17001397405820 +- 3e-14 from iteration 8 to 18 here: the
    rate measured over it is 1 up to round-off, and no decision may hang on that."""
    rng = np.random.default_rng(0)
    c, a, b = rng.random((2, 7)), rng.random(2), rng.random(7)
    got = dv.ot.sinkhorn_from_cost(c, a, b, epsilon=1e-3, max_iter=200, backend=backend)
    want = ref.ot.sinkhorn_from_cost(c, a, b, epsilon=1e-3, max_iter=200)
    np.testing.assert_allclose(got.f, want.f, rtol=1e-9, atol=1e-9)
    assert got.value == pytest.approx(want.value, rel=1e-12)


def test_softmin_matches_logsumexp_far_from_the_data(rng):
    x, y = rng.normal(size=(50, 3)), rng.normal(size=(40, 3))
    x[0] = 1e3  # exp(-|x - y|^2 / eps) underflows for every y; its log does not
    w = rng.normal(size=40)
    for p, eps in [(2.0, 1e-3), (1.0, 0.1), (0.5, 1.0)]:
        want = logsumexp(w[None, :] - cost_matrix(x, y, p) / eps, axis=1)
        got = _core.softmin_lse(x, y, w, p, eps, "x")
        np.testing.assert_allclose(got, want, rtol=1e-13)
        assert np.isfinite(got).all()


@pytest.mark.parametrize("seed", range(4))
def test_from_cost_equals_pot_at_convergence(seed):
    rng = np.random.default_rng(seed)
    n, m = 20 + 7 * seed, 30 - 3 * seed
    c = rng.random((n, m)) * 2
    a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
    a, b = a / a.sum(), b / b.sum()
    eps = [0.05, 0.1, 0.5, 1.0][seed]
    got = dv.ot.sinkhorn_from_cost(c, a, b, epsilon=eps, tol=1e-9, max_iter=100_000)
    want = pot.sinkhorn2(a, b, c, eps, stopThr=1e-12, numItermax=1_000_000)
    assert got.converged
    assert got.cost == pytest.approx(float(want), rel=1e-6)
    np.testing.assert_allclose(got.plan(), pot.sinkhorn(a, b, c, eps, stopThr=1e-12, numItermax=10**6), atol=1e-8)


def test_unbalanced_plan_equals_pot(rng):
    x, y = rng.normal(size=(25, 2)), rng.normal(size=(30, 2)) + 1
    a, b = rng.random(25) + 0.1, 2 * rng.random(30) + 0.1  # different total masses
    eps, reach = 0.5, 1.5
    res = dv.ot.sinkhorn(x, y, a=a, b=b, epsilon=eps, reach=reach, tol=1e-12, max_iter=100_000)
    want = pot.unbalanced.sinkhorn_unbalanced(
        a, b, cost_matrix(x, y, 2.0), eps, reach**2, reg_type="kl", stopThr=1e-14, numItermax=10**6
    )
    assert res.converged
    np.testing.assert_allclose(res.plan(), want, rtol=1e-6, atol=1e-12)


def test_point_cloud_equals_cost_matrix_version(rng):
    x, y = rng.normal(size=(50, 3)), rng.normal(size=(35, 3))
    a, b = rng.random(50), rng.random(35)
    for p in (1.0, 2.0, 3.0):
        cloud = dv.ot.sinkhorn(x, y, a=a, b=b, epsilon=0.3, p=p, tol=1e-10)
        mat = dv.ot.sinkhorn_from_cost(cost_matrix(x, y, p), a, b, epsilon=0.3, tol=1e-10)
        assert cloud.n_iter == mat.n_iter
        assert cloud.cost == pytest.approx(mat.cost, rel=1e-11)
        np.testing.assert_allclose(cloud.f, mat.f, rtol=1e-10, atol=1e-12)


def test_potentials_satisfy_the_fixed_point_equations(rng):
    x, y = rng.random((80, 2)), rng.random((60, 2))
    a, b = rng.random(80), rng.random(60)
    eps, tol = 0.01, 1e-8
    res = dv.ot.sinkhorn(x, y, a=a, b=b, epsilon=eps, tol=tol, scaling=0.7)
    a, b = a / a.sum(), b / b.sum()
    c = cost_matrix(x, y, 2.0)
    t_g = -eps * logsumexp(np.log(b)[None, :] + (res.g[None, :] - c) / eps, axis=1)
    t_f = -eps * logsumexp(np.log(a)[:, None] + (res.f[:, None] - c) / eps, axis=0)
    np.testing.assert_allclose(res.g, t_f, rtol=0, atol=1e-12)  # g was updated last
    assert np.sum(a * np.abs(np.expm1((res.f - t_g) / eps))) <= tol
    plan = res.plan()
    np.testing.assert_allclose(plan.sum(axis=0), b, atol=1e-14)
    assert np.abs(plan.sum(axis=1) - a).sum() == pytest.approx(res.marginal_error, rel=1e-6)
    assert res.cost == pytest.approx(np.sum(plan * c), rel=1e-12)
    # At convergence the dual value is the primal entropic objective.
    kl = np.sum(plan * (np.log(plan) - np.log(np.outer(a, b))))
    assert res.value == pytest.approx(res.cost + eps * kl, rel=1e-7)


@pytest.mark.parametrize("tol", [1e-2, 1e-3, 1e-5])
def test_truncated_solve_meets_tol_on_the_exact_marginals(rng, tol):
    """The streamed soft-min may skip terms adding up to tol / 64 of a row's sum; the
    marginals of the coupling summed over every pair must still be within tol, and the
    cost within 1e-9 of the same iterations without truncation (the dense kernel; 5e-11
    observed at tol = 1e-2: the cost is first-order insensitive to the potentials)."""
    x, y = rng.random((1500, 3)), rng.random((1300, 3))
    a, b = rng.random(1500) + 0.5, rng.random(1300) + 0.5
    a, b = a / a.sum(), b / b.sum()
    kw = dict(a=a, b=b, epsilon=2e-3, tol=tol, scaling=0.5)
    res = dv.ot.sinkhorn(x, y, backend="online", **kw)
    assert res.converged
    plan = res.plan()
    assert np.abs(plan.sum(axis=1) - a).sum() <= tol
    assert np.abs(plan.sum(axis=0) - b).sum() <= tol
    dense = dv.ot.sinkhorn(x, y, backend="dense", max_iter=res.n_iter, **kw)
    assert dense.n_iter == res.n_iter
    assert res.cost == pytest.approx(dense.cost, rel=1e-9)


@quiet
def test_stopping_at_max_iter_leaves_the_column_marginal_exact(rng):
    """Over-relaxed iterations do not fit either marginal; the solver must end on a plain
    one wherever max_iter falls, including inside a relaxed stretch (which starts after
    16 plain iterations at this epsilon). With tol = 1e-12, truncation may leave out at most
    tol / 64 of a column's sum, below the rtol checked."""
    x, y = rng.random((120, 2)), rng.random((90, 2))
    b = np.full(90, 1 / 90)
    for max_iter in (17, 18, 25, 40, 41):
        res = dv.ot.sinkhorn(x, y, epsilon=1e-3, max_iter=max_iter, tol=1e-12)
        assert res.n_iter == max_iter and not res.converged
        np.testing.assert_allclose(res.plan().sum(axis=0), b, rtol=1e-12)


@pytest.mark.parametrize("backend", ["online", "dense"])
def test_multiscale_annealing_reaches_the_same_optimum(rng, monkeypatch, backend):
    """Above MULTISCALE_MIN_PAIRS, epsilon-scaling anneals on clusters of points (for the
    stored kernel too, which is then built at the final epsilon only); the final
    iterations run on the points to the same tolerance, so the result is the same optimum
    (to that tolerance) as annealing on the points, on any thread count."""
    import divergent.ot._sinkhorn as dot

    x, y = rng.random((900, 2)), rng.random((700, 2)) + [0.2, 0.0]
    kw = dict(a=rng.random(900), epsilon=5e-3, scaling=0.5, tol=1e-9, backend=backend)
    clusters = []
    for name in ("sinkhorn_points", "sinkhorn_points_symmetric"):
        real = getattr(_core, name)
        monkeypatch.setattr(
            _core,
            name,
            lambda *args, real=real, **kw: clusters.append(kw.get("cluster_points", args[-1])) or real(*args, **kw),
        )
    monkeypatch.setattr(dot, "MULTISCALE_CLUSTERS", 64)

    def solve(multiscale, reach):
        monkeypatch.setattr(dot, "MULTISCALE_MIN_PAIRS", 0 if multiscale else 10**18)
        clusters.clear()
        res = dv.ot.sinkhorn(x, y, reach=reach, **kw)
        div = dv.ot.sinkhorn_divergence(x, y, reach=reach, **kw)
        assert clusters == [16 if multiscale else 0] * 4
        assert res.converged
        return res, div

    for reach in (None, 0.5):
        (want, want_div), (got, div) = solve(False, reach), solve(True, reach)
        assert got.value == pytest.approx(want.value, rel=1e-8)
        assert got.cost == pytest.approx(want.cost, rel=1e-7)
        assert div == pytest.approx(want_div, rel=1e-7)
        assert not np.array_equal(got.f, want.f)  # the annealing did differ
    before = dv.get_num_threads()  # still multiscale: the clusters do not depend on threads
    try:
        dv.set_num_threads(1)
        one = dv.ot.sinkhorn(x, y, **kw)
    finally:
        dv.set_num_threads(before)
    assert np.array_equal(one.f, dv.ot.sinkhorn(x, y, **kw).f)


@quiet
def test_auto_backend_stores_the_kernel_only_where_it_pays(rng, monkeypatch):
    import divergent.ot._sinkhorn as dot

    x, y = rng.random((200, 2)), rng.random((150, 2))  # median cost ~ 1/4
    dense = []
    real = _core.sinkhorn_points
    monkeypatch.setattr(_core, "sinkhorn_points", lambda *args, **kw: dense.append(kw["dense"]) or real(*args, **kw))
    stored = dv.ot.sinkhorn(x, y, epsilon=0.05)
    streamed = dv.ot.sinkhorn(x, y, epsilon=0.05, backend="online")
    # Below DENSE_AUTO_MIN_EPSILON x sqrt(n m / 4e6) x 3^(3 - d) x the median cost (1e-4).
    dv.ot.sinkhorn(x, y, epsilon=5e-5, max_iter=5)
    monkeypatch.setattr(dot, "DENSE_AUTO_MAX_ENTRIES", 200 * 150 - 1)
    dv.ot.sinkhorn(x, y, epsilon=0.05)
    assert dense == [True, False, False, False]
    # The limit reads the median cost, not the diameter or the mean: one far outlier
    # changes the diameter 100-fold and the mean cost 300-fold, the choice not at all.
    dense.clear()
    monkeypatch.setattr(dot, "DENSE_AUTO_MAX_ENTRIES", 2**27)
    far = np.concatenate([x, [[100.0, 100.0]]])
    dv.ot.sinkhorn(far, y, epsilon=0.05)
    assert dense == [True]
    assert dot._median_cost(x, y, 2.0) == pytest.approx(np.median(((x[:, None] - y[None]) ** 2).sum(-1)), rel=1e-12)
    assert dot._median_cost(far, y, 1.0) == pytest.approx(
        np.median(np.sqrt(((x[:, None] - y[None]) ** 2).sum(-1))), rel=0.03
    )
    assert stored.n_iter == streamed.n_iter
    assert stored.cost == pytest.approx(streamed.cost, rel=1e-12)
    np.testing.assert_allclose(stored.f, streamed.f, rtol=0, atol=1e-12)


@quiet
def test_from_cost_stores_the_kernel_where_it_fits(rng, monkeypatch):
    import divergent.ot._sinkhorn as dot

    c = rng.random((40, 30))
    dense = []
    real = _core.sinkhorn_matrix
    monkeypatch.setattr(_core, "sinkhorn_matrix", lambda *args, **kw: dense.append(kw["dense"]) or real(*args, **kw))
    stored = dv.ot.sinkhorn_from_cost(c, epsilon=1e-3, max_iter=400)
    streamed = dv.ot.sinkhorn_from_cost(c, epsilon=1e-3, max_iter=400, backend="online")
    monkeypatch.setattr(dot, "DENSE_AUTO_MAX_ENTRIES", 2 * 40 * 30 - 1)
    dv.ot.sinkhorn_from_cost(c, epsilon=1e-3, max_iter=5)
    assert dense == [True, False, False]
    assert stored.n_iter == streamed.n_iter
    assert stored.cost == pytest.approx(streamed.cost, rel=1e-10)
    np.testing.assert_allclose(stored.f, streamed.f, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="backend"):
        dv.ot.sinkhorn_from_cost(c, epsilon=0.1, backend="gpu")


def test_translation_gives_exactly_the_squared_shift(rng):
    """For p = 2, C(x, y + t) = C(x, y) - 2 <x - y, t> + |t|^2 and the middle term is
    separable with zero mean under the coupling of mu and mu + t, so S_eps(mu, mu + t)
    = |t|^2 for every epsilon (W_2^2 of a translation, exact, not asymptotic)."""
    for d, eps in [(1, 1.0), (1, 0.2), (3, 2.0), (3, 1.0)]:
        x = rng.normal(size=(300, d))
        t = np.linspace(0.5, 1.5, d)
        s = dv.ot.sinkhorn_divergence(x, x + t, epsilon=eps, tol=1e-10, scaling=0.7)
        assert s == pytest.approx(t @ t, rel=1e-9)


def test_gaussians_1d_approach_w2_squared():
    """S_eps between samples of N(0, 1) and N(1, 2^2) approaches W2^2 = 1 + 1 = 2.

    Two separate claims. (1) As epsilon -> 0, S_eps approaches the exact W2^2 of the
    same samples (computed by sorting) with a bias of order epsilon^2 (Chizat et al.
    2020): the gap must shrink from epsilon = 0.1 to 0.03 and stay below epsilon^2.
    (2) That sample W2^2 is within 4 standard errors of the closed form; the standard
    error is estimated from 40 replicate samples of the exact sorted estimate.
    """
    n, truth = 1500, 2.0
    exact = [
        dv.ot.wasserstein_1d(r.normal(size=n), 1 + 2 * r.normal(size=n), p=2) ** 2
        for r in (np.random.default_rng(s) for s in range(40))
    ]
    se = np.std(exact, ddof=1)
    r = np.random.default_rng(99)
    x, y = r.normal(size=n), 1 + 2 * r.normal(size=n)
    w2 = dv.ot.wasserstein_1d(x, y, p=2) ** 2
    gaps = []
    for eps in (0.1, 0.03):
        s = dv.ot.sinkhorn_divergence(x, y, epsilon=eps, scaling=0.7, tol=1e-8)
        gaps.append(abs(s - w2))
        assert gaps[-1] < eps**2
    assert gaps[1] < gaps[0]
    assert abs(s - truth) < 4 * se


@given(problems(max_n=30, rel_eps=(1.0, 0.1)))
@settings(max_examples=40)
def test_divergence_is_zero_on_equal_inputs_and_nonnegative(prob):
    """At convergence S_eps(a, a) = 0 and S_eps(a, b) >= 0 (p = 2), up to the solver's
    tolerance: the dual D is concave and its gradient is the marginal residual, so
    |D(f, g) - D*| <= ||residual||_1 ||f - f*||_osc <= tol max C; S combines three
    values with weights 1, 1/2, 1/2, and the symmetric solver's unit-mass term adds
    epsilon tol, hence |S error| <= 2 tol (max C + epsilon). Problems that do not
    converge within max_iter (plain Sinkhorn has rate ~1 on nearly block-diagonal
    couplings) are skipped: the claim is about converged values."""
    x, y, a, b, kw = prob
    kw = dict(kw, p=2.0, reach=None, max_iter=5000, tol=1e-10)
    for u, v, wu, wv in [(x, x, a, a), (x, y, a, b)]:
        bound = 2 * kw["tol"] * (cost_matrix(u, v, 2.0).max() + kw["epsilon"])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            s = dv.ot.sinkhorn_divergence(u, v, a=wu, b=wv, **kw)
        assume(not caught)
        assert s >= -bound
        if u is v:
            assert abs(s) <= bound


def test_tiny_epsilon_is_finite_and_warns_when_it_cannot_converge(rng):
    """epsilon = 1e-4 diameter^2: every kernel value exp(-C / eps) underflows (C / eps up
    to 1e4), which breaks kernel-domain Sinkhorn; the log domain stays finite. The plan
    is then close to a permutation and Sinkhorn's rate close to 1, so the run may not
    converge: it must say so, not return a silent wrong number."""
    x, y = rng.random((200, 2)), rng.random((150, 2))
    eps = 1e-4 * 2
    with pytest.warns(ConvergenceWarning, match="did not converge in 10 iterations"):
        short = dv.ot.sinkhorn(x, y, epsilon=eps, max_iter=10)
    assert not short.converged
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        long = dv.ot.sinkhorn(x, y, epsilon=eps, scaling=0.8, max_iter=500)
    for res in (short, long):
        assert np.isfinite([res.cost, res.value, res.marginal_error]).all()
        assert np.isfinite(res.f).all() and np.isfinite(res.g).all()
        plan = res.plan()
        assert np.isfinite(plan).all() and (plan >= 0).all()
        np.testing.assert_allclose(plan.sum(axis=0), np.full(150, 1 / 150), rtol=1e-10)
    assert long.marginal_error < short.marginal_error
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dv.ot.sinkhorn(x, y, epsilon=0.5).converged  # no warning when converged


def test_same_bits_for_any_thread_count_dtype_and_layout(rng):
    x, y = rng.normal(size=(300, 3)), rng.normal(size=(200, 3))
    before = dv.get_num_threads()
    try:
        dv.set_num_threads(1)
        one = dv.ot.sinkhorn(x, y, epsilon=0.1)
        dv.set_num_threads(2)
        two = dv.ot.sinkhorn(np.asfortranarray(x), y, epsilon=0.1)
    finally:
        dv.set_num_threads(before)
    assert one.cost == two.cost and np.array_equal(one.f, two.f)
    f32 = dv.ot.sinkhorn(x.astype(np.float32), y.astype(np.float32), epsilon=0.1)
    assert f32.cost == pytest.approx(one.cost, rel=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(epsilon=0.0), "epsilon must be a positive"),
        (dict(epsilon=-1.0), "epsilon must be a positive"),
        (dict(p=0), "p must be a positive finite number"),
        (dict(p=float("nan")), "p must be a positive finite number"),
        (dict(reach=0.0), "reach must be a positive"),
        (dict(scaling=1.0), r"scaling must be a finite number in \(0, 1\)"),
        (dict(scaling=0.0), r"scaling must be a finite number in \(0, 1\)"),
        (dict(max_iter=0), "max_iter must be a positive integer"),
        (dict(tol=-1.0), "tol must be a non-negative finite number"),
        (dict(a=-np.ones(5)), "a must be non-negative"),
        (dict(a=np.zeros(5)), "a are all zero"),
        (dict(a=np.ones(4)), "a must be a 1-D array of length 5"),
        (dict(b=[1, 2, np.nan]), "b contains NaN"),
        (dict(backend="gpu"), "unknown backend"),
        (dict(scaling=0.99, max_iter=10), "annealing iterations, which with one at epsilon are more than max_iter"),
    ],
)
def test_bad_arguments(kwargs, match):
    x, y = np.arange(10.0).reshape(5, 2), np.ones((3, 2))
    for fn in (dv.ot.sinkhorn, dv.ot.sinkhorn_divergence, ref.ot.sinkhorn):
        with pytest.raises(ValueError, match=match):
            fn(x, y, **kwargs)


def test_bad_samples_and_cost_matrices():
    with pytest.raises(ValueError, match="same number of features"):
        dv.ot.sinkhorn(np.ones((3, 2)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="contains NaN"):
        dv.ot.sinkhorn([[0.0], [np.inf]], [[1.0]])
    with pytest.raises(ValueError, match="is empty"):
        dv.ot.sinkhorn_divergence(np.ones((0, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="cost contains NaN"):
        dv.ot.sinkhorn_from_cost([[0.0, np.nan]], epsilon=0.1)
    with pytest.raises(ValueError, match="2-D matrix"):
        dv.ot.sinkhorn_from_cost(np.ones(3), epsilon=0.1)
    with pytest.raises(ValueError, match="length 2"):
        dv.ot.sinkhorn_from_cost(np.ones((2, 3)), a=[1.0, 1.0, 1.0], epsilon=0.1)
    with pytest.raises(ValueError, match="epsilon must be a positive"):
        dv.ot.sinkhorn_from_cost(np.ones((2, 3)), epsilon=0)
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'epsilon'"):
        dv.ot.sinkhorn_from_cost(np.ones((2, 3)))
    res = dv.ot.sinkhorn(np.zeros((3, 1)), np.zeros((2, 1)), epsilon=0.1)  # zero diameter
    assert res.converged and res.cost == 0.0
