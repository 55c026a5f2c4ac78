"""divergent.logits: the fused kernel against its NumPy twin, known answers (banned
tokens, temperatures, masks, reductions), half-precision input, the sampled-token
estimators, and bad input."""

import dataclasses
import math
import warnings

import divergent as dv
import numpy as np
import pytest
from divergent import reference
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import log_softmax, rel_entr, softmax

L = dv.logits
R = reference.logits
# The divergences without an order, and those with one (each on both sides of its
# special values): all run in the fused kernel.
ALL = ["kl", "reverse_kl", "js", "tv", "hellinger", "cross_entropy"]
FUSED = ALL
ORDERED = [("generalized_js", 0.1), ("generalized_js", 0.7), *[("renyi", a) for a in (0.0, 0.5, 3.0, math.inf)]]


def pair(seed, shape, dtype=np.float64, spread=3.0, shift=0.5):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=shape) * spread
    b = a + rng.normal(size=shape) * shift
    return a.astype(dtype), b.astype(dtype)


@given(
    lead=st.sampled_from([(), (1,), (7,), (3, 5), (2, 1, 4)]),
    v=st.integers(1, 300),
    dtype=st.sampled_from([np.float32, np.float64]),
    temperature=st.sampled_from([0.5, 1.0, 2.5]),
    seed=st.integers(0, 2**16),
)
def test_fused_kernel_matches_numpy_twin(lead, v, dtype, temperature, seed):
    a, b = pair(seed, lead + (v,), dtype)
    for name, args in [(name, ()) for name in ALL] + [(name, (order,)) for name, order in ORDERED]:
        got = getattr(L, name)(a, b, *args, temperature=temperature, reduction="none")
        want = getattr(reference.logits, name)(a, b, *args, temperature=temperature, reduction="none")
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14, err_msg=f"{name}{args}")
    got = L.entropy(a, temperature=temperature, reduction="none")
    np.testing.assert_allclose(got, R.entropy(a, temperature=temperature, reduction="none"), rtol=1e-10, atol=1e-14)


