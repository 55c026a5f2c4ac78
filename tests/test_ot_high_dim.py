"""Sinkhorn on embeddings: from d = 16 the stored kernel reads a cost matrix computed
once through the Gram expansion; it must run the reference's iterations wherever the
data lie, and "auto" must store it whenever kernel and costs fit."""

import divergent as dv
import numpy as np
import pytest
from divergent import _core
from divergent import reference as ref


def clouds(rng, n, m, d, offset):
    x = rng.normal(size=(n, d)) + offset
    y = rng.normal(size=(m, d)) + offset + 0.3
    return x, y


@pytest.mark.parametrize("d", [16, 32, 128])
@pytest.mark.parametrize("offset", [0.0, 1e3])
@pytest.mark.parametrize("p, reach, scaling", [(2.0, None, None), (1.0, None, 0.5), (2.0, 5.0, None)])
def test_stored_kernel_matches_reference(rng, d, offset, p, reach, scaling):
    x, y = clouds(rng, 90, 70, d, offset)
    mean_cost = np.mean(((x[:, None] - y[None]) ** 2).sum(-1) ** (p / 2))
    kw = dict(epsilon=0.05 * mean_cost, p=p, reach=None if reach is None else reach * d**0.5, scaling=scaling, tol=1e-8)
    got = dv.ot.sinkhorn(x, y, backend="dense", **kw)
    want = ref.ot.sinkhorn(x, y, **kw)
    assert got.n_iter == want.n_iter and got.converged == want.converged
    scale = np.abs(want.f).max() + np.abs(want.g).max() + kw["epsilon"]
    assert abs(got.cost - want.cost) <= 1e-9 * max(abs(want.cost), scale)
    np.testing.assert_allclose(got.f, want.f, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(got.g, want.g, rtol=1e-9, atol=1e-9 * scale)


def test_divergence_on_embeddings_matches_reference(rng):
    x, y = clouds(rng, 80, 60, 64, 10.0)
    kw = dict(epsilon=20.0, tol=1e-8)
    got = dv.sinkhorn_divergence(x, y, backend="dense", **kw)
    want = ref.ot.sinkhorn_divergence(x, y, **kw)
    assert got == pytest.approx(want, rel=1e-9, abs=1e-9 * kw["epsilon"])


@pytest.mark.filterwarnings("ignore::divergent.ConvergenceWarning")
def test_auto_stores_the_kernel_in_high_dimension_whatever_epsilon(rng, monkeypatch):
    import divergent.ot._sinkhorn as dot

    x, y = clouds(rng, 120, 100, 32, 0.0)
    dense = []
    real = _core.sinkhorn_points
    monkeypatch.setattr(_core, "sinkhorn_points", lambda *args, **kw: dense.append(kw["dense"]) or real(*args, **kw))
    for eps in (0.5, 5.0, 500.0):
        dv.ot.sinkhorn(x, y, epsilon=eps, max_iter=20)
    # Kernel and cost matrix must fit together.
    monkeypatch.setattr(dot, "DENSE_AUTO_MAX_ENTRIES", 2 * 120 * 100 - 1)
    dv.ot.sinkhorn(x, y, epsilon=5.0)
    assert dense == [True, True, True, False]
