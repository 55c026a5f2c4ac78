"""The k-d tree engine: neighbours and radius counts equal brute force bit for bit."""

import divergent as dv
import numpy as np
import pytest
from divergent import _core
from divergent.reference import knn as ref
from hypothesis import given
from hypothesis import strategies as st

METRICS = ["euclidean", "chebyshev"]


@st.composite
def point_sets(draw, min_n=2, max_n=300):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(min_n, max_n))
    d = draw(st.integers(1, 9))
    kind = draw(st.sampled_from(["normal", "integer", "clustered"]))
    if kind == "normal":
        x = rng.standard_normal((n, d)) * rng.uniform(0.1, 10, d)
    elif kind == "integer":
        # Many exact ties in distances and coordinates, and duplicate points.
        x = rng.integers(-3, 4, (n, d)).astype(float)
    else:
        x = rng.standard_normal((n, d)) * 1e-3 + rng.integers(0, 3, (n, 1))
    return x, rng


@given(point_sets(), st.sampled_from(METRICS), st.data())
def test_self_knn_equals_brute_force(points, metric, data):
    x, _ = points
    n = x.shape[0]
    k = data.draw(st.integers(1, n - 1))
    dist, idx = _core.knn(x, k, metric, None, True)
    want_d, want_i = ref.knn(x, k, metric)
    np.testing.assert_array_equal(dist, want_d)
    np.testing.assert_array_equal(idx, want_i)
    kth, none = _core.knn(x, k, metric, None, False)
    assert none is None
    np.testing.assert_array_equal(kth, want_d[:, -1])


@given(point_sets(min_n=1), st.sampled_from(METRICS), st.data())
def test_cross_knn_equals_brute_force(points, metric, data):
    x, rng = points
    m = data.draw(st.integers(1, 200))
    q = np.round(rng.standard_normal((m, x.shape[1])) * 2)  # ties with integer data
    k = data.draw(st.integers(1, x.shape[0]))
    dist, idx = _core.knn(x, k, metric, q, True)
    want_d, want_i = ref.knn(x, k, metric, queries=q)
    np.testing.assert_array_equal(dist, want_d)
    np.testing.assert_array_equal(idx, want_i)


@given(point_sets(), st.sampled_from(METRICS), st.booleans(), st.data())
def test_radius_counts_equal_brute_force(points, metric, strict, data):
    x, rng = points
    n = x.shape[0]
    k = data.draw(st.integers(1, n - 1))
    # Radii equal to neighbour distances put points exactly on the boundary.
    radii = _core.knn(x, k, metric, None, False)[0]
    radii = np.where(rng.random(n) < 0.2, rng.uniform(0, 2, n), radii)
    radii[0] = 0.0
    got = _core.count_within(x, radii, metric, strict, None)
    np.testing.assert_array_equal(got, ref.count_within(x, radii, metric, strict))
    q = x[: max(1, n // 2)] + 0.5
    rq = radii[: q.shape[0]]
    got = _core.count_within(x, rq, metric, strict, q)
    np.testing.assert_array_equal(got, ref.count_within(x, rq, metric, strict, queries=q))


@pytest.mark.parametrize("metric", METRICS)
def test_large_tree_matches_brute_force_on_a_subset(metric, rng):
    # Deep tree, parallel build and many query tasks; brute force on 300 rows.
    x = np.round(rng.standard_normal((50_000, 3)) * 40) / 8
    k = 7
    dist, idx = _core.knn(x, k, metric, None, True)
    rows = rng.choice(x.shape[0], 300, replace=False)
    full = ref.pairwise_distances(x[rows], x, metric)
    full[np.arange(rows.size), rows] = np.inf
    order = np.argsort(full, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(idx[rows], order)
    np.testing.assert_array_equal(dist[rows], np.take_along_axis(full, order, axis=1))
    radii = dist[:, -1]
    counts = _core.count_within(x, radii, metric, True, None)
    np.testing.assert_array_equal(counts[rows], (full < radii[rows, None]).sum(axis=1))


def test_layouts_and_dtypes_give_identical_estimates(rng):
    x = rng.standard_normal((3000, 4))
    y = rng.standard_normal((2000, 4)) + 0.2
    base = dv.kl_divergence(x, y, k=3)
    assert dv.kl_divergence(np.asfortranarray(x), y[::1], k=3) == base
    assert dv.kl_divergence(np.concatenate([x, x], axis=1)[:, ::2], y, k=3) == dv.kl_divergence(
        np.ascontiguousarray(np.concatenate([x, x], axis=1)[:, ::2]), y, k=3
    )
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    assert dv.kl_divergence(x32, y32, k=3) == dv.kl_divergence(x32.astype(float), y32.astype(float), k=3)


def test_results_do_not_depend_on_thread_count(rng):
    x = rng.standard_normal((20_000, 3))
    y = rng.standard_normal((20_000, 2))
    before = dv.get_num_threads()
    try:
        results = []
        for t in (1, 2, 3):
            dv.set_num_threads(t)
            results.append(
                (
                    dv.entropy(x),
                    dv.kl_divergence(x, x[::-1] + 0.1),
                    dv.mutual_information(x, y, method="ksg2"),
                    _core.knn(x, 4, "chebyshev", None, True)[1].tobytes(),
                )
            )
        assert results[0] == results[1] == results[2]
    finally:
        dv.set_num_threads(before)