def test_scipy_known_answers_for_every_divergence():
    a, b = pair(1, (6, 40))
    p, q = softmax(a, axis=-1), softmax(b, axis=-1)
    want = {
        "kl": rel_entr(p, q).sum(-1),
        "reverse_kl": rel_entr(q, p).sum(-1),
        "js": 0.5 * (rel_entr(p, (p + q) / 2).sum(-1) + rel_entr(q, (p + q) / 2).sum(-1)),
        "tv": 0.5 * np.abs(p - q).sum(-1),
        "hellinger": np.sqrt(0.5 * ((np.sqrt(p) - np.sqrt(q)) ** 2).sum(-1)),
        "cross_entropy": -(p * np.log(q)).sum(-1),
    }
    for name, w in want.items():
        np.testing.assert_allclose(getattr(L, name)(a, b, reduction="none"), w, rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(L.entropy(a, reduction="none"), -(p * np.log(p)).sum(-1), rtol=1e-12)
    beta = 0.3
    m = beta * p + (1 - beta) * q
    gjs = beta * rel_entr(p, m).sum(-1) + (1 - beta) * rel_entr(q, m).sum(-1)
    np.testing.assert_allclose(L.generalized_js(a, b, beta, reduction="none"), gjs, rtol=1e-12)
    np.testing.assert_allclose(L.generalized_js(a, b, 0.5, reduction="none"), want["js"], rtol=1e-12)
    for alpha in [0.5, 2.0]:
        r = np.log((p**alpha * q ** (1 - alpha)).sum(-1)) / (alpha - 1)
        np.testing.assert_allclose(L.renyi(a, b, alpha, reduction="none"), r, rtol=1e-12)
    np.testing.assert_allclose(L.renyi(a, b, 1.0, reduction="none"), want["kl"], rtol=1e-12)
    np.testing.assert_allclose(L.renyi(a, b, math.inf, reduction="none"), np.log(p / q).max(-1), rtol=1e-12)
    np.testing.assert_allclose(L.renyi(a, b, 0.0, reduction="none"), np.zeros(6), atol=1e-15)


def test_banned_tokens_known_answers():
    ninf = -np.inf
    # p = (1/2, 1/2, 0), q = (1/4, 1/4, 1/2).
    a = np.array([0.0, 0.0, ninf])
    b = np.log([0.25, 0.25, 0.5])
    assert L.kl(a, b) == pytest.approx(math.log(2), rel=1e-14)
    with pytest.warns(RuntimeWarning, match=r"KL\(q \|\| p\) is \+inf"):
        assert L.reverse_kl(a, b) == math.inf
    m = np.array([3 / 8, 3 / 8, 1 / 4])
    js = 0.5 * (rel_entr([0.5, 0.5, 0], m).sum() + rel_entr([0.25, 0.25, 0.5], m).sum())
    for f in (L.js, reference.logits.js):
        assert f(a, b) == pytest.approx(js, rel=1e-14)
    assert L.tv(a, b) == pytest.approx(0.5, rel=1e-14)
    assert L.entropy(a) == pytest.approx(math.log(2), rel=1e-14)
    # A token banned under both is the same as no token; in float32, too. The fused KL is
    # a difference of O(1) terms, so it agrees to ~1e-16 absolute, not relative.
    a2, b2 = pair(3, (4, 9))
    a3, b3 = np.insert(a2, 4, ninf, axis=1), np.insert(b2, 4, ninf, axis=1)
    for name in ALL:
        np.testing.assert_allclose(
            getattr(L, name)(a3, b3, reduction="none"),
            getattr(L, name)(a2, b2, reduction="none"),
            rtol=1e-13,
            atol=1e-15,
        )
        np.testing.assert_allclose(
            getattr(L, name)(a3.astype(np.float32), b3.astype(np.float32), reduction="none"),
            getattr(L, name)(a2.astype(np.float32), b2.astype(np.float32), reduction="none"),
            rtol=1e-13,
            atol=1e-15,
        )


def test_banned_token_warning_names_the_first_position():
    a, b = pair(4, (3, 5, 8))
    b[1, 2, 6] = -np.inf
    b[2, 0, 1] = -np.inf
    with pytest.warns(RuntimeWarning, match=r"position \(1, 2\) \(2 position"):
        values = L.kl(a, b, reduction="none")
    assert np.isinf(values).sum() == 2 and np.isfinite(L.js(a, b, reduction="none")).all()


def test_temperature_divides_both_logits():
    a, b = pair(5, (5, 30))
    for t in [0.3, 2.0]:
        np.testing.assert_allclose(L.kl(a, b, temperature=t), L.kl(a / t, b / t), rtol=1e-13)
        np.testing.assert_allclose(L.tv(a, b, temperature=t), L.tv(a / t, b / t), rtol=1e-13)
        p, q = softmax(a / t, axis=-1), softmax(b / t, axis=-1)
        assert L.kl(a, b, temperature=t, reduction="sum") == pytest.approx(rel_entr(p, q).sum(), rel=1e-12)


def test_reductions_and_mask():
    a, b = pair(6, (4, 6, 20))
    mask = np.random.default_rng(0).random((4, 6)) < 0.6
    a[~mask] = np.nan  # padding: never read
    for name in ALL:
        f = getattr(L, name)
        full = getattr(L, name)(np.where(mask[..., None], a, 0.0), b, reduction="none")
        none = f(a, b, mask=mask, reduction="none")
        assert none.shape == (4, 6)
        np.testing.assert_array_equal(none[~mask], 0.0)
        np.testing.assert_allclose(none[mask], full[mask], rtol=1e-13)
        assert f(a, b, mask=mask, reduction="sum") == pytest.approx(full[mask].sum(), rel=1e-13)
        assert f(a, b, mask=mask) == pytest.approx(full[mask].mean(), rel=1e-13)
        assert f(a, b, mask=mask, reduction="batchmean") == pytest.approx(full[mask].sum() / 4, rel=1e-13)
    with pytest.raises(ValueError, match="mask excludes every position"):
        L.kl(a, b, mask=np.zeros((4, 6), bool))


def test_leading_shapes_broadcast():
    a, b = pair(7, (3, 10))
    got = L.kl(a[:, None, :], b[None, :, :], reduction="none")
    assert got.shape == (3, 3)
    np.testing.assert_allclose(got[1, 2], L.kl(a[1], b[2]), rtol=1e-14)


def half_dtypes():
    dtypes = [np.dtype(np.float16)]
    try:
        import ml_dtypes
    except ImportError:
        return dtypes
    return dtypes + [np.dtype(ml_dtypes.bfloat16)]


@pytest.mark.parametrize("dtype", half_dtypes(), ids=lambda d: d.name)
def test_float16_and_bfloat16_read_as_their_float32_values(dtype):
    """Half logits are read from their bits in Rust: the same bits as the float32 values of the same logits, for
    contiguous, strided and broadcast inputs, banned tokens, masks and a mix of dtypes."""
    a, b = pair(8, (6, 53), dtype)
    a[1, 3] = b[2, 7] = a[4, 0] = b[4, 0] = -np.inf
    wide = (a.astype(np.float32), b.astype(np.float32))
    mask = np.arange(6) % 4 != 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # p > 0 where q bans a token: +inf
        for name in ALL:
            f = getattr(L, name)
            np.testing.assert_array_equal(f(a, b, reduction="none"), f(*wide, reduction="none"), err_msg=name)
        for name in FUSED:
            f = getattr(L, name)
            for x, y in [
                (a[:, ::2], b[:, ::2]),
                (a.T.copy().T, b),
                (a[None, 2], b),
                (a, b.astype(np.float32)),
            ]:
                np.testing.assert_array_equal(
                    f(x, y, reduction="none"),
                    f(x.astype(np.float32), y.astype(np.float32), reduction="none"),
                    err_msg=name,
                )
            assert f(a, b, mask=mask) == f(*wide, mask=mask)
    bad = a.copy()
    bad[3, 5] = np.nan
    with pytest.raises(ValueError, match=r"p_logits has NaN at position \(3,\)"):
        L.kl(bad, b)


def test_results_do_not_depend_on_the_thread_count():
    a, b = pair(9, (64, 1000), np.float32)

    def every():
        return [getattr(L, n)(a, b, reduction="none") for n in ALL] + [L.renyi(a, b, 3.0, reduction="none")]

    with dv.threads(1):
        one = every()
    with dv.threads(2):
        two = every()
    for x, y in zip(one, two):
        np.testing.assert_array_equal(x, y)


def test_array_protocols_are_read():
    a, b = pair(10, (3, 12))

    class Dl:
        def __init__(self, arr):
            self.arr = arr

        def __dlpack__(self, **kwargs):
            return self.arr.__dlpack__(**kwargs)

        def __dlpack_device__(self):
            return self.arr.__dlpack_device__()

    class Arr:
        def __init__(self, arr):
            self.arr = arr

        def __array__(self, dtype=None, copy=None):
            return self.arr

    assert L.kl(Dl(a), Arr(b)) == L.kl(a, b)


def test_discrete_from_logits_uses_the_same_kernel():
    a, b = pair(11, (5, 33))
    np.testing.assert_allclose(dv.discrete.kl(a, b, from_logits=True), L.kl(a, b, reduction="none"), rtol=1e-15)
    np.testing.assert_allclose(dv.discrete.js(a, b, from_logits=True), L.js(a, b, reduction="none"), rtol=1e-15)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda a, b: L.kl(a, b[:, :5]), ValueError, "vocabularies of 8 and 5"),
        (lambda a, b: L.kl(a, b[:2]), ValueError, "do not broadcast"),
        (lambda a, b: L.kl(a[:, :0], b[:, :0]), ValueError, "empty vocabulary"),
        (lambda a, b: L.kl(a, b, mask=np.ones(4)), TypeError, "mask must be a boolean"),
        (lambda a, b: L.kl(a, b, mask=np.ones(3, bool)), ValueError, "mask has shape"),
        (lambda a, b: L.kl(a, b, temperature=0.0), dv.InvalidParameterError, "temperature"),
        (lambda a, b: L.kl(a, b, temperature=math.inf), dv.InvalidParameterError, "temperature"),
        (lambda a, b: L.kl(a, b, reduction="avg"), dv.InvalidParameterError, "reduction"),
        (lambda a, b: L.kl(a.astype(int), b), TypeError, "p_logits has dtype int"),
        (lambda a, b: L.kl(a, b.astype(complex)), TypeError, "q_logits has dtype complex"),
        (lambda a, b: L.kl(1.0, b), ValueError, "scalar"),
        (lambda a, b: L.generalized_js(a, b, 0.0), dv.InvalidParameterError, "beta"),
        (lambda a, b: L.generalized_js(a, b, 1.0), dv.InvalidParameterError, "beta"),
        (lambda a, b: L.renyi(a, b, -1.0), dv.InvalidParameterError, "alpha"),
        (lambda a, b: L.kl(a * 1e300, b, temperature=1e-10), ValueError, "temperature=1e-10"),
    ],
)
def test_bad_input(call, error, match):
    a, b = pair(12, (4, 8))
    with pytest.raises(error, match=match):
        call(a, b)


