"""wasserstein_1d and sliced_wasserstein against scipy, POT and the NumPy reference.

pytest benches/bench_ot_1d.py --benchmark-only --benchmark-json=benches/ot_1d.json
"""

import divergent as dv
import numpy as np
import pytest
import scipy.stats
from divergent import reference as ref


@pytest.fixture(autouse=True, scope="module")
def two_threads():
    dv.set_num_threads(2)


def one_d(n=1_000_000):
    rng = np.random.default_rng(0)
    return rng.normal(size=n), rng.exponential(size=n), rng.random(n)


@pytest.mark.benchmark(group="wasserstein_1d-p1-n1e6-weighted")
def bench_w1d_divergent(benchmark):
    u, v, w = one_d()
    benchmark(dv.ot.wasserstein_1d, u, v, u_weights=w)


@pytest.mark.benchmark(group="wasserstein_1d-p1-n1e6-weighted")
def bench_w1d_scipy(benchmark):
    u, v, w = one_d()
    got = benchmark.pedantic(
        scipy.stats.wasserstein_distance, args=(u, v), kwargs={"u_weights": w}, rounds=3, iterations=1
    )
    assert got == pytest.approx(dv.ot.wasserstein_1d(u, v, u_weights=w), rel=1e-9)


@pytest.mark.benchmark(group="wasserstein_1d-p1-n1e6-weighted")
def bench_w1d_reference(benchmark):
    u, v, w = one_d()
    benchmark.pedantic(ref.ot.wasserstein_1d, args=(u, v), kwargs={"u_weights": w}, rounds=3, iterations=1)


def clouds(n=100_000, d=3):
    rng = np.random.default_rng(1)
    return rng.normal(size=(n, d)), rng.normal(size=(n, d)) * 1.2 + 0.1


@pytest.mark.benchmark(group="sliced_wasserstein-p2-200dirs-n1e5-d3")
def bench_sliced_divergent(benchmark):
    x, y = clouds()
    benchmark(dv.ot.sliced_wasserstein, x, y, seed=0)


@pytest.mark.benchmark(group="sliced_wasserstein-p2-200dirs-n1e5-d3")
def bench_sliced_pot(benchmark):
    ot = pytest.importorskip("ot")
    x, y = clouds()
    benchmark.pedantic(
        ot.sliced_wasserstein_distance,
        args=(x, y),
        kwargs={"n_projections": 200, "p": 2, "seed": 0},
        rounds=3,
        iterations=1,
    )


@pytest.mark.benchmark(group="sliced_wasserstein-p2-200dirs-n1e5-d3")
def bench_sliced_reference(benchmark):
    x, y = clouds()
    benchmark.pedantic(ref.ot.sliced_wasserstein, args=(x, y), kwargs={"seed": 0}, rounds=1, iterations=1)
