"""Row-wise KL and JS from logits: the fused Rust kernel vs plain NumPy/SciPy.

    pytest benches/bench_discrete.py --benchmark-only --benchmark-json=benches/discrete.json

B = 256 rows, V = 131,072 classes (a large language-model vocabulary), float32 and
float64 logits. Baselines: the best plain-NumPy formulation (scipy.special.log_softmax,
then sums) and scipy.special.rel_entr on the softmax probabilities.
"""

import divergent as dv
import numpy as np
import pytest
import scipy.special as sp

B, V = 256, 131_072


@pytest.fixture(autouse=True, scope="module")
def two_threads():
    dv.set_num_threads(2)


@pytest.fixture(scope="module", params=["float32", "float64"])
def logits(request):
    rng = np.random.default_rng(0)
    a = (rng.normal(size=(B, V)) * 3).astype(request.param)
    b = (rng.normal(size=(B, V)) * 3).astype(request.param)
    return a, b


def numpy_kl(a, b):
    la, lb = sp.log_softmax(a, axis=-1), sp.log_softmax(b, axis=-1)
    return (np.exp(la) * (la - lb)).sum(axis=-1)


def numpy_js(a, b):
    la, lb = sp.log_softmax(a, axis=-1), sp.log_softmax(b, axis=-1)
    lm = np.logaddexp(la, lb) - np.log(2)
    return 0.5 * ((np.exp(la) * (la - lm)).sum(axis=-1) + (np.exp(lb) * (lb - lm)).sum(axis=-1))


def rel_entr_kl(a, b):
    p, q = sp.softmax(a, axis=-1), sp.softmax(b, axis=-1)
    return sp.rel_entr(p, q).sum(axis=-1)


def rel_entr_js(a, b):
    p, q = sp.softmax(a, axis=-1), sp.softmax(b, axis=-1)
    m = 0.5 * (p + q)
    return 0.5 * (sp.rel_entr(p, m).sum(axis=-1) + sp.rel_entr(q, m).sum(axis=-1))


@pytest.mark.benchmark(group="kl-from-logits")
def bench_kl_divergent(benchmark, logits):
    benchmark(dv.discrete.kl, *logits, from_logits=True)


@pytest.mark.benchmark(group="kl-from-logits")
def bench_kl_numpy(benchmark, logits):
    got = benchmark.pedantic(numpy_kl, args=logits, rounds=3, iterations=1)
    np.testing.assert_allclose(got, dv.discrete.kl(*logits, from_logits=True), rtol=1e-4)


@pytest.mark.benchmark(group="kl-from-logits")
def bench_kl_rel_entr(benchmark, logits):
    benchmark.pedantic(rel_entr_kl, args=logits, rounds=3, iterations=1)


@pytest.mark.benchmark(group="js-from-logits")
def bench_js_divergent(benchmark, logits):
    benchmark(dv.discrete.js, *logits, from_logits=True)


@pytest.mark.benchmark(group="js-from-logits")
def bench_js_numpy(benchmark, logits):
    got = benchmark.pedantic(numpy_js, args=logits, rounds=3, iterations=1)
    np.testing.assert_allclose(got, dv.discrete.js(*logits, from_logits=True), rtol=1e-4)


@pytest.mark.benchmark(group="js-from-logits")
def bench_js_rel_entr(benchmark, logits):
    benchmark.pedantic(rel_entr_js, args=logits, rounds=3, iterations=1)