@pytest.mark.parametrize("name", ALL + ["generalized_js", "renyi"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_logits_name_the_argument_and_position(name, dtype):
    f = getattr(L, name)
    args = (0.5,) if name in ("generalized_js", "renyi") else ()
    a, b = pair(13, (2, 3, 8), dtype)
    for which, value, what in [(0, np.nan, "NaN"), (1, np.inf, r"\+inf"), (0, "row", "-inf for every token")]:
        x, y = a.copy(), b.copy()
        target = (x, y)[which]
        if value == "row":
            target[1, 2, :] = -np.inf
        else:
            target[1, 2, 5] = value
        with pytest.raises(ValueError, match=rf"{['p_logits', 'q_logits'][which]} has {what}.*\(1, 2\)"):
            f(x, y, *args)


def test_sampled_token_estimators_converge_to_the_exact_kl():
    rng = np.random.default_rng(14)
    a, b = rng.normal(size=50), rng.normal(size=50) * 0.5
    lp, lq = log_softmax(a), log_softmax(b)
    exact = L.kl(a, b)
    tokens = rng.choice(50, size=100_000, p=np.exp(lp))
    for estimator in ["k1", "k3"]:
        values = L.kl_from_logprobs(lp[tokens], lq[tokens], estimator=estimator)
        sem = values.std() / math.sqrt(values.size)
        assert abs(values.mean() - exact) < 3 * sem, estimator
    k3 = L.kl_from_logprobs(lp[tokens], lq[tokens])
    assert (k3 >= 0).all()
    k2 = L.kl_from_logprobs(lp[tokens], lq[tokens], estimator="k2", reduction="mean")
    # E[k2] = E[(log r)^2] / 2, exact from the full distributions.
    assert k2 == pytest.approx(0.5 * (np.exp(lp) * (lq - lp) ** 2).sum(), rel=0.05)


def test_sampled_token_reductions_mask_and_errors():
    rng = np.random.default_rng(15)
    lp, lq = -rng.random((3, 7)), -rng.random((3, 7))
    mask = rng.random((3, 7)) < 0.7
    k1 = L.kl_from_logprobs(lp, lq, estimator="k1", mask=mask)
    np.testing.assert_allclose(k1, np.where(mask, lp - lq, 0.0))
    seq = L.kl_from_logprobs(lp, lq, estimator="k1", mask=mask, reduction="sequence")
    np.testing.assert_allclose(seq, np.where(mask, lp - lq, 0.0).sum(-1))
    assert L.kl_from_logprobs(lp, lq, "k1", mask, "mean") == pytest.approx((lp - lq)[mask].mean())
    with pytest.warns(RuntimeWarning, match="position \\(0, 0\\)"):
        lq2 = lq.copy()
        lq2[0, 0] = -np.inf
        L.kl_from_logprobs(lp, lq2)
    with pytest.raises(ValueError, match="logp has nan at position"):
        L.kl_from_logprobs(np.where(mask, lp, np.nan), lq)
    assert np.isfinite(L.kl_from_logprobs(np.where(mask, lp, np.nan), lq, mask=mask)).all()
    with pytest.raises(ValueError, match="> 0"):
        L.kl_from_logprobs(-lp, lq)
    with pytest.raises(dv.InvalidParameterError, match="estimator"):
        L.kl_from_logprobs(lp, lq, estimator="k4")
    with pytest.raises(ValueError, match="shapes"):
        L.kl_from_logprobs(lp, lq[:, :3])


def report_close(got, want, percentile_rtol=1.001e-3):
    """KLReport fields: exact ones to round-off, percentiles within the sketch's error."""
    assert got.n_tokens == want.n_tokens
    for field in ("mean", "sem", "max", "top1_agreement", "delta_p_mean", "delta_p_rms"):
        np.testing.assert_allclose(getattr(got, field), getattr(want, field), rtol=1e-10, atol=1e-15, err_msg=field)
    for field in ("median", "p90", "p95", "p99", "p999"):
        np.testing.assert_allclose(getattr(got, field), getattr(want, field), rtol=percentile_rtol, err_msg=field)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_agreement_matches_reference(dtype):
    a, b = pair(21, (4, 30, 40), dtype, shift=1.0)
    a[0, 0, :3] = a[0, 0].max()  # ties: the first index is the top token
    b[1, 2, int(np.argmax(a[1, 2]))] = -np.inf  # q bans p's top token: delta_p = p(t)
    mask = np.random.default_rng(1).random((4, 30)) > 0.3
    for temperature, m in [(1.0, None), (0.5, mask), (3.0, mask)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for reduction in ("mean", "sum"):
                got = L.agreement(a, b, temperature=temperature, mask=m, reduction=reduction)
                want = R.agreement(a, b, temperature=temperature, mask=m, reduction=reduction)
                np.testing.assert_allclose(got, want, rtol=1e-12)
            per = L.agreement(a, b, temperature=temperature, mask=m, reduction="none")
    assert per.top1.shape == per.delta_p.shape == (4, 30)
    assert per.top1[mask].sum() == L.agreement(a, b, mask=mask, temperature=3.0, reduction="sum").top1
    assert np.all(per.top1[~mask] == 0)


def test_agreement_known_answer():
    p = np.log(np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]]))
    q = np.log(np.array([[0.4, 0.5, 0.1], [0.2, 0.7, 0.1]]))
    top1, delta = L.agreement(p, q)
    assert top1 == 0.5
    assert delta == pytest.approx((0.1 + 0.1) / 2, rel=1e-14)


