"""Samplers: MALA on many chains against the vectorised NumPy reference and blackjax
(JAX on CPU, vmap over chains, float64), HMC with an adapted dense metric on an
ill-conditioned Gaussian against blackjax's HMC with window adaptation (effective samples
per second, warm-up included), preconditioned MALA, HMC on a logistic regression, the
funnel and the banana, adaptive tempered SMC against blackjax's, a Custom (Python)
target against the cost of evaluating that target in NumPy, and SVGD against the dense
NumPy reference.

    pytest benches/bench_sampling.py -k "mala_divergent or mala_reference or mala_blackjax or custom or svgd" \
        --benchmark-only --benchmark-json=benches/sampling.json
    pytest benches/bench_sampling.py -k "metric or hmc or logistic or funnel or banana or smc" \
        --benchmark-only --benchmark-json=benches/sampling_adaptive.json
"""

import time

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


# HMC on N(0, S), d = 100, condition number 10^4 in a random basis: 4 chains, 1,000
# warm-up and 1,000 kept iterations of 10 leapfrog steps, a dense metric adapted during
# warm-up and the step size by dual averaging towards 0.8, in both libraries.
HMC_CHAINS, HMC_WARMUP, HMC_DRAWS, HMC_LEAPFROG = 4, 1000, 1000, 10


