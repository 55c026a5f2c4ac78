"""Exact OT (network simplex): against the transport LP solved by HiGHS and POT's
ot.emd2, feasibility and optimality certificates, closed forms, degenerate problems
and bad input."""

import warnings

import divergent as dv
import numpy as np
import pytest
from divergent import reference
from hypothesis import given, settings
from hypothesis import strategies as st


def check_certificate(res, a, b, M):
    """The plan is feasible (marginals, >= 0, a basis) and the duals prove it optimal."""
    scale = max(float(np.abs(M).max()), 1e-300)
    n, m = M.shape
    assert len(res.values) <= n + m - 1
    assert (res.values > 0).all()
    P = res.plan()
    np.testing.assert_allclose(P.sum(1), a, rtol=0, atol=1e-12 * a.sum())
    np.testing.assert_allclose(P.sum(0), b, rtol=0, atol=1e-12 * a.sum())
    slack = M - res.f[:, None] - res.g[None, :]
    assert slack.min() >= -1e-11 * scale
    np.testing.assert_allclose(slack[res.rows, res.cols], 0.0, atol=1e-11 * scale)
    assert res.cost == pytest.approx(float((P * M).sum()), rel=1e-12, abs=1e-14 * scale)
    assert a @ res.f == pytest.approx(b @ res.g, rel=1e-9, abs=1e-12 * scale)