def test_kl_stats_match_reference_for_any_chunking():
    a, b = pair(22, (600, 257), np.float32, shift=0.6)
    b[5, int(np.argmax(a[5]))] -= 30  # one large KL: the tail percentiles see it
    mask = np.random.default_rng(2).random(600) > 0.1
    want = R.KLStats(temperature=0.8).update(a, b, mask).report()
    one = L.KLStats(temperature=0.8).update(a, b, mask).report()
    report_close(one, want)
    chunked = L.KLStats(temperature=0.8)
    for s in range(0, 600, 77):
        chunked.update(a[s : s + 77], b[s : s + 77], mask[s : s + 77])
    report_close(chunked.report(), want)
    left, right = L.KLStats(temperature=0.8), L.KLStats(temperature=0.8)
    left.update(a[:250], b[:250], mask[:250])
    right.update(a[250:], b[250:], mask[250:])
    merged = left.merge(right).report()
    report_close(merged, want)
    # The sketch is split-invariant: the percentiles are the same bits.
    assert (merged.median, merged.p99, merged.p999) == (one.median, one.p99, one.p999)
    assert merged.n_tokens == int(mask.sum())


def test_kl_stats_leading_shapes_half_input_and_mean_of_kl():
    a, b = pair(23, (3, 50, 64), np.float16)
    stats = L.KLStats().update(a, b)
    rep = stats.report()
    assert rep.n_tokens == 150 == stats.n_tokens
    assert rep.mean == pytest.approx(L.kl(a, b), rel=1e-12)
    report_close(rep, R.KLStats().update(a, b).report())
    d = rep.to_dict()
    assert list(d) == [f.name for f in dataclasses.fields(L.KLReport)]
    assert "same top token" in str(rep)