def ill_conditioned(d=D, condition=1e4, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    cov = (q * np.geomspace(1.0, condition, d)) @ q.T
    return 0.5 * (cov + cov.T)


def record_ess(benchmark, draws, seconds):
    """min over coordinates of the bulk ESS (ArviZ's), and per second of the run."""
    ess = float(np.min(dv.diagnostics.ess(np.asarray(draws))))
    benchmark.extra_info["min_bulk_ess"] = ess
    benchmark.extra_info["ess_per_second"] = ess / seconds


def breast_cancer():
    """scikit-learn's breast cancer data (569 x 30), standardised, with an intercept."""
    datasets = pytest.importorskip("sklearn.datasets")
    x, y = datasets.load_breast_cancer(return_X_y=True)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return np.column_stack([np.ones(len(x)), x]), y.astype(np.float64)


def divergent_hmc(benchmark, target, metric, n_chains=HMC_CHAINS):
    kw = dict(
        n_chains=n_chains,
        n_steps=HMC_DRAWS,
        step_size=0.1,
        n_leapfrog=HMC_LEAPFROG,
        jitter=False,
        metric=metric,
        burn_in=HMC_WARMUP,
        adapt_step_size=True,
        seed=0,
    )
    tr = benchmark.pedantic(dv.sampling.hmc, args=(target,), kwargs=kw, iterations=1, **WARM)
    record_ess(benchmark, tr.samples, benchmark.stats.stats.median)
    benchmark.extra_info["divergences"] = int(tr.sample_stats["diverging"].sum())


def blackjax_hmc(benchmark, make_logdensity, d, diagonal, nuts=False, n_chains=HMC_CHAINS):
    """blackjax's HMC (or NUTS) with its window adaptation (Stan's schedule) of the step
    size and the metric, vmapped over the chains, float64, compiled before the timing."""
    jax = pytest.importorskip("jax")
    blackjax = pytest.importorskip("blackjax")
    jax.config.update("jax_enable_x64", True)
    logdensity = make_logdensity(jax.numpy)
    extra = {} if nuts else {"num_integration_steps": HMC_LEAPFROG}
    algorithm = blackjax.nuts if nuts else blackjax.hmc
    warmup = blackjax.window_adaptation(
        algorithm, logdensity, is_mass_matrix_diagonal=diagonal, target_acceptance_rate=0.8, **extra
    )

    def one_chain(key, x0):
        wkey, skey = jax.random.split(key)
        (state, params), _ = warmup.run(wkey, x0, num_steps=HMC_WARMUP)
        step = algorithm(logdensity, **params).step

        def body(state, key):
            state, info = step(key, state)
            return state, (state.position, info.is_divergent)

        _, (xs, div) = jax.lax.scan(body, state, jax.random.split(skey, HMC_DRAWS))
        return xs, div.sum()

    run = jax.jit(jax.vmap(one_chain))
    keys = jax.random.split(jax.random.PRNGKey(0), n_chains)
    x0 = jax.numpy.asarray(np.random.default_rng(0).standard_normal((n_chains, d)))
    start = time.perf_counter()
    jax.block_until_ready(run(keys, x0))  # compile (and one run) outside the timing
    benchmark.extra_info["compile_and_first_run_s"] = time.perf_counter() - start

    def timed():
        return jax.block_until_ready(run(keys, x0))

    xs, div = benchmark.pedantic(timed, rounds=3, iterations=1)
    record_ess(benchmark, xs, benchmark.stats.stats.median)
    benchmark.extra_info["divergences"] = int(div.sum())


def gaussian_logdensity(jnp):
    prec = jnp.asarray(np.linalg.inv(ill_conditioned()))
    return lambda x: -0.5 * x @ (prec @ x)


def logistic_logdensity(jnp):
    x, y = (jnp.asarray(a) for a in breast_cancer())

    def logdensity(b):
        z = x @ b
        return jnp.sum(y * z - jnp.logaddexp(0.0, z)) - 0.5 * b @ b

    return logdensity


@pytest.mark.benchmark(group="hmc-gaussian-d100-cond1e4-4-chains")
def bench_hmc_divergent(benchmark):
    divergent_hmc(benchmark, dv.targets.Gaussian(np.zeros(D), ill_conditioned()), "dense")


@pytest.mark.benchmark(group="hmc-gaussian-d100-cond1e4-4-chains")
def bench_hmc_blackjax(benchmark):
    blackjax_hmc(benchmark, gaussian_logdensity, D, diagonal=False)


@pytest.mark.benchmark(group="hmc-logistic-breast-cancer-4-chains")
def bench_logistic_divergent(benchmark):
    divergent_hmc(benchmark, dv.targets.LogisticRegression(*breast_cancer()), "diag")


@pytest.mark.benchmark(group="hmc-logistic-breast-cancer-4-chains")
def bench_logistic_blackjax(benchmark):
    blackjax_hmc(benchmark, logistic_logdensity, 31, diagonal=True)


@pytest.mark.benchmark(group="hmc-logistic-breast-cancer-4-chains")
def bench_logistic_blackjax_nuts(benchmark):
    blackjax_hmc(benchmark, logistic_logdensity, 31, diagonal=True, nuts=True)


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


# Preconditioned MALA on the same ill-conditioned Gaussian, given its covariance as the
# preconditioner, against blackjax's MALA on the whitened target z = L^-1 x (L L' = S),
# which is the same algorithm: 1,000 warm-up and 1,000 kept steps at h = 0.25 (the
# optimal acceptance 0.574 in d = 100 comes near h = 0.3), 4 and 512 chains.
MALA_WARMUP, MALA_DRAWS, MALA_STEP = 1000, 1000, 0.25


def divergent_mala(benchmark, n_chains):
    cov = ill_conditioned()
    kw = dict(
        n_chains=n_chains,
        n_steps=MALA_DRAWS,
        step_size=MALA_STEP,
        metric=cov,
        burn_in=MALA_WARMUP,
        seed=0,
    )
    target = dv.targets.Gaussian(np.zeros(D), cov)
    tr = benchmark.pedantic(dv.langevin, args=(target,), kwargs=kw, iterations=1, **WARM)
    record_ess(benchmark, tr.samples, benchmark.stats.stats.median)
    benchmark.extra_info["acceptance"] = float(tr.acceptance_rate.mean())


def blackjax_mala(benchmark, n_chains):
    jax = pytest.importorskip("jax")
    blackjax = pytest.importorskip("blackjax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    cov = ill_conditioned()
    chol = np.linalg.cholesky(cov)
    prec = jnp.asarray(np.linalg.inv(cov))
    L = jnp.asarray(chol)

    def logdensity(z):  # the target in whitened coordinates x = L z (a constant Jacobian)
        x = L @ z
        return -0.5 * x @ (prec @ x)

    mala = blackjax.mala(logdensity, MALA_STEP)

    @jax.jit
    def run(key, z0):
        states = jax.vmap(mala.init)(z0)

        def one_step(states, key):
            keys = jax.random.split(key, n_chains)
            states, info = jax.vmap(mala.step)(keys, states)
            return states, (states.position, info.is_accepted)

        _, (zs, acc) = jax.lax.scan(one_step, states, jax.random.split(key, MALA_WARMUP + MALA_DRAWS))
        return zs[MALA_WARMUP:] @ L.T, acc[MALA_WARMUP:].mean()

    key, z0 = jax.random.PRNGKey(0), jnp.asarray(np.random.default_rng(0).standard_normal((n_chains, D)))
    start = time.perf_counter()
    jax.block_until_ready(run(key, z0))
    benchmark.extra_info["compile_and_first_run_s"] = time.perf_counter() - start

    def timed():
        return jax.block_until_ready(run(key, z0))

    xs, acc = benchmark.pedantic(timed, rounds=3, iterations=1)
    # (draws, chains, d) -> (chains, draws, d)
    record_ess(benchmark, np.swapaxes(np.asarray(xs), 0, 1), benchmark.stats.stats.median)
    benchmark.extra_info["acceptance"] = float(acc)


@pytest.mark.benchmark(group="mala-dense-metric-gaussian-d100-cond1e4-4-chains")
def bench_mala_metric_divergent(benchmark):
    divergent_mala(benchmark, 4)


@pytest.mark.benchmark(group="mala-dense-metric-gaussian-d100-cond1e4-4-chains")
def bench_mala_metric_blackjax(benchmark):
    blackjax_mala(benchmark, 4)


@pytest.mark.benchmark(group="mala-dense-metric-gaussian-d100-cond1e4-512-chains")
def bench_mala_metric_divergent_512(benchmark):
    divergent_mala(benchmark, 512)


@pytest.mark.benchmark(group="mala-dense-metric-gaussian-d100-cond1e4-512-chains")
def bench_mala_metric_blackjax_512(benchmark):
    blackjax_mala(benchmark, 512)


@pytest.mark.benchmark(group="hmc-gaussian-d100-cond1e4-512-chains")
def bench_hmc_divergent_512(benchmark):
    divergent_hmc(benchmark, dv.targets.Gaussian(np.zeros(D), ill_conditioned()), "dense", n_chains=512)


@pytest.mark.benchmark(group="hmc-gaussian-d100-cond1e4-512-chains")
def bench_hmc_blackjax_512(benchmark):
    blackjax_hmc(benchmark, gaussian_logdensity, D, diagonal=False, n_chains=512)


# Neal's funnel (d = 10, scale 3) and the banana (d = 2): HMC with a diagonal metric and
# MALA with an adapted step size, 4 chains, against blackjax's HMC with window adaptation.
@pytest.mark.benchmark(group="hmc-funnel-d10-4-chains")
@pytest.mark.parametrize("sampler", ["hmc", "mala"])
def bench_funnel_divergent(benchmark, sampler):
    target = dv.targets.Funnel(dim=10, scale=3.0)
    if sampler == "hmc":
        divergent_hmc(benchmark, target, "diag")
    else:
        divergent_adapted_mala(benchmark, target)


@pytest.mark.benchmark(group="hmc-funnel-d10-4-chains")
@pytest.mark.parametrize("sampler", ["hmc"])
def bench_funnel_blackjax(benchmark, sampler):
    blackjax_hmc(benchmark, funnel_logdensity, 10, diagonal=True)


@pytest.mark.benchmark(group="hmc-banana-4-chains")
@pytest.mark.parametrize("sampler", ["hmc", "mala"])
def bench_banana_divergent(benchmark, sampler):
    target = dv.targets.Banana(dim=2)
    if sampler == "hmc":
        divergent_hmc(benchmark, target, "diag")
    else:
        divergent_adapted_mala(benchmark, target)


@pytest.mark.benchmark(group="hmc-banana-4-chains")
@pytest.mark.parametrize("sampler", ["hmc"])
def bench_banana_blackjax(benchmark, sampler):
    blackjax_hmc(benchmark, banana_logdensity, 2, diagonal=True)


def divergent_adapted_mala(benchmark, target):
    kw = dict(n_chains=HMC_CHAINS, n_steps=HMC_DRAWS * HMC_LEAPFROG, step_size=0.1, burn_in=HMC_WARMUP)
    kw.update(metric="diag", adapt_step_size=True, thin=HMC_LEAPFROG, seed=0)
    tr = benchmark.pedantic(dv.langevin, args=(target,), kwargs=kw, iterations=1, **WARM)
    record_ess(benchmark, tr.samples, benchmark.stats.stats.median)


def funnel_logdensity(jnp):
    def logdensity(x):
        v, rest = x[0], x[1:]
        return -0.5 * v**2 / 9.0 - 0.5 * (rest.size * v + jnp.sum(rest**2) * jnp.exp(-v))

    return logdensity


def banana_logdensity(jnp):
    t = dv.targets.Banana(dim=2)
    s2, b = t.sigma**2, t.b

    def logdensity(x):
        u = x[1] + b * x[0] ** 2 - b * s2
        return -0.5 * (x[0] ** 2 / s2 + u**2)

    return logdensity


# Adaptive tempered SMC on the 4-mode mixture in d = 10 (log Z = 0): 4,096 particles,
# 5 MALA steps per temperature, resampling at ESS 0.5, against blackjax's
# adaptive_tempered_smc with its MALA kernel at a fixed step.
SMC_PARTICLES, SMC_MCMC = 4096, 5


def mixture_target():
    d = 10
    means = np.zeros((4, d))
    means[0, 0], means[1, 0], means[2, 1], means[3, 1] = 3.0, -3.0, 3.0, -3.0
    return dv.targets.GaussianMixture(np.full(4, 0.25), means, np.stack([0.5 * np.eye(d)] * 4)), means


@pytest.mark.benchmark(group="smc-mixture-4-modes-d10-4096")
def bench_smc_divergent(benchmark):
    target, _ = mixture_target()
    kw = dict(n_particles=SMC_PARTICLES, n_mcmc_steps=SMC_MCMC, seed=0)
    r = benchmark.pedantic(dv.smc, args=(target,), kwargs=kw, iterations=1, **WARM)
    benchmark.extra_info["log_z_error"] = r.log_evidence
    benchmark.extra_info["temperatures"] = r.n_temperatures


@pytest.mark.benchmark(group="smc-mixture-4-modes-d10-4096")
def bench_smc_blackjax(benchmark):
    jax = pytest.importorskip("jax")
    blackjax = pytest.importorskip("blackjax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    _, means = mixture_target()
    mu = jnp.asarray(means)
    d = mu.shape[1]

    def loglik(x):  # the mixture over the N(0, I) reference, as divergent tempers it
        lp = jax.scipy.special.logsumexp(-jnp.sum((x - mu) ** 2, axis=1)) + jnp.log(0.25)
        lp += -0.5 * d * jnp.log(2 * jnp.pi * 0.5)
        return lp - (-0.5 * x @ x - 0.5 * d * jnp.log(2 * jnp.pi))

    def prior(x):
        return -0.5 * x @ x - 0.5 * d * jnp.log(2 * jnp.pi)

    smc = blackjax.adaptive_tempered_smc(
        prior,
        loglik,
        blackjax.mala.build_kernel(),
        blackjax.mala.init,
        blackjax.smc.extend_params({"step_size": jnp.asarray(0.1)}),
        blackjax.smc.resampling.systematic,
        0.5,
        num_mcmc_steps=SMC_MCMC,
    )

    @jax.jit
    def run(key, x0):
        state = smc.init(x0)

        def cond(carry):
            return carry[1].tempering_param < 1

        def body(carry):
            key, state, log_z = carry
            key, sub = jax.random.split(key)
            state, info = smc.step(sub, state)
            return key, state, log_z + info.log_likelihood_increment

        _, state, log_z = jax.lax.while_loop(cond, body, (key, state, jnp.zeros(())))
        return log_z

    key = jax.random.PRNGKey(0)
    x0 = jnp.asarray(np.random.default_rng(0).standard_normal((SMC_PARTICLES, d)))
    start = time.perf_counter()
    jax.block_until_ready(run(key, x0))
    benchmark.extra_info["compile_and_first_run_s"] = time.perf_counter() - start

    def timed():
        return jax.block_until_ready(run(key, x0))

    log_z = benchmark.pedantic(timed, rounds=3, iterations=1)
    benchmark.extra_info["log_z_error"] = float(log_z)
