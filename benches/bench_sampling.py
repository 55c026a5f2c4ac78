"""Samplers: MALA on many chains against the vectorised NumPy reference and blackjax
(JAX on CPU, vmap over chains, float64), a Custom (Python) target against the cost of
evaluating that target in NumPy, and SVGD against the dense NumPy reference.

    pytest benches/bench_sampling.py --benchmark-only --benchmark-json=benches/sampling.json
"""

import divergent as dv
import numpy as np
import pytest
from divergent.reference import sampling as ref

CHAINS, STEPS, D = 1000, 1000, 100
STEP_SIZE = 0.05
# A warm-up and the median of 3 for the runs that take about a second: a process's first
# touch of fresh memory (the 800 MB of recorded states) costs up to 2x on these VMs. The
# NumPy references (several seconds each) run once; blackjax's first run is its compile.
WARM = dict(rounds=3, warmup_rounds=1)


@pytest.fixture(autouse=True, scope="module")
def two_threads():
    dv.set_num_threads(2)


def gaussian_params(d=D, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d))
    return rng.standard_normal(d), a @ a.T / d + np.eye(d)


def mala_kwargs():
    return dict(n_chains=CHAINS, n_steps=STEPS, step_size=STEP_SIZE, method="mala", seed=0)


@pytest.mark.benchmark(group="mala-gaussian-d100-1000x1000")
def bench_mala_divergent(benchmark):
    t = dv.targets.Gaussian(*gaussian_params())
    tr = benchmark.pedantic(dv.langevin, args=(t,), kwargs=mala_kwargs(), iterations=1, **WARM)
    benchmark.extra_info["acceptance"] = float(tr.acceptance_rate.mean())


@pytest.mark.benchmark(group="mala-gaussian-d100-1000x1000")
def bench_mala_reference(benchmark):
    t = ref.Gaussian(*gaussian_params())
    tr = benchmark.pedantic(ref.langevin, args=(t,), kwargs=mala_kwargs(), rounds=1, iterations=1)
    benchmark.extra_info["acceptance"] = float(tr.acceptance_rate.mean())


@pytest.mark.benchmark(group="mala-gaussian-d100-1000x1000")
def bench_mala_blackjax(benchmark):
    jax = pytest.importorskip("jax")
    blackjax = pytest.importorskip("blackjax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    mean, cov = gaussian_params()
    mean, prec = jnp.asarray(mean), jnp.asarray(np.linalg.inv(cov))

    def logdensity(x):
        r = x - mean
        return -0.5 * r @ (prec @ r)

    mala = blackjax.mala(logdensity, STEP_SIZE)

    @jax.jit
    def run(key, x0):
        states = jax.vmap(mala.init)(x0)

        def one_step(states, key):
            keys = jax.random.split(key, CHAINS)
            states, info = jax.vmap(mala.step)(keys, states)
            return states, (states.position, info.is_accepted)

        _, (xs, acc) = jax.lax.scan(one_step, states, jax.random.split(key, STEPS))
        return xs, acc.mean()

    key, x0 = jax.random.PRNGKey(0), jnp.asarray(np.random.default_rng(0).standard_normal((CHAINS, D)))
    jax.block_until_ready(run(key, x0))  # compile outside the timing

    def timed():
        return jax.block_until_ready(run(key, x0))

    _, acc = benchmark.pedantic(timed, rounds=3, iterations=1)
    benchmark.extra_info["acceptance"] = float(acc)


@pytest.mark.benchmark(group="mala-custom-d100-1000x1000")
def bench_custom_divergent(benchmark):
    t = dv.targets.Custom(ref.Gaussian(*gaussian_params()).logp_and_grad, D)
    benchmark.pedantic(dv.langevin, args=(t,), kwargs=mala_kwargs(), iterations=1, **WARM)


@pytest.mark.benchmark(group="mala-custom-d100-1000x1000")
def bench_custom_target_cost(benchmark):
    """What the Custom run cannot avoid: 1001 NumPy evaluations of the target for all chains."""
    t = ref.Gaussian(*gaussian_params())
    x = np.random.default_rng(0).standard_normal((CHAINS, D))

    def evaluate():
        for _ in range(STEPS + 1):
            t.logp_and_grad(x)

    benchmark.pedantic(evaluate, iterations=1, **WARM)


SVGD_N, SVGD_D, SVGD_STEPS = 2000, 10, 20


def svgd_problem():
    mean, cov = gaussian_params(SVGD_D, seed=1)
    x0 = np.random.default_rng(1).standard_normal((SVGD_N, SVGD_D)) * 0.1 + 3.0
    return mean, cov, x0


@pytest.mark.benchmark(group="svgd-2000x10-20-steps")
def bench_svgd_divergent(benchmark):
    mean, cov, x0 = svgd_problem()
    t = dv.targets.Gaussian(mean, cov)
    out = benchmark.pedantic(dv.svgd, args=(t, x0), kwargs=dict(n_steps=SVGD_STEPS), iterations=1, **WARM)
    expect = ref.svgd(ref.Gaussian(mean, cov), x0, n_steps=2)
    assert np.allclose(dv.svgd(t, x0, n_steps=2), expect, rtol=1e-9, atol=1e-10)
    assert out.shape == x0.shape


@pytest.mark.benchmark(group="svgd-2000x10-20-steps")
def bench_svgd_reference(benchmark):
    mean, cov, x0 = svgd_problem()
    t = ref.Gaussian(mean, cov)
    benchmark.pedantic(ref.svgd, args=(t, x0), kwargs=dict(n_steps=SVGD_STEPS), rounds=1, iterations=1)
