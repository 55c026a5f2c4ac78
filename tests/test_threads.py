"""Thread-count controls: dv.threads(n) and threadpoolctl's limits."""

import numpy as np
import pytest

import divergent as dv


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
    with pytest.raises(ValueError, match="n must be a positive integer"), dv.threads(0):
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
