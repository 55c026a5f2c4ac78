"""Exact OT benchmarks: divergent's network simplex vs POT's (`ot.emd2`, single-threaded
C++ network simplex), from histograms and a dense cost matrix, and from points.

Run (2 threads, as on the reference machine):

    pip install '.[bench]'
    pytest benches/bench_emd.py --benchmark-only --benchmark-json=benches/emd.json
    python benches/report.py

Both solvers are exact: each benchmark checks that the costs agree to 1e-9.
"""

import divergent as dv
import numpy as np
import pytest

ot = pytest.importorskip("ot")


@pytest.fixture(autouse=True, scope="module")
def two_threads():
    dv.set_num_threads(2)


def problem(n, weights, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + 0.3
    if weights == "uniform":
        a = b = np.full(n, 1.0 / n)
    else:
        a, b = rng.uniform(size=n), rng.uniform(size=n)
        a, b = a / a.sum(), b / b.sum()
    return a, b, ot.dist(x, y)


CASES = [(1000, "uniform"), (1000, "random"), (5000, "uniform")]


@pytest.mark.parametrize("n, weights", CASES)
@pytest.mark.benchmark(group="emd2-histograms")
def bench_emd2_divergent(benchmark, n, weights):
    a, b, M = problem(n, weights)
    cost = benchmark.pedantic(dv.ot.emd2, (a, b, M), rounds=1)
    assert cost == pytest.approx(ot.emd2(a, b, M, numItermax=10**8), rel=1e-9)


@pytest.mark.parametrize("n, weights", CASES)
@pytest.mark.benchmark(group="emd2-histograms")
def bench_emd2_pot(benchmark, n, weights):
    a, b, M = problem(n, weights)
    benchmark.pedantic(ot.emd2, (a, b, M), {"numItermax": 10**8}, rounds=1)
