"""Thread-count control (set_num_threads, dv.threads, threadpoolctl) and independence of
results from it."""

import multiprocessing

import divergent as dv
import pytest


@pytest.fixture
def restore_threads():
    before = dv.get_num_threads()
    yield
    dv.set_num_threads(before)


def compute_all(x, y):
    return [
        *(dv.mmd(x, y, kernel=k) for k in ("gaussian", "laplace", "imq", "energy")),
        dv.mmd(x, y[: len(x)], estimator="linear"),
        dv.energy_distance(x, y),
        dv.median_bandwidth(x, y),
        *dv.mmd_test(x[:300], y[:300], n_permutations=20, seed=0).null_distribution,
        dv.ksd(x, -x),
        *dv.ksd_test(x[:300], -x[:300], n_bootstrap=20, seed=0).null_distribution,
        *dv.kde_logpdf(x, y[:200]),
        dv.cauchy_schwarz_divergence(x, y),
        dv.ot.sliced_wasserstein(x, y, seed=0),
        # The stored kernel's one-pass iterations (blocks of 128 rows) and its build.
        *dv.ot.sinkhorn(x[:1000], y[:900], epsilon=1.0, backend="dense").f,
        *dv.ot.sinkhorn_from_cost(((x[:500, None] - y[None, :300]) ** 2).sum(-1), epsilon=0.5).g,
        # The streamed soft-min's one-pass iterations: truncated rows in fixed stripes, each
        # with its own column sums for g.
        *dv.ot.sinkhorn(x, y, epsilon=0.05, backend="online", scaling=0.5).g,
    ]


def test_results_are_bitwise_identical_for_1_2_and_3_threads(restore_threads, rng):
    x = rng.normal(size=(3000, 3))
    y = rng.normal(size=(3100, 3)) + 0.1
    dv.set_num_threads(1)
    one = compute_all(x, y)
    for n in (2, 3):
        dv.set_num_threads(n)
        assert dv.get_num_threads() == n
        assert compute_all(x, y) == one


@pytest.mark.parametrize("bad", [0, -2])
def test_set_num_threads_rejects_non_positive(bad):
    with pytest.raises(ValueError, match=r"n must be an integer in \[1, \d+\]"):
        dv.set_num_threads(bad)


@pytest.mark.parametrize("bad", [1.5, "2", True, None])
def test_set_num_threads_rejects_non_integers(bad):
    with pytest.raises(TypeError, match=r"n must be an integer in \[1, \d+\]"):
        dv.set_num_threads(bad)


def _child(x, y, queue):
    queue.put(dv.mmd(x, y))


def test_works_in_a_forked_child(rng):
    # The parent's pool threads do not survive fork; the child must build its own.
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    x, y = rng.normal(size=(400, 2)), rng.normal(size=(400, 2))
    want = dv.mmd(x, y)  # the parent's pool exists now
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(x, y, queue))
    proc.start()
    proc.join(60)
    alive = proc.is_alive()
    if alive:
        proc.kill()
    assert not alive, "child deadlocked"
    assert queue.get(timeout=5) == want


def test_threads_context_restores_the_count():
    before = dv.get_num_threads()
    with dv.threads(1):
        assert dv.get_num_threads() == 1
        with dv.threads(3):
            assert dv.get_num_threads() == 3
        assert dv.get_num_threads() == 1
    assert dv.get_num_threads() == before
    with pytest.raises(RuntimeError), dv.threads(2):
        raise RuntimeError("inside")
    assert dv.get_num_threads() == before
    with pytest.raises(ValueError, match=r"n must be an integer in \[1, \d+\], got 0"), dv.threads(0):
        pass
    assert dv.get_num_threads() == before


def test_results_inside_a_threads_block_are_the_same(rng):
    x, y = rng.normal(size=(300, 4)), rng.normal(size=(200, 4))
    want = dv.mmd(x, y)
    with dv.threads(1):
        assert dv.mmd(x, y) == want


def test_threadpoolctl_limits_divergent(rng):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = dv.get_num_threads()
    info = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "divergent"]
    assert len(info) == 1 and info[0]["num_threads"] == before and info[0]["version"] == dv._core.__version__
    x, y = rng.normal(size=(300, 4)), rng.normal(size=(200, 4))
    want = dv.mmd(x, y)
    with threadpoolctl.threadpool_limits(limits=1):
        assert dv.get_num_threads() == 1
        assert dv.mmd(x, y) == want  # the pool is rebuilt at the next call
    assert dv.get_num_threads() == before
    with threadpoolctl.threadpool_limits(limits=2, user_api="divergent"):
        assert dv.get_num_threads() == 2
    assert dv.get_num_threads() == before
