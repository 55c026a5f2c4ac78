"""divergent.dask gives the numbers of the in-memory functions for any chunking, on Dask's
local scheduler and on a real cluster of worker processes, survives a worker lost
mid-run, and reports bad input as the in-memory functions do."""

import doctest
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import dask  # noqa: E402
import divergent as dv  # noqa: E402
import divergent.dask as dvd  # noqa: E402
from divergent.dask import _blocks, _kernel, _knn, _metrics  # noqa: E402

CHUNKINGS = [None, 37, 250, (100, 400, 900, 1)]


def chunked(a, rows):
    """`a` as a Dask array in row chunks `rows` (None: one chunk); columns in 2 chunks
    where there are 2 or more, which the functions must rechunk."""
    if rows is None:
        rows = a.shape[0]
    elif isinstance(rows, tuple):
        rows = tuple(rows[:-1]) + (a.shape[0] - sum(rows[:-1]),)
    cols = a.shape[1] if a.ndim == 1 or a.shape[1] < 2 else (a.shape[1] // 2, a.shape[1] - a.shape[1] // 2)
    return da.from_array(a, chunks=(rows,) if a.ndim == 1 else (rows, cols))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(1400, 3))
    y = rng.normal(size=(1100, 3)) * 1.2 + 0.4
    return x, y