def test_quantile_sketch_relative_error():
    """Percentiles of 10^5 log-normal values spread over 12 decades, and exact zeros,
    within the stated relative error of NumPy's order statistics."""
    from divergent.logits._stats import QuantileSketch

    rng = np.random.default_rng(4)
    values = np.exp(rng.normal(-8, 6, size=100_000))
    values[:5000] = 0.0
    sketch = QuantileSketch()
    sketch.add(values[:30_000])
    sketch.add(values[30_000:])
    for q in (0.0, 0.01, 0.05, 0.3, 0.5, 0.9, 0.99, 0.999, 1.0):
        want = np.percentile(values, 100 * q, method="lower")
        got = sketch.quantile(q, values.max())
        assert got == pytest.approx(want, rel=QuantileSketch.ALPHA * (1 + 1e-9), abs=0), q


def test_kl_stats_infinite_kl_and_bad_use():
    a, b = pair(24, (10, 8))
    b[3, int(np.argmax(a[3]))] = -np.inf
    stats = L.KLStats()
    with pytest.warns(RuntimeWarning, match=r"position \(3,\)"):
        stats.update(a, b)
    rep = stats.report()
    assert rep.mean == rep.sem == rep.max == math.inf
    assert rep.median < math.inf
    with pytest.raises(ValueError, match="no tokens"):
        L.KLStats().report()
    with pytest.raises(ValueError, match="no tokens"):
        L.KLStats().update(a, b, mask=np.zeros(10, bool)).report()
    with pytest.raises(TypeError, match="KLStats"):
        L.KLStats().merge(L.kl)
    with pytest.raises(dv.InvalidParameterError, match="temperature"):
        L.KLStats().merge(L.KLStats(temperature=2.0))
    with pytest.raises(dv.InvalidParameterError, match="temperature"):
        L.KLStats(temperature=0.0)
    with pytest.raises(ValueError, match="NaN"):
        L.KLStats().update(np.full((2, 4), np.nan), b[:2, :4])


