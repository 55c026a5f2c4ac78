"""divergent.dask on a LocalCluster of 2 single-threaded worker processes against the
in-memory function on 2 threads in this process, on the same data (generated on the
workers and held there, as data read from Zarr would be; the in-memory call gets the
same values gathered here).

    pytest benches/bench_dask.py --benchmark-only --benchmark-json=benches/dask.json

The ratio of a cluster cell is its time over the in-process time: at most 1.25 means the
cluster reaches 0.8 of the in-process speed.
"""

import divergent as dv
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
import divergent.dask as dvd  # noqa: E402

MMD_N = 200_000
#: In-memory values, to check the cluster's against (the benches run in file order).
IN_MEMORY = {}
KL_N = 1_000_000


@pytest.fixture(scope="module")
def client():
    dv.set_num_threads(2)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    ) as lc:
        with distributed.Client(lc) as c:
            yield c


def held_on_workers(client, seed, n, d, chunk, shift):
    """Two normal samples generated on the workers and kept there, and their values here."""
    rng = da.random.default_rng(seed)
    x = rng.standard_normal((n, d), chunks=(chunk, d))
    y = rng.standard_normal((n, d), chunks=(chunk, d)) + shift
    x, y = client.persist([x, y])
    return x, y, x.compute(), y.compute()


@pytest.fixture(scope="module")
def mmd_data(client):
    return held_on_workers(client, 0, MMD_N, 10, 50_000, 0.01)


@pytest.fixture(scope="module")
def kl_data(client):
    return held_on_workers(client, 1, KL_N, 5, 250_000, 0.05)


@pytest.mark.benchmark(group="mmd-gaussian-n2e5-d10")
def bench_mmd_divergent(benchmark, mmd_data):
    _, _, x, y = mmd_data
    IN_MEMORY["mmd"] = benchmark.pedantic(dv.mmd, args=(x, y), kwargs={"bandwidth": 4.0}, rounds=1, iterations=1)


@pytest.mark.benchmark(group="mmd-gaussian-n2e5-d10")
def bench_mmd_dask_cluster(benchmark, mmd_data):
    X, Y, _, _ = mmd_data
    got = benchmark.pedantic(dvd.mmd, args=(X, Y), kwargs={"bandwidth": 4.0}, rounds=1, iterations=1)
    if "mmd" in IN_MEMORY:
        assert got == pytest.approx(IN_MEMORY["mmd"], rel=1e-10)


@pytest.mark.benchmark(group="kl-k1-n1e6-d5")
def bench_kl_divergent(benchmark, kl_data):
    _, _, x, y = kl_data
    benchmark.pedantic(dv.kl_divergence, args=(x, y), rounds=3, iterations=1)


@pytest.mark.benchmark(group="kl-k1-n1e6-d5")
def bench_kl_dask_cluster(benchmark, kl_data):
    X, Y, x, y = kl_data
    got = benchmark.pedantic(dvd.kl_divergence, args=(X, Y), rounds=3, iterations=1)
    assert got == dv.kl_divergence(x, y)
