"""Generative-model metrics on Inception-sized features (float32) against the packages
users run: the prdc package's compute_prdc, pytorch-fid's NumPy/SciPy FID (np.cov and
scipy.linalg.sqrtm), clean-fid's NumPy KID loop, and vendi-score's dual score.

    pytest benches/bench_metrics.py --benchmark-only --benchmark-json=benches/metrics.json
"""

import contextlib
import io

import divergent as dv
import numpy as np
import pytest
import scipy.linalg

prdc_package = pytest.importorskip("prdc")
vendi = pytest.importorskip("vendi_score.vendi")


@pytest.fixture(autouse=True, scope="module")
def two_threads():
    dv.set_num_threads(2)


def features(n, d, seed=0, shift=0.0):
    rng = np.random.default_rng(seed)
    # Non-negative and correlated, as pooled CNN activations are.
    z = rng.standard_normal((n, d)).astype(np.float32)
    return np.abs(z + 0.5 * z[:, :1] + shift).astype(np.float32)


def fid_pytorch(x, y):
    """pytorch-fid's calculate_frechet_distance on np.cov statistics."""
    mu1, mu2 = x.mean(axis=0), y.mean(axis=0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1.dot(s2))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def kid_clean_fid(feats1, feats2, num_subsets=100, max_subset_size=1000, seed=0):
    """clean-fid's kernel_distance (its NumPy loop, seeded)."""
    rng = np.random.default_rng(seed)
    n = feats1.shape[1]
    m = min(min(feats1.shape[0], feats2.shape[0]), max_subset_size)
    t = 0
    for _ in range(num_subsets):
        x = feats2[rng.choice(feats2.shape[0], m, replace=False)]
        y = feats1[rng.choice(feats1.shape[0], m, replace=False)]
        a = (x @ x.T / n + 1) ** 3 + (y @ y.T / n + 1) ** 3
        b = (x @ y.T / n + 1) ** 3
        t += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    return float(t / num_subsets / m)


PRDC_N = 10_000


@pytest.mark.benchmark(group="prdc-k5-d2048-float32")
def bench_prdc_divergent(benchmark):
    real, fake = features(PRDC_N, 2048), features(PRDC_N, 2048, seed=1, shift=0.1)
    got = benchmark.pedantic(dv.metrics.prdc, args=(real, fake), rounds=3, iterations=1)
    benchmark.extra_info["value"] = got.coverage


@pytest.mark.benchmark(group="prdc-k5-d2048-float32")
def bench_prdc_prdc_package(benchmark):
    real, fake = features(PRDC_N, 2048), features(PRDC_N, 2048, seed=1, shift=0.1)
    with contextlib.redirect_stdout(io.StringIO()):
        got = benchmark.pedantic(prdc_package.compute_prdc, args=(real, fake, 5), rounds=1, iterations=1)
    want = dv.metrics.prdc(real, fake)
    assert got["coverage"] == pytest.approx(want.coverage, abs=2 / PRDC_N)


FID_N = 20_000


@pytest.mark.benchmark(group="fid-d2048-float32")
def bench_fid_divergent(benchmark):
    x, y = features(FID_N, 2048), features(FID_N, 2048, seed=1, shift=0.1)
    benchmark.pedantic(dv.metrics.fid, args=(x, y), rounds=3, iterations=1)


@pytest.mark.benchmark(group="fid-d2048-float32")
def bench_fid_pytorch_fid(benchmark):
    x, y = features(FID_N, 2048), features(FID_N, 2048, seed=1, shift=0.1)
    got = benchmark.pedantic(fid_pytorch, args=(x, y), rounds=1, iterations=1)
    assert got == pytest.approx(dv.metrics.fid(x, y), rel=1e-4)


@pytest.mark.benchmark(group="kid-100x1000-d2048-float32")
def bench_kid_divergent(benchmark):
    x, y = features(10_000, 2048), features(10_000, 2048, seed=1, shift=0.1)
    benchmark.pedantic(dv.metrics.kid, args=(x, y), kwargs={"seed": 0}, rounds=3, iterations=1)


@pytest.mark.benchmark(group="kid-100x1000-d2048-float32")
def bench_kid_clean_fid(benchmark):
    x, y = features(10_000, 2048), features(10_000, 2048, seed=1, shift=0.1)
    got = benchmark.pedantic(kid_clean_fid, args=(x, y), rounds=1, iterations=1)
    # Different subsets: the same value within its subset spread.
    r = dv.metrics.kid(x, y, seed=0)
    assert abs(got - r.mean) < 6 * r.std


@pytest.mark.benchmark(group="vendi-cosine-n1e5-d768-float32")
def bench_vendi_divergent(benchmark):
    x = features(100_000, 768)
    benchmark.pedantic(dv.metrics.vendi_score, args=(x,), rounds=3, iterations=1)


@pytest.mark.benchmark(group="vendi-cosine-n1e5-d768-float32")
def bench_vendi_vendi_package(benchmark):
    x = features(100_000, 768)
    got = benchmark.pedantic(vendi.score_dual, args=(x,), rounds=1, iterations=1)
    assert got == pytest.approx(dv.metrics.vendi_score(x), rel=1e-4)