@pytest.fixture(scope="module")
def cluster():
    """A real cluster: 2 worker processes of one thread each."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    ) as lc:
        with distributed.Client(lc) as client:
            yield client


@pytest.mark.parametrize("rows", CHUNKINGS, ids=str)
@pytest.mark.parametrize("estimator", ["unbiased", "biased"])
@pytest.mark.parametrize("kernel", ["gaussian", "laplace", "imq", "energy"])
def test_mmd_equals_memory_for_any_chunking(data, rows, estimator, kernel):
    x, y = data
    want = dv.mmd(x, y, kernel=kernel, estimator=estimator)
    got = dvd.mmd(chunked(x, rows), chunked(y, rows), kernel=kernel, estimator=estimator, block_rows=300)
    assert got == pytest.approx(want, rel=1e-12, abs=0)


@pytest.mark.parametrize("rows", [None, 64, 333])
def test_linear_mmd_and_energy_distance_equal_memory(data, rows):
    x, y = data
    y = y[:1100]
    xs = x[:1100]
    want = dv.mmd(xs, y, estimator="linear", bandwidth=0.7)
    got = dvd.mmd(chunked(xs, rows), chunked(y, rows), estimator="linear", bandwidth=0.7, block_rows=rows)
    assert got == pytest.approx(want, rel=1e-12, abs=0)
    assert dvd.energy_distance(chunked(x, rows), chunked(y, rows), block_rows=rows or 512) == pytest.approx(
        dv.energy_distance(x, y), rel=1e-12, abs=0
    )


@pytest.mark.parametrize("rows", [None, 90, (50, 200, 1)], ids=str)
@pytest.mark.parametrize("kernel", ["gaussian", "energy"])
def test_mmd_test_equals_memory(rows, kernel):
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(300, 3)), rng.normal(size=(260, 3)) + 0.15
    want = dv.mmd_test(x, y, kernel=kernel, n_permutations=199, seed=4)
    got = dvd.mmd_test(
        chunked(x, rows),
        chunked(y, rows),
        kernel=kernel,
        n_permutations=199,
        seed=4,
        block_rows=rows if isinstance(rows, int) else 128,
    )
    scale = 1.0 if kernel == "gaussian" else 3.0
    assert got.statistic == pytest.approx(want.statistic, abs=1e-13 * scale)
    np.testing.assert_allclose(got.null_distribution, want.null_distribution, rtol=0, atol=1e-13 * scale)
    assert got.pvalue == want.pvalue
    assert 0.001 < want.pvalue < 0.9  # neither end: a p-value that could have moved


def test_median_bandwidth_uses_the_in_memory_subsample():
    # 6,000 pooled points: above the 5,000 of the median heuristic's subsample.
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(3500, 2)), rng.normal(size=(2500, 2)) + 0.2
    want = dv.mmd(x, y)
    got = dvd.mmd(chunked(x, 900), chunked(y, 700), block_rows=1024)
    assert got == pytest.approx(want, rel=1e-12, abs=0)
    # A different bandwidth would change the value at this level.
    assert dv.mmd(x, y, bandwidth=1.01 * dv.median_bandwidth(x, y)) != pytest.approx(want, rel=1e-6)


def test_gram_path_float64_and_float32():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(700, 96)) + 1e3  # offset: the Gram expansion must not cancel
    y = rng.normal(size=(600, 96)) + 1e3 + 0.05
    want = dv.mmd(x, y)
    assert dvd.mmd(chunked(x, 150), chunked(y, 250), block_rows=256) == pytest.approx(want, rel=1e-10)
    x32, y32 = x.astype(np.float32) - 1e3, y.astype(np.float32) - 1e3
    got32 = dvd.mmd(chunked(x32, 150), chunked(y32, 250), block_rows=256)
    assert got32 == pytest.approx(dv.mmd(x32.astype(np.float64), y32.astype(np.float64)), rel=1e-3)


@pytest.mark.parametrize("rows", CHUNKINGS, ids=str)
def test_knn_estimators_equal_memory_bit_for_bit(data, rows):
    x, y = data
    X, Y = chunked(x, rows), chunked(y, rows)
    rows = rows if isinstance(rows, int) else 500
    assert dvd.entropy(X, k=4, block_rows=rows) == dv.entropy(x, k=4)
    assert dvd.kl_divergence(X, Y, k=2, block_rows=rows) == dv.kl_divergence(x, y, k=2)
    a, b = x[:, :2], x[:, 2:] + 0.5 * x[:, :1]
    for method in ("ksg1", "ksg2"):
        want = dv.mutual_information(a, b, k=3, method=method)
        assert dvd.mutual_information(chunked(a, rows), chunked(b, rows), k=3, method=method, block_rows=rows) == want


def test_knn_block_by_block_search_of_a_large_reference(data, monkeypatch):
    # A reference above REFERENCE_MAX_BYTES is searched per block and the k best merged.
    monkeypatch.setattr(_knn, "REFERENCE_MAX_BYTES", 1000)
    x, y = data
    for k in (1, 3):
        assert dvd.entropy(chunked(x, 300), k=k, block_rows=300) == dv.entropy(x, k=k)
        assert dvd.kl_divergence(chunked(x, 300), chunked(y, 200), k=k, block_rows=256) == dv.kl_divergence(x, y, k=k)
    # k larger than some blocks
    assert dvd.entropy(chunked(x[:120], 3), k=5, block_rows=4) == dv.entropy(x[:120], k=5)


def test_knn_float32_equals_memory(data):
    x, y = (a.astype(np.float32) for a in data)
    assert dvd.kl_divergence(chunked(x, 500), chunked(y, 500), k=1) == dv.kl_divergence(x, y, k=1)
    rng = np.random.default_rng(5)
    hx = rng.normal(size=(800, 40)).astype(np.float32)
    assert dvd.entropy(chunked(hx, 200), k=2, block_rows=256) == dv.entropy(hx, k=2)


@pytest.mark.parametrize("rows", [None, 111, 512])
@pytest.mark.parametrize("bandwidth", ["scott", "silverman", 0.4])
def test_kde_equals_memory(data, rows, bandwidth):
    x, y = data
    want = dv.kde_logpdf(x, y, bandwidth=bandwidth)
    got = dvd.kde_logpdf(chunked(x, rows), chunked(y, rows), bandwidth=bandwidth, block_rows=rows)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    w = np.random.default_rng(1).random(x.shape[0])
    np.testing.assert_allclose(
        dvd.kde_logpdf(chunked(x, rows), y, weights=w, block_rows=rows),
        dv.kde_logpdf(x, y, weights=w),
        rtol=1e-12,
    )


def test_fid_equals_memory():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(20000, 12)).astype(np.float32)
    y = (rng.normal(size=(17000, 12)) * 1.1 + 0.1).astype(np.float32)
    want = dv.metrics.fid(x, y)
    assert dvd.fid(chunked(x, 3000), chunked(y, 5000)) == want  # default 8,192-row blocks
    assert dvd.fid(chunked(x, 3000), y, block_rows=1000) == pytest.approx(want, rel=1e-10)


def test_values_do_not_depend_on_the_scheduler(cluster, data):
    """The same bits on 2 worker processes as on Dask's single-threaded scheduler."""
    x, y = data
    X, Y = chunked(x, 300), chunked(y, 250)

    def values():
        return [
            dvd.mmd(X, Y, block_rows=256),
            dvd.energy_distance(X, Y, block_rows=256),
            dvd.entropy(X, block_rows=256),
            dvd.kl_divergence(X, Y, block_rows=256),
            dvd.mutual_information(X[:, :1], X[:, 1:], block_rows=256),
            dvd.fid(X, Y),
            dvd.mmd_test(X, Y, n_permutations=99, seed=1, block_rows=256).pvalue,
        ], dvd.kde_logpdf(X, Y, block_rows=256)

    on_cluster, kde_cluster = values()
    with dask.config.set(scheduler="synchronous"):
        local, kde_local = values()
    assert on_cluster == local
    np.testing.assert_array_equal(kde_cluster, kde_local)
    assert on_cluster[0] == pytest.approx(dv.mmd(x, y), rel=1e-12)
    assert on_cluster[2] == dv.entropy(x)


