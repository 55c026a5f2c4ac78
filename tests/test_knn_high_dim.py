"""k-NN estimators on embeddings (d = 32 to 128): brute force on the Gram path against
the cKDTree references, float32 input against the same values as float64, and the
search itself against the k-d tree (same neighbours, distances and tie-breaking)."""

import divergent as dv
import numpy as np
import pytest
from divergent import _core
from divergent import reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st


def embeddings(rng, n, d, offset=0.0):
    return rng.normal(size=(n, d)) + offset


@pytest.mark.parametrize("d", [32, 128])
def test_estimators_match_the_reference(rng, d):
    x = embeddings(rng, 400, d)
    y = embeddings(rng, 300, d) + 0.2
    cases = [
        (dv.entropy, ref.entropy, (x,), {"k": 3}),
        (dv.kl_divergence, ref.kl_divergence, (x, y), {"k": 2}),
        (dv.renyi_divergence, ref.renyi_divergence, (x, y), {"k": 5, "alpha": 0.8}),
        (dv.js_divergence, ref.js_divergence, (x, y), {"k": 3}),
    ]
    for got_f, want_f, args, kw in cases:
        got = got_f(*args, **kw)
        assert got == pytest.approx(want_f(*args, **kw), rel=1e-12, abs=1e-12), got_f.__name__
        # float32 input: exactly the estimate of the same values as float64.
        args32 = tuple(a.astype(np.float32) for a in args)
        args64 = tuple(a.astype(np.float64) for a in args32)
        assert got_f(*args32, **kw) == got_f(*args64, **kw), got_f.__name__


def test_near_duplicates_far_from_the_origin(rng):
    # Neighbours 1e-3 apart at coordinates ~1e4, where an unchecked expansion
    # |x|^2 + |y|^2 - 2 x.y has an error of ~1e-4 in float64 and misorders them.
    d = 64
    base = embeddings(rng, 200, d, offset=1e4)
    x = np.concatenate([base, base + 1e-3 * rng.normal(size=base.shape)])
    y = base + 2e-3 * rng.normal(size=base.shape)
    for dtype in (np.float64, np.float32):
        xs, ys = x.astype(dtype), y.astype(dtype)
        x64, y64 = xs.astype(np.float64), ys.astype(np.float64)
        got = _core.knn(xs, 3, queries=ys, search="brute")
        want = _core.knn(x64, 3, queries=y64, search="tree")
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_array_equal(got[0], want[0])
        assert dv.kl_divergence(xs, ys) == pytest.approx(ref.kl_divergence(x64, y64), rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(2, 300),
    m=st.integers(2, 300),
    d=st.integers(8, 40),
    k=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
    float32=st.booleans(),
    dup=st.booleans(),
)
def test_brute_force_is_the_tree_across_tiles_and_the_crossover(n, m, d, k, seed, float32, dup):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d))
    if dup:  # exact duplicates and ties at equal distances
        x[: n // 2] = x[n - n // 2 :][: n // 2]
        y[: m // 3] = x[: m // 3] if n >= m // 3 else y[: m // 3]
    if float32:
        x, y = x.astype(np.float32), y.astype(np.float32)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    kc = min(k, n)
    got = _core.knn(x, kc, queries=y, search="brute")
    want = _core.knn(x64, kc, queries=y64, search="tree")
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])
    if n > k:
        got = _core.knn(x, k, search="brute")
        want = _core.knn(x64, k, search="tree")
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_brute_force_is_the_same_for_any_thread_count(rng, dtype):
    x = rng.normal(size=(900, 48)).astype(dtype)
    y = rng.normal(size=(700, 48)).astype(dtype)
    before = dv.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3):
            dv.set_num_threads(threads)
            rho, nu = _core.kth_self_and_cross(x, y, 2, "brute")
            results.append((rho.tobytes(), nu.tobytes(), dv.entropy(x)))
    finally:
        dv.set_num_threads(before)
    assert results[0] == results[1] == results[2]


def test_search_errors(rng):
    x = rng.normal(size=(20, 32))
    with pytest.raises(ValueError, match="search"):
        _core.knn(x, 1, search="ball")
    with pytest.raises(TypeError, match="float32 or both float64"):
        _core.knn(x, 1, queries=x.astype(np.float32))


@pytest.mark.parametrize("d", [20, 40])
def test_ksg_on_the_max_norm_brute_force_matches_the_reference(rng, d):
    # Joint and marginal max-norm searches by brute force from d = 16, with ties (a
    # duplicated coordinate block) that the strict and non-strict counts must keep apart.
    x = rng.normal(size=(300, d))
    y = x + rng.normal(size=(300, d))
    z = rng.normal(size=(300, d // 2))
    x[:20, : d // 2] = x[20:40, : d // 2]
    for method in ["ksg1", "ksg2"]:
        got = dv.mutual_information(x, y, k=3, method=method)
        assert got == pytest.approx(ref.mutual_information(x, y, k=3, method=method), rel=1e-12, abs=1e-12)
    got = dv.conditional_mutual_information(x, y, z, k=4)
    assert got == pytest.approx(ref.conditional_mutual_information(x, y, z, k=4), rel=1e-12, abs=1e-12)