def head_by_hand(a, k=None, top_p=None, temperature=1.0):
    """p's logits with the tokens outside its head at -inf, row by row with a sort."""
    out = np.array(a, dtype=np.float64)
    for row in out.reshape(-1, out.shape[-1]):
        order = np.argsort(-row, kind="stable")
        keep = row >= row[order[k - 1]] if k is not None else np.ones(row.size, bool)
        if top_p is not None:
            r = np.where(keep, row, -np.inf) / temperature
            prob = np.exp(r - r.max())
            prob /= prob.sum()
            mass = np.cumsum(prob[order])
            n = min(int(np.searchsorted(mass, top_p)), row.size - 1)  # first reaching top_p
            keep &= row >= row[order[n]]
        row[~keep] = -np.inf
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_top_k_and_top_p_truncate_p_and_renormalise(dtype):
    a, b = pair(25, (3, 7, 50), dtype, shift=0.7)
    a[0, 0, [4, 9]] = a[0, 0].max()  # a tie at the top
    a = a.astype(dtype)
    wide = a.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # reverse KL of a truncated p: +inf
        for k, top_p, t in [(1, None, 1.0), (5, None, 1.0), (None, 0.5, 1.0), (None, 0.9, 2.0), (10, 0.8, 0.7)]:
            cut = head_by_hand(wide, k, top_p, t)
            for name in ALL + ["renyi"]:
                f = getattr(L, name)
                extra = {"alpha": 0.5} if name == "renyi" else {}
                got = f(a, b, top_k=k, top_p=top_p, temperature=t, reduction="none", **extra)
                want = f(cut, b.astype(np.float64), temperature=t, reduction="none", **extra)
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300, err_msg=f"{name} {k} {top_p}")
            got = L.entropy(a, top_k=k, top_p=top_p, temperature=t, reduction="none")
            np.testing.assert_allclose(got, L.entropy(cut, temperature=t, reduction="none"), rtol=1e-12, atol=1e-300)
    assert np.all(L.entropy(a, top_k=1, reduction="none")[0, 1:] == 0)
    np.testing.assert_allclose(L.entropy(a[0, 0], top_k=1), math.log(3), rtol=1e-14)  # a tie of three
    # No-ops: every token kept.
    for f in (L.kl, L.js):
        assert f(a, b, top_k=50) == f(a, b) == f(a, b, top_p=1.0)


def test_truncation_bad_input():
    a, b = pair(26, (4, 10))
    for kwargs, says in [
        ({"top_k": 0}, "top_k"),
        ({"top_k": 11}, "vocabulary size V = 10"),
        ({"top_k": 2.5}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
    ]:
        with pytest.raises(dv.InvalidParameterError, match=says):
            L.kl(a, b, **kwargs)
    bad = a.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match=r"p_logits has NaN at position \(2,\)"):
        L.kl(bad, b, top_k=3)
