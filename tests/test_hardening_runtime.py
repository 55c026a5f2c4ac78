"""Inputs that used to hang or start threads without bound: refused at once, with a
message naming the argument."""

import os
import subprocess
import sys
import time

import divergent as dv
import numpy as np
import pytest


@pytest.mark.parametrize("scaling", [1 - 1e-12, 0.999999])
def test_a_schedule_longer_than_max_iter_is_refused_before_it_is_built(rng, scaling):
    x, y = rng.random((50, 2)), rng.random((40, 2))
    # Built, the schedule would hold ~1e13 epsilons (scaling = 1 - 1e-12): the refusal
    # returning at all shows it was not.
    with pytest.raises(ValueError, match="scaling=.*max_iter"):
        dv.ot.sinkhorn(x, y, epsilon=0.01, scaling=scaling)


def test_a_schedule_at_the_limit_still_runs(rng):
    x, y = rng.random((50, 2)), rng.random((40, 2))
    res = dv.ot.sinkhorn(x, y, epsilon=0.01, scaling=0.9, max_iter=1000)
    assert np.isfinite(res.cost)


@pytest.mark.parametrize("n", [100_000, 2**32, 2**64])
def test_too_many_threads_are_refused(n):
    before = dv.get_num_threads()
    with pytest.raises(ValueError, match=r"n must be an integer in \[1, \d+\], got \d+; at most 8 threads"):
        dv.set_num_threads(n)
    assert dv.get_num_threads() == before


def test_the_thread_limit_is_a_multiple_of_the_cores():
    from divergent import _core

    limit = _core.max_num_threads()
    assert limit >= 64
    before = dv.get_num_threads()
    try:
        dv.set_num_threads(3)
        assert dv.get_num_threads() == 3
    finally:
        dv.set_num_threads(before)


@pytest.mark.parametrize(
    "value, says",
    [
        ("abc", "not a positive integer"),
        ("0", "not a positive integer"),
        ("-1", "not a positive integer"),
        ("", "not a positive integer"),
        ("1.5", "not a positive integer"),
        ("100000", "more than"),
    ],
)
def test_a_bad_thread_variable_warns(value, says):
    env = dict(os.environ, DIVERGENT_NUM_THREADS=value)
    code = "import warnings; warnings.simplefilter('error'); import divergent"
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "RuntimeWarning" in res.stderr and says in res.stderr, res.stderr[-1000:]
    code = "import warnings; warnings.simplefilter('ignore'); import divergent as dv; print(dv.get_num_threads())"
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    from divergent import _core

    assert 1 <= int(res.stdout) <= _core.max_num_threads()


INTERRUPTED = {
    "sinkhorn, stored kernel": 'dv.ot.sinkhorn(x, y, epsilon=1e-4, max_iter=100_000, tol=1e-12, backend="dense")',
    "sinkhorn_divergence, stored kernel": (
        'dv.ot.sinkhorn_divergence(x, y, epsilon=1e-4, max_iter=100_000, tol=1e-12, backend="dense")'
    ),
    "sinkhorn_from_cost, stored kernel": (
        'dv.ot.sinkhorn_from_cost(c, epsilon=1e-4, max_iter=100_000, tol=1e-12, backend="dense")'
    ),
}


@pytest.mark.skipif(sys.platform == "win32", reason="Windows delivers Ctrl-C as a console event, not SIGINT")
@pytest.mark.parametrize("case", list(INTERRUPTED))
def test_ctrl_c_stops_the_stored_kernel_sinkhorn_at_once(case):
    import signal

    # A shell starts background jobs with SIGINT ignored and the child inherits that:
    # the child installs Python's own handler, so the test holds however pytest started.
    code = f"""
import signal, sys, time, warnings
signal.signal(signal.SIGINT, signal.default_int_handler)
import numpy as np
import divergent as dv
warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
x, y = rng.random((1500, 2)), rng.random((1500, 2))
c = ((x[:, None] - y[None]) ** 2).sum(-1)
print("ready", flush=True)
try:
    {INTERRUPTED[case]}
    print("finished")
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    # Run to the end, each call takes minutes (10^5 iterations over 2.25 million pairs).
    out, _ = proc.communicate(timeout=60)
    assert out.strip() == "interrupted", out


@pytest.mark.parametrize("value", [__import__("fractions").Fraction(1, 20), np.float32(0.05)])
def test_positive_parameters_accept_any_real_number(rng, value):
    x, y = rng.random((30, 2)), rng.random((20, 2))
    want = dv.ot.sinkhorn(x, y, epsilon=0.05).cost
    assert dv.ot.sinkhorn(x, y, epsilon=value).cost == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("value", [__import__("fractions").Fraction(10**400, 1), 0, -1.0, float("nan")])
def test_positive_parameters_refuse_what_is_not_positive_and_finite(rng, value):
    x = rng.random((30, 2))
    with pytest.raises(ValueError, match="epsilon must be a positive finite number"):
        dv.ot.sinkhorn(x, x, epsilon=value)
