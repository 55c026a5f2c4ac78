"""wasserstein_1d and sliced_wasserstein: scipy, references, closed forms, bad input."""

import divergent as dv
import numpy as np
import pytest
import scipy.stats
from divergent import reference as ref
from divergent.ot._wasserstein import random_directions
from hypothesis import given
from hypothesis import strategies as st


@st.composite
def weighted_1d(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, m = draw(st.integers(1, 80)), draw(st.integers(1, 80))
    u = rng.normal(size=n) * draw(st.floats(0.1, 10))
    v = rng.standard_t(2, size=m) + draw(st.floats(-3, 3))
    if draw(st.booleans()):
        u = np.round(u)  # ties
        v = np.round(v)
    uw = rng.random(n) + 0.01 if draw(st.booleans()) else None
    vw = rng.random(m) + 0.01 if draw(st.booleans()) else None
    return u, v, uw, vw


@given(weighted_1d())
def test_p1_equals_scipy(data):
    u, v, uw, vw = data
    got = dv.ot.wasserstein_1d(u, v, u_weights=uw, v_weights=vw)
    want = scipy.stats.wasserstein_distance(u, v, u_weights=uw, v_weights=vw)
    assert got == pytest.approx(want, rel=1e-10, abs=1e-12)


@given(weighted_1d(), st.sampled_from([1.0, 1.5, 2.0, 3.0]))
def test_matches_reference_for_any_p(data, p):
    u, v, uw, vw = data
    got = dv.ot.wasserstein_1d(u, v, p=p, u_weights=uw, v_weights=vw)
    want = ref.ot.wasserstein_1d(u, v, p=p, u_weights=uw, v_weights=vw)
    assert got == pytest.approx(want, rel=1e-10, abs=1e-12)


def test_closed_forms(rng):
    u, v = rng.normal(size=100), rng.normal(size=100)
    for p in (1, 2, 3):
        want = np.mean(np.abs(np.sort(u) - np.sort(v)) ** p) ** (1 / p)
        assert dv.ot.wasserstein_1d(u, v, p=p) == pytest.approx(want, rel=1e-12)
        assert dv.ot.wasserstein_1d(u, u + 2.5, p=p) == pytest.approx(2.5, rel=1e-12)
    # Weight 3 on a point equals three copies of it.
    assert dv.ot.wasserstein_1d([0, 1], [2], u_weights=[3, 1], p=2) == pytest.approx(
        dv.ot.wasserstein_1d([0, 0, 0, 1], [2], p=2), rel=1e-14
    )


@given(
    n=st.integers(1, 60),
    m=st.integers(1, 60),
    d=st.integers(1, 6),
    p=st.sampled_from([1.0, 2.0, 2.5]),
    seed=st.integers(0, 10**6),
)
def test_sliced_matches_reference(n, m, d, p, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d)) * 2
    got = dv.ot.sliced_wasserstein(x, y, n_projections=25, p=p, seed=seed)
    assert got == pytest.approx(ref.ot.sliced_wasserstein(x, y, n_projections=25, p=p, seed=seed), rel=1e-10)


def test_sliced_translation_closed_form(rng):
    # y = x + t: every projection is a translate by theta . t, so W_p = |theta . t| exactly.
    x = rng.normal(size=(300, 4))
    t = np.array([1.0, -2.0, 0.5, 0.0])
    for p in (1, 2, 3):
        theta = random_directions(4, 200, 7)
        want = np.mean(np.abs(theta @ t) ** p) ** (1 / p)
        assert dv.ot.sliced_wasserstein(x, x + t, p=p, seed=7) == pytest.approx(want, rel=1e-12)
    # And for p = 2, E (theta . t)^2 = |t|^2 / d over uniform directions (within 4 SE).
    sq = (random_directions(4, 200, 7) @ t) ** 2
    assert dv.ot.sliced_wasserstein(x, x + t, seed=7) ** 2 == pytest.approx(sq.mean(), rel=1e-12)
    assert abs(sq.mean() - t @ t / 4) <= 4 * sq.std(ddof=1) / np.sqrt(len(sq))


@pytest.mark.parametrize(
    "call, err, match",
    [
        (lambda: dv.ot.wasserstein_1d([0, 1], [1, 2], p=0.5), ValueError, "p must be a finite number in \\[1, "),
        (lambda: dv.ot.wasserstein_1d([0, 1], [1, 2], p=np.inf), ValueError, "p must be"),
        (lambda: dv.ot.wasserstein_1d(np.zeros((3, 2)), [1, 2]), ValueError, "u must be 1-D samples"),
        (lambda: dv.ot.wasserstein_1d([], [1, 2]), ValueError, "u is empty"),
        (lambda: dv.ot.wasserstein_1d([0, np.nan], [1, 2]), ValueError, "u contains NaN"),
        (lambda: dv.ot.wasserstein_1d([0, 1], [1, 2], u_weights=[1, -1]), ValueError, "u_weights must be non-negative"),
        (lambda: dv.ot.wasserstein_1d([0, 1], [1, 2], v_weights=[0, 0]), ValueError, "v_weights are all zero"),
        (
            lambda: dv.ot.wasserstein_1d([0, 1], [1, 2], v_weights=[1]),
            ValueError,
            "v_weights must be a 1-D array of length 2",
        ),
        (lambda: dv.ot.sliced_wasserstein(np.zeros((3, 2)), np.zeros((3, 3))), ValueError, "same number of features"),
        (
            lambda: dv.ot.sliced_wasserstein(np.zeros((3, 2)), np.ones((3, 2)), n_projections=0),
            ValueError,
            "n_projections",
        ),
        (lambda: dv.ot.sliced_wasserstein(np.zeros((3, 2)), np.ones((3, 2)), p=0), ValueError, "p must be"),
        (lambda: dv.ot.sliced_wasserstein(np.zeros((3, 2)), np.ones((3, 2)), seed=-3), ValueError, "seed"),
    ],
)
def test_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()


@pytest.mark.parametrize("p, shift", [(400.0, 10.0), (400.0, 0.4), (1000.0, 1e-3), (3.0, 1e120)])
def test_high_orders_keep_the_cost_in_range(p, shift):
    # A pure shift: W_p = shift for every p, although shift^p leaves the float range.
    u = np.random.default_rng(2).normal(size=40)
    assert dv.ot.wasserstein_1d(u, u + shift, p=p) == pytest.approx(shift, rel=1e-12)
    x = np.random.default_rng(3).normal(size=(40, 3))
    e = np.array([1.0, 0.0, 0.0])
    # Sliced: each direction theta moves the points by shift * theta_1.
    got = dv.ot.sliced_wasserstein(x, x + shift * e, p=p, n_projections=50, seed=0)
    theta = random_directions(3, 50, 0)
    want = shift * np.mean(np.abs(theta[:, 0] / np.abs(theta[:, 0]).max()) ** p) ** (1 / p) * np.abs(theta[:, 0]).max()
    assert got == pytest.approx(want, rel=1e-10)
