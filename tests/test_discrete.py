"""divergent.discrete against scipy, identities, limits, properties and bad input."""

import divergent as dv
import numpy as np
import pytest
import scipy.spatial.distance as ssd
import scipy.special
import scipy.stats
from divergent import _core
from hypothesis import given
from hypothesis import strategies as st

D = dv.discrete


@st.composite
def prob_pairs(draw, with_zeros=True):
    """Two batches of probability vectors (B, V), optionally with zero entries."""
    b = draw(st.integers(1, 5))
    v = draw(st.integers(2, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    p = rng.dirichlet(np.full(v, draw(st.floats(0.1, 5))), size=b)
    q = rng.dirichlet(np.full(v, draw(st.floats(0.1, 5))), size=b)
    if with_zeros and draw(st.booleans()):
        p[:, 0] = 0
        p /= p.sum(-1, keepdims=True)
    return p, q


# Identities between two formulas are checked to rtol plus an absolute 1e-15: on
# quantities of order 1 that is round-off, and it keeps values near 0 (p close to q)
# from failing on the last bits of a difference.


@given(prob_pairs())
def test_kl_and_entropy_match_scipy(pq):
    p, q = pq
    np.testing.assert_allclose(D.kl(p, q), scipy.stats.entropy(p, q, axis=-1), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(D.entropy(p), scipy.stats.entropy(p, axis=-1), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(D.kl(p, q, base=2), scipy.stats.entropy(p, q, base=2, axis=-1), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(D.cross_entropy(p, q), D.entropy(p) + D.kl(p, q), rtol=1e-12, atol=1e-14)


@given(prob_pairs(), st.sampled_from([None, 2, 10]))
def test_js_matches_scipy_jensenshannon_squared(pq, base):
    p, q = pq
    want = ssd.jensenshannon(p, q, axis=-1, base=base) ** 2
    np.testing.assert_allclose(D.js(p, q, base=base), want, rtol=1e-10, atol=1e-14)


@given(prob_pairs())
def test_symmetry_and_bounds(pq):
    p, q = pq
    js = D.js(p, q)
    np.testing.assert_allclose(js, D.js(q, p), rtol=1e-13, atol=1e-16)
    assert np.all((js >= -1e-15) & (js <= np.log(2) + 1e-15))
    tv = D.tv(p, q)
    assert np.all((tv >= 0) & (tv <= 1 + 1e-15))
    assert np.all(D.kl(p, q) >= -1e-15)
    h = D.hellinger(p, q)
    np.testing.assert_allclose(h**2, 1 - np.sqrt(p * q).sum(-1), atol=1e-14)  # H^2 = 1 - BC


@given(prob_pairs(with_zeros=False))
def test_limits_in_alpha(pq):
    p, q = pq
    kl = D.kl(p, q)
    for eps in (1e-6, -1e-6):
        np.testing.assert_allclose(D.renyi(p, q, 1 + eps), kl, rtol=1e-4, atol=1e-8)
        np.testing.assert_allclose(D.tsallis(p, q, 1 + eps), kl, rtol=1e-4, atol=1e-8)
        np.testing.assert_allclose(D.alpha_divergence(p, q, -1 + eps), kl, rtol=1e-4, atol=1e-8)
        np.testing.assert_allclose(D.alpha_divergence(p, q, 1 + eps), D.kl(q, p), rtol=1e-4, atol=1e-8)
    # Near 0, D_alpha = D_0 + O(alpha KL(q || p)).
    np.testing.assert_allclose(
        D.renyi(p, q, 1e-12), D.renyi(p, q, 0), rtol=1e-6, atol=1e-12 * (1 + D.kl(q, p)).max() * 10
    )
    np.testing.assert_allclose(D.renyi(p, q, 1e4), D.renyi(p, q, np.inf), rtol=1e-2, atol=1e-3)
    np.testing.assert_allclose(D.renyi(p, q, np.inf), np.log((p / q).max(-1)), rtol=1e-12, atol=1e-15)
    # Renyi is non-decreasing in alpha; alpha = 1/2 is twice the Bhattacharyya distance.
    orders = [0.1, 0.5, 0.9, 2.0, 5.0]
    values = np.array([D.renyi(p, q, a) for a in orders])
    assert np.all(np.diff(values, axis=0) >= -1e-12)
    np.testing.assert_allclose(D.renyi(p, q, 0.5), -2 * np.log(np.sqrt(p * q).sum(-1)), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(D.alpha_divergence(p, q, 0), 4 * D.hellinger(p, q) ** 2, rtol=1e-10, atol=1e-15)


@given(prob_pairs(with_zeros=False))
def test_f_divergence_generators(pq):
    p, q = pq
    np.testing.assert_allclose(D.f_divergence(p, q, lambda t: t * np.log(t)), D.kl(p, q), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(D.f_divergence(p, q, lambda t: (t - 1) ** 2), D.chi2(p, q), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(D.f_divergence(p, q, lambda t: 0.5 * np.abs(t - 1)), D.tv(p, q), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(D.chi2(p, q, kind="neyman"), D.chi2(q, p), rtol=1e-12)


def test_zero_conventions_without_warnings():
    # pytest runs with filterwarnings=error: any RuntimeWarning fails these.
    p, q = np.array([0.5, 0.5, 0.0]), np.array([1.0, 0.0, 0.0])
    assert D.kl(q, p) == pytest.approx(np.log(2))
    assert D.kl(p, q) == np.inf
    assert D.chi2(p, q) == np.inf and D.chi2(q, p) == pytest.approx(1.0)
    assert D.cross_entropy(p, q) == np.inf
    assert D.renyi(p, q, 2.0) == np.inf and D.renyi(p, q, 0.5) < np.inf
    assert D.renyi(p, q, 0) == pytest.approx(0.0) and D.renyi(p, q, np.inf) == np.inf
    assert D.f_divergence(p, q, lambda t: t * np.log(t)) == np.inf
    assert D.entropy([1.0, 0.0]) == 0.0
    assert D.js([1, 0], [0, 1], base=2) == pytest.approx(1.0)
    # alpha = 3: sum p^-1 q^2 is finite here (q > 0 only where p > 0), infinite swapped.
    assert D.alpha_divergence(p, q, 3.0) == pytest.approx(-0.5 * (1 - 2.0))
    assert D.alpha_divergence(q, p, 3.0) == np.inf


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, axis", [((7, 33), -1), ((3, 4, 17), 1), ((40,), 0)])
def test_logits_fused_path_matches_probabilities(dtype, shape, axis, rng):
    a = (rng.normal(size=shape) * 4).astype(dtype)
    b = (rng.normal(size=shape) * 4).astype(dtype)
    p = scipy.special.softmax(a.astype(np.float64), axis=axis)
    q = scipy.special.softmax(b.astype(np.float64), axis=axis)
    np.testing.assert_allclose(D.kl(a, b, axis=axis, from_logits=True), D.kl(p, q, axis=axis), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(D.js(a, b, axis=axis, from_logits=True), D.js(p, q, axis=axis), rtol=1e-10, atol=1e-14)
    ref = dv.reference.discrete
    np.testing.assert_allclose(
        D.kl(a, b, axis=axis, from_logits=True), ref.kl(a, b, axis=axis, from_logits=True), rtol=1e-10, atol=1e-14
    )
    np.testing.assert_allclose(
        D.js(a, b, axis=axis, from_logits=True), ref.js(a, b, axis=axis, from_logits=True), rtol=1e-10, atol=1e-14
    )
    # The fused kernel's reverse mode is KL with the arguments swapped.
    a2 = np.ascontiguousarray(np.moveaxis(a, axis, -1)).reshape(-1, shape[axis])
    b2 = np.ascontiguousarray(np.moveaxis(b, axis, -1)).reshape(-1, shape[axis])
    np.testing.assert_allclose(
        _core.rowwise_logits_divergence(a2, b2, "reverse_kl"), _core.rowwise_logits_divergence(b2, a2, "kl"), rtol=1e-12
    )


def test_logits_of_plus_minus_1e4_are_stable():
    a = np.array([[1e4, -1e4, 0.0]])
    b = np.array([[-1e4, 1e4, 0.0]])
    assert D.kl(a, b, from_logits=True)[0] == pytest.approx(2e4, rel=1e-12)
    assert D.js(a, b, from_logits=True)[0] == pytest.approx(np.log(2), rel=1e-12)
    # The NumPy path (broadcasting prevents fusion) agrees.
    assert D.kl(a, b[0], from_logits=True)[0] == pytest.approx(2e4, rel=1e-12)
    assert D.entropy(a, from_logits=True)[0] == pytest.approx(0.0, abs=1e-12)


def test_batches_broadcast_and_scalars():
    p = np.array([[0.2, 0.8], [0.5, 0.5]])
    assert D.kl(p, [0.5, 0.5]).shape == (2,)
    assert isinstance(D.kl([0.2, 0.8], [0.5, 0.5]), float)
    np.testing.assert_allclose(D.tv(p.T, [[0.5], [0.5]], axis=0), D.tv(p, [0.5, 0.5]))


@pytest.mark.parametrize(
    "call, err, match",
    [
        (lambda: D.kl([0.5, -0.5, 1.0], [0.3, 0.3, 0.4]), ValueError, "p has negative entries"),
        (lambda: D.kl([0.5, 0.4], [0.5, 0.5]), ValueError, "p does not sum to 1.*normalize=True"),
        (lambda: D.kl([0.5, 0.5], [np.nan, 1.0]), ValueError, "q contains NaN"),
        (lambda: D.kl(np.ones((2, 3)) / 3, np.ones((4, 3)) / 3), ValueError, "do not broadcast"),
        (lambda: D.kl([1.0], [1.0], axis=2), ValueError, "axis 2 is out of bounds"),
        (lambda: D.kl(0.5, 0.5), ValueError, "scalar"),
        (lambda: D.kl(["a"], ["b"]), TypeError, "numeric"),
        (lambda: D.renyi([0.5, 0.5], [0.5, 0.5], -1), ValueError, "alpha must be a non-negative number"),
        (lambda: D.renyi([0.5, 0.5], [0.5, 0.5], np.nan), TypeError, "alpha must be a non-negative number"),
        (lambda: D.tsallis([0.5, 0.5], [0.5, 0.5], 0), ValueError, "alpha must be a positive"),
        (lambda: D.alpha_divergence([0.5, 0.5], [0.5, 0.5], np.inf), ValueError, "finite"),
        (lambda: D.js([0.5, 0.5], [0.5, 0.5], base=1), ValueError, "base must be"),
        (lambda: D.chi2([0.5, 0.5], [0.5, 0.5], kind="cressie"), ValueError, "unknown kind"),
        (lambda: D.f_divergence([0.5, 0.5], [0.5, 0.5], "kl"), TypeError, "callable"),
        (lambda: D.f_divergence([0.5, 0.5], [0.5, 0.5], lambda t: 1.0), ValueError, "elementwise"),
        (lambda: D.kl([[0.0, np.nan]], [[0.0, 1.0]], from_logits=True), ValueError, "NaN"),
        (lambda: D.kl([0.0, np.inf], [0.0, 1.0], from_logits=True), ValueError, "NaN or infinit"),
        (lambda: D.kl(np.zeros((2, 0)), np.zeros((2, 0))), ValueError, "empty class axis"),
        (lambda: D.kl(np.zeros((2, 0)), np.zeros((2, 0)), from_logits=True), ValueError, "empty class axis"),
    ],
)
def test_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_normalize_opt_in():
    assert D.kl([1, 3], [2, 2], normalize=True) == pytest.approx(D.kl([0.25, 0.75], [0.5, 0.5]))
    with pytest.raises(ValueError, match="sums to 0"):
        D.kl([0, 0], [1, 1], normalize=True)


def test_huge_orders_overflow_to_a_named_error_not_inf():
    p, q = [0.3, 0.7], [0.6, 0.4]
    with pytest.raises(ValueError, match="alpha_divergence is outside float64's range.*alpha"):
        dv.discrete.alpha_divergence(p, q, 1e300)
    with pytest.raises(ValueError, match="tsallis is outside float64's range.*alpha"):
        dv.discrete.tsallis(p, q, 1e300)
    # Equal distributions: S = 1 up to round-off, and the value is ~0, not an error.
    assert abs(dv.discrete.tsallis(p, p, 1e300)) < 1e-290
    # Orders whose coefficient underflows, and moderately large ones, agree with the
    # direct formula where that is finite.
    a = 50.0
    s = sum(pi**a * qi ** (1 - a) for pi, qi in zip(p, q))
    assert dv.discrete.tsallis(p, q, a) == pytest.approx((s - 1) / (a - 1), rel=1e-12)
    s = sum(pi ** ((1 - a) / 2) * qi ** ((1 + a) / 2) for pi, qi in zip(p, q))
    assert dv.discrete.alpha_divergence(p, q, a) == pytest.approx(4 / (1 - a * a) * (1 - s), rel=1e-12)


def test_f_divergence_checks_what_f_returns():
    p, q = [0.3, 0.7], [0.6, 0.4]
    with pytest.raises(ValueError, match="f returned NaN at the ratio"):
        dv.discrete.f_divergence(p, q, lambda t: t * np.nan)
    with pytest.raises(TypeError, match="f's result"):
        dv.discrete.f_divergence(p, q, lambda t: t.astype(str))


def test_axis_must_be_an_integer():
    with pytest.raises(TypeError, match="axis must be an integer"):
        dv.discrete.kl([0.3, 0.7], [0.6, 0.4], axis=1.0)
    with pytest.raises(TypeError, match="axis must be an integer"):
        dv.discrete.kl(np.zeros((3, 2)), np.zeros((3, 2)), axis=1.0, from_logits=True)


@pytest.mark.parametrize("bad", ["p", "q"])
def test_fused_logits_name_the_argument_with_nan(bad):
    logits = {"p": np.zeros((200, 3)), "q": np.zeros((200, 3))}
    logits[bad][7, 1] = np.nan
    with pytest.raises(ValueError, match=f"^{bad} contains NaN or infinite logits \\(row 7"):
        dv.discrete.kl(logits["p"], logits["q"], from_logits=True)


def test_probabilities_must_be_real():
    with pytest.raises(TypeError, match="p has complex dtype"):
        dv.discrete.kl(np.array([0.5, 0.5]) + 0j, [0.5, 0.5])


def test_float32_softmax_outputs_are_probability_vectors():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 50_000)).astype(np.float32) * 3
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)  # float32 sums: off 1 by up to ~1e-6
    want = dv.discrete.kl(logits[:, ::-1].astype(np.float64), logits.astype(np.float64), from_logits=True)
    got = dv.discrete.kl(p[:, ::-1], p)
    assert np.allclose(got, want, rtol=1e-4)
    # float64 vectors keep the 1e-8 tolerance.
    with pytest.raises(ValueError, match="does not sum to 1"):
        dv.discrete.kl(np.array([0.5, 0.5 + 1e-7]), np.array([0.5, 0.5]))