def test_workers_match_their_thread_count(cluster):
    from divergent import _core

    counts = cluster.run(lambda: (_blocks.match_worker_threads(), _core.get_num_threads())[1])
    assert set(counts.values()) == {1}


def test_a_worker_lost_mid_run_changes_nothing(cluster):
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(40000, 4)), rng.normal(size=(40000, 4)) + 0.1
    want = dv.mmd(x, y, bandwidth=1.0)
    X, Y = chunked(x, 2000), chunked(y, 2000)
    pids = cluster.run(os.getpid)
    before = set(pids.values())
    result = {}

    def run():
        result["value"] = dvd.mmd(X, Y, bandwidth=1.0, block_rows=2000)

    t = threading.Thread(target=run)
    t.start()
    # Kill one worker process once tasks are running; its nanny starts a new one and the
    # scheduler reruns the lost tasks.
    deadline = time.monotonic() + 30
    busy = []
    while time.monotonic() < deadline and not busy:
        busy = [addr for addr, tasks in cluster.processing().items() if tasks and addr in pids]
        time.sleep(0.02)
    # What the test is about: a worker holding tasks dies before the result exists.
    assert busy and t.is_alive(), "the run ended, or no worker held a task, before the kill"
    os.kill(pids[busy[0]], signal.SIGKILL)
    assert "value" not in result
    t.join(timeout=300)
    assert not t.is_alive()
    cluster.wait_for_workers(2, timeout=60)
    after = set(cluster.run(os.getpid).values())
    assert after != before, "no worker was lost"
    assert result["value"] == pytest.approx(want, rel=1e-12)


def test_bad_input_is_reported_by_name():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 3))
    bad = x.copy()
    bad[321, 1] = np.nan
    for fn in (dvd.mmd, dvd.energy_distance, dvd.kl_divergence, dvd.fid):
        with pytest.raises(ValueError, match=r"y contains NaN or infinity \(first in row 321\)"):
            fn(chunked(x, 100), chunked(bad, 100))
    with pytest.raises(ValueError, match=r"x contains NaN or infinity \(first in row 321\)"):
        dvd.entropy(chunked(bad, 64))
    with pytest.raises(ValueError, match=r"data contains NaN"):
        dvd.kde_logpdf(chunked(bad, 64), x)
    with pytest.raises(ValueError, match="same number of features"):
        dvd.mmd(chunked(x, 100), chunked(x[:, :2], 100))
    with pytest.raises(ValueError, match="same number of samples"):
        dvd.mutual_information(chunked(x, 100), chunked(x[:400], 100))
    with pytest.raises(ValueError, match="k=500 is too large"):
        dvd.entropy(chunked(x, 100), k=500)
    with pytest.raises(ValueError, match="jitter is not available"):
        dvd.entropy(chunked(x, 100), jitter=True)
    with pytest.raises(ValueError, match="duplicate"):
        dvd.entropy(chunked(np.concatenate([x, x[:5]]), 100), k=1)
    with pytest.raises(ValueError, match="singular"):
        dvd.kde_logpdf(chunked(np.c_[x[:, :1], x[:, :1]], 100), x[:, :2])
    with pytest.raises(ValueError, match="block_rows"):
        dvd.mmd(chunked(x, 100), chunked(x, 100), block_rows=0)
    with pytest.raises(TypeError, match="complex"):
        dvd.mmd(da.from_array(x + 1j), x)
    with pytest.raises(ValueError, match="3-D"):
        dvd.entropy(da.zeros((4, 4, 4)))
    with pytest.raises(ValueError, match="bandwidth"):
        dvd.mmd(chunked(x, 100), chunked(x, 100), bandwidth=-1.0)


def test_numpy_and_one_dimensional_input(data):
    x, y = data
    assert dvd.entropy(x[:, 0]) == dv.entropy(x[:, 0])
    assert dvd.mmd(x, y) == pytest.approx(dv.mmd(x, y), rel=1e-12)


def test_divergent_does_not_import_dask():
    code = "import sys, divergent; sys.exit('dask' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


@pytest.mark.parametrize("module", [_kernel, _knn, _metrics], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0
