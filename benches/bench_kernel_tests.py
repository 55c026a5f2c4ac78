"""Benchmarks of the kernel tests and densities: mmd_test, ksd, kde_logpdf against references and peers.

    pytest benches/bench_kernel_tests.py --benchmark-only --benchmark-json=benches/kernel_tests.json
    python benches/report.py benches/kernel_tests.json

Slow baselines run a single round; the slowest ones run on fewer permutations and are
reported per permutation by benches/report.py's "extrapolated" rows (see RESULTS.md).
"""

import divergent as dv
import numpy as np
import pytest
import scipy.stats
from divergent import reference as ref

D = 10


@pytest.fixture(autouse=True, scope="module")
def two_threads():
    dv.set_num_threads(2)


def samples(n, d=D, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 0.05


@pytest.mark.parametrize("n", [2_000, 10_000])
@pytest.mark.benchmark(group="mmd_test-999-permutations-d10")
def bench_mmd_test_divergent(benchmark, n):
    x, y = samples(n)
    benchmark.pedantic(dv.mmd_test, args=(x, y), kwargs={"seed": 0}, rounds=3 if n <= 2_000 else 1, iterations=1)


@pytest.mark.parametrize("n, perms", [(2_000, 999), (10_000, 9)])
@pytest.mark.benchmark(group="mmd_test-999-permutations-d10")
def bench_mmd_test_reference(benchmark, n, perms):
    """At n = 10,000 the reference runs 9 permutations; scale its time by 1000 / 10."""
    x, y = samples(n)
    benchmark.extra_info["permutations"] = perms
    benchmark.pedantic(ref.mmd_test, args=(x, y), kwargs={"seed": 0, "n_permutations": perms}, rounds=1, iterations=1)


@pytest.mark.parametrize("n, perms", [(2_000, 999), (10_000, 99)])
@pytest.mark.benchmark(group="mmd_test-999-permutations-d10")
@pytest.mark.filterwarnings("ignore:The number of replications is low:RuntimeWarning")
def bench_mmd_test_hyppo(benchmark, n, perms):
    ksample = pytest.importorskip("hyppo.ksample")
    if n > 5_000:
        # Measured: hyppo 0.5.2 at n = m = 10,000 grew past 24 GiB and was OOM-killed.
        pytest.skip("hyppo needs more than 24 GiB at n = m = 10,000")
    x, y = samples(n)
    benchmark.extra_info["permutations"] = perms
    test = ksample.MMD(compute_kernel="gaussian")
    benchmark.pedantic(
        test.test, args=(x, y), kwargs={"reps": perms, "workers": 2, "random_state": 0}, rounds=1, iterations=1
    )


@pytest.mark.benchmark(group="ksd-imq-n10000-d10")
def bench_ksd_divergent(benchmark):
    x, _ = samples(10_000)
    benchmark(dv.ksd, x, -x)


@pytest.mark.benchmark(group="ksd-imq-n10000-d10")
def bench_ksd_reference(benchmark):
    x, _ = samples(10_000)
    benchmark.pedantic(ref.ksd, args=(x, -x), rounds=1, iterations=1)


@pytest.mark.benchmark(group="kde_logpdf-1e5-data-1e5-points-d3")
def bench_kde_divergent(benchmark):
    data, points = samples(100_000, 3)
    benchmark.pedantic(dv.kde_logpdf, args=(data, points), rounds=3, iterations=1)


@pytest.mark.benchmark(group="kde_logpdf-1e5-data-1e5-points-d3")
def bench_kde_scipy(benchmark):
    data, points = samples(100_000, 3)
    kde = scipy.stats.gaussian_kde(data.T)
    benchmark.pedantic(kde.logpdf, args=(points.T,), rounds=1, iterations=1)


@pytest.mark.benchmark(group="kde_logpdf-1e5-data-1e5-points-d3")
def bench_kde_reference(benchmark):
    data, points = samples(100_000, 3)
    benchmark.pedantic(ref.kde_logpdf, args=(data, points[:10_000]), rounds=1, iterations=1)
    benchmark.extra_info["points"] = 10_000  # scale by 10