def histogram(rng, n, zeros):
    h = rng.uniform(size=n)
    if zeros and n > 1:
        h[rng.uniform(size=n) < 0.3] = 0.0
        h[0] += 0.1
    return h / h.sum()


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 40),
    m=st.integers(1, 40),
    kind=st.sampled_from(["random", "integer", "duplicates", "constant"]),
    weights=st.sampled_from(["uniform", "random", "zeros"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_matches_the_transport_lp(n, m, kind, weights, seed):
    rng = np.random.default_rng(seed)
    if kind == "random":
        M = rng.uniform(size=(n, m))
    elif kind == "integer":  # many ties
        M = rng.integers(0, 4, size=(n, m)).astype(float)
    elif kind == "duplicates":  # repeated points: equal rows and columns
        x, y = rng.normal(size=(max(1, n // 2), 2)), rng.normal(size=(max(1, m // 2), 2))
        x, y = x[rng.integers(0, len(x), n)], y[rng.integers(0, len(y), m)]
        M = ((x[:, None] - y[None]) ** 2).sum(-1)
    else:
        M = np.full((n, m), 0.7)
    if weights == "uniform":
        a, b = np.full(n, 1 / n), np.full(m, 1 / m)
    else:
        a, b = histogram(rng, n, weights == "zeros"), histogram(rng, m, weights == "zeros")
    res = dv.ot.emd(a, b, M)
    want = reference.ot.emd2(a, b, M)
    assert res.status == "optimal"
    assert res.cost == pytest.approx(want, rel=1e-10, abs=1e-12)
    check_certificate(res, a, b * (a.sum() / b.sum()), M)


def test_matches_pot_on_larger_problems():
    ot = pytest.importorskip("ot")
    rng = np.random.default_rng(0)
    for n, m in [(300, 300), (200, 450)]:
        x, y = rng.normal(size=(n, 3)), rng.normal(size=(m, 3)) + 0.5
        a, b = histogram(rng, n, False), histogram(rng, m, True)
        M = ot.dist(x, y)
        res = dv.ot.emd(a, b, M)
        assert res.cost == pytest.approx(ot.emd2(a, b, M, numItermax=10**7), rel=1e-10)
        check_certificate(res, a, b, M)


@pytest.mark.parametrize("d", [2, 64])
def test_wasserstein_from_points_matches_pot(d):
    # d = 64 with an offset: the pair engine's Gram path and its exact re-check.
    ot = pytest.importorskip("ot")
    rng = np.random.default_rng(d)
    x, y = rng.normal(size=(250, d)) + 100.0, rng.normal(size=(300, d)) + 100.3
    b = histogram(rng, 300, False)
    for p in (1, 2, 3):
        want = ot.emd2(np.full(250, 1 / 250), b, ot.dist(x, y, metric="euclidean") ** p, numItermax=10**7) ** (1 / p)
        assert dv.ot.wasserstein(x, y, p=p, b=b) == pytest.approx(want, rel=1e-10)
    assert dv.ot.wasserstein(x[:40], y[:50], p=2) == pytest.approx(reference.ot.wasserstein(x[:40], y[:50]), rel=1e-10)


def test_closed_forms():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3))
    # A translation moves every point by t: W_p = |t| for every p.
    for p in (1, 2, 4):
        assert dv.ot.wasserstein(x, x + [3.0, 4.0, 0.0], p=p) == pytest.approx(5.0, rel=1e-12)
    # In 1-D the optimal plan is monotone: W_p from the quantile functions.
    u, v = rng.normal(size=150), rng.exponential(size=170)
    for p in (1, 2, 3):
        assert dv.ot.wasserstein(u, v, p=p) == pytest.approx(dv.ot.wasserstein_1d(u, v, p=p), rel=1e-10)
    # Equal weights on n points each: an optimal assignment, a permutation matrix.
    res = dv.ot.emd([], [], ((x[:50, None] - x[None, 50:100]) ** 2).sum(-1))
    assert len(res.values) == 50 and np.allclose(res.values, 1 / 50)
    assert sorted(res.cols) == list(range(50))
    # Identical clouds: zero, and far from the origin or at huge scale too.
    assert dv.ot.wasserstein(x, x) == 0.0
    assert dv.ot.wasserstein(1e200 * x, 1e200 * (x + [3.0, 4.0, 0.0])) == pytest.approx(5e200, rel=1e-12)
    assert dv.ot.wasserstein(x, x + [3.0, 4.0, 0.0], p=8) == pytest.approx(5.0, rel=1e-12)


def test_mass_of_the_histograms_is_kept():
    M = np.array([[0.0, 2.0], [2.0, 0.0]])
    res = dv.ot.emd([2.0, 1.0], [1.0, 2.0], M)
    assert res.cost == pytest.approx(2.0)
    assert dv.ot.emd2([2.0, 1.0], [1.0, 2.0 + 1e-9], M) == pytest.approx(2.0, rel=1e-8)


def test_max_iter_warns_and_reports():
    rng = np.random.default_rng(2)
    M = rng.uniform(size=(30, 30))
    with pytest.warns(dv.ot.ConvergenceWarning, match="max_iter"):
        res = dv.ot.emd([], [], M, max_iter=3)
    assert (res.status, res.n_iter) == ("max_iter_reached", 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dv.ot.emd([], [], M).status == "optimal"


def test_same_result_for_any_number_of_threads():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(300, 40)), rng.normal(size=(280, 40))
    values = []
    for n in (1, 2, 3):
        with dv.threads(n):
            values.append(dv.ot.wasserstein(x, y))
    assert values[0] == values[1] == values[2]


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (([], [], [[1.0, -1.0]]), {}, "M must be non-negative"),
        (([], [], [[1.0, np.nan]]), {}, "NaN"),
        (([], [], [1.0, 2.0]), {}, "2-D"),
        (([0.5, 0.5], [], [[1.0, 2.0]]), {}, "length 1"),
        (([0.5, 0.6], [1.0], [[1.0], [2.0]]), {}, "same mass"),
        (([-0.5, 1.5], [1.0], [[1.0], [2.0]]), {}, "non-negative"),
        (([0.0, 0.0], [1.0], [[1.0], [2.0]]), {}, "no mass"),
        (([np.inf, 1.0], [1.0], [[1.0], [2.0]]), {}, "infinity"),
        (([], [], [[1.0]]), {"max_iter": 0}, "max_iter"),
    ],
)
def test_bad_emd_input_is_named(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        dv.ot.emd(*args, **kwargs)


def test_bad_wasserstein_input_is_named():
    x = np.zeros((5, 2))
    for p in (0, -1, 0.5, np.nan):
        with pytest.raises(ValueError, match="p"):
            dv.ot.wasserstein(x, x, p=p)
    with pytest.raises(ValueError, match="dimension|features"):
        dv.ot.wasserstein(x, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="a"):
        dv.ot.wasserstein(x, x, a=[1.0, 1.0])
