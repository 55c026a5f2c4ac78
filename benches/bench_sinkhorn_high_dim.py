"""Sinkhorn on embeddings against POT (`ot.dist` then `ot.sinkhorn2`, its dense
solver, the fastest POT path at these sizes), at equal accuracy (L1 marginal error
1e-6; POT stops on the L2 norm of the column error, so it gets 1e-6 / sqrt(n)).

    pytest benches/bench_sinkhorn_high_dim.py --benchmark-only --benchmark-json=benches/sinkhorn_high_dim.json

Data: x ~ N(0, I_d), y ~ N(0.2, I_d), n = m = 3,000, p = 2, uniform weights,
epsilon = 0.05 x the mean cost.
"""

import divergent as dv
import numpy as np
import ot
import pytest

N = 3000
DIMS = [64, 512]
TOL = 1e-6


def problem(d):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(N, d)), rng.normal(size=(N, d)) + 0.2
    # E|x - y|^2 = 2 d + 0.04 d for these clouds.
    return x, y, 0.05 * 2.04 * d


@pytest.fixture(autouse=True, scope="module")
def two_threads():
    dv.set_num_threads(2)


@pytest.mark.parametrize("d", DIMS, ids=[f"d{d}" for d in DIMS])
@pytest.mark.benchmark(group="sinkhorn-n3000-p2-eps0.05mean")
def bench_sinkhorn_divergent(benchmark, d):
    x, y, eps = problem(d)
    res = benchmark.pedantic(
        dv.sinkhorn, args=(x, y), kwargs=dict(epsilon=eps, tol=TOL), rounds=3, warmup_rounds=1, iterations=1
    )
    benchmark.extra_info.update(cost=res.cost, n_iter=res.n_iter, marginal_error_l1=res.marginal_error)


@pytest.mark.parametrize("d", DIMS, ids=[f"d{d}" for d in DIMS])
@pytest.mark.benchmark(group="sinkhorn-n3000-p2-eps0.05mean")
def bench_sinkhorn_pot(benchmark, d):
    x, y, eps = problem(d)
    a = np.full(N, 1.0 / N)

    def run():
        m = ot.dist(x, y)
        return ot.sinkhorn2(a, a, m, eps, stopThr=TOL / np.sqrt(N), numItermax=100_000)

    cost = benchmark.pedantic(run, rounds=3, warmup_rounds=1, iterations=1)
    want = dv.sinkhorn(x, y, epsilon=eps, tol=TOL).cost
    assert abs(float(cost) - want) <= 1e-5 * want
