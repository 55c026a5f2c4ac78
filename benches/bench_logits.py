"""divergent.logits at language-model scale: the fused kernel against PyTorch CPU and
NumPy, the half-precision inputs against float32, and KLStats streamed from .npy files.

    pytest benches/bench_logits.py --benchmark-only --benchmark-json=benches/logits.json

KL(p || q) per row of two (B, V) = (4,096, 128,000) batches of logits (2.1 GB per float32
batch; DIVERGENT_BENCH_LOGITS_ROWS sets B). Peers: PyTorch CPU with 2 threads,
``F.kl_div(F.log_softmax(q), F.log_softmax(p), log_target=True, reduction="none").sum(-1)``
(skipped where torch is not installed: it is not in the bench extra, being a large
download), and the NumPy log-softmax formulation. The
"stream copy" column is ``np.copyto`` of both batches: the time to move their bytes
through memory once, a bound that no reader of the input can beat by much.

The stream rows run ``divergent logits`` (cli.print_logits_report) over two float16
.npy files of 10^5 x 32,000 logits (6.4 GB each; DIVERGENT_BENCH_STREAM_ROWS sets the
rows) written into a temporary folder, against a NumPy max over the 16-bit words of each
memory-mapped file (reading both once);
the anonymous memory (RssAnon, the mapping excluded) at its peak is in extra_info.
"""

import io
import os
import tempfile
import threading
import time
from pathlib import Path

import divergent as dv
import numpy as np
import pytest
import scipy.special as sp
from divergent import cli

B = int(os.environ.get("DIVERGENT_BENCH_LOGITS_ROWS", 4096))
V = 128_000
STREAM_ROWS = int(os.environ.get("DIVERGENT_BENCH_STREAM_ROWS", 100_000))
STREAM_V = 32_000


@pytest.fixture(autouse=True, scope="module")
def two_threads():
    dv.set_num_threads(2)


@pytest.fixture(scope="module")
def f32_logits():
    rng = np.random.default_rng(0)
    a = np.empty((B, V), np.float32)
    b = np.empty((B, V), np.float32)
    for s in range(0, B, 256):
        a[s : s + 256] = rng.standard_normal((min(256, B - s), V), dtype=np.float32) * 3
        b[s : s + 256] = a[s : s + 256] + rng.standard_normal((min(256, B - s), V), dtype=np.float32) * 0.3
    return a, b


@pytest.fixture(scope="module", params=["float32", "float16", "bfloat16"])
def logits(request, f32_logits):
    if request.param == "float32":
        return f32_logits
    if request.param == "bfloat16":
        ml_dtypes = pytest.importorskip("ml_dtypes")
        return tuple(x.astype(ml_dtypes.bfloat16) for x in f32_logits)
    return tuple(x.astype(np.float16) for x in f32_logits)


@pytest.mark.benchmark(group="logits-kl")
def bench_kl_divergent(benchmark, logits):
    benchmark.pedantic(dv.logits.kl, args=logits, kwargs={"reduction": "none"}, rounds=5, iterations=1)


def numpy_kl(a, b):
    la, lb = sp.log_softmax(a, axis=-1), sp.log_softmax(b, axis=-1)
    return (np.exp(la) * (la - lb)).sum(axis=-1)


@pytest.mark.benchmark(group="logits-kl")
def bench_kl_numpy(benchmark, logits):
    if logits[0].dtype != np.float32:
        pytest.skip("the peers run on float32")
    got = benchmark.pedantic(numpy_kl, args=logits, rounds=2, iterations=1)
    np.testing.assert_allclose(got, dv.logits.kl(*logits, reduction="none"), rtol=1e-3, atol=1e-6)


@pytest.mark.benchmark(group="logits-kl")
def bench_kl_torch(benchmark, logits):
    if logits[0].dtype != np.float32:
        pytest.skip("the peers run on float32")
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    torch.set_num_threads(2)
    a, b = (torch.from_numpy(x) for x in logits)

    def run():
        with torch.no_grad():
            return F.kl_div(F.log_softmax(b, -1), F.log_softmax(a, -1), log_target=True, reduction="none").sum(-1)

    got = benchmark.pedantic(run, rounds=3, iterations=1)
    np.testing.assert_allclose(got.numpy(), dv.logits.kl(*logits, reduction="none"), rtol=1e-3, atol=1e-5)


@pytest.mark.benchmark(group="logits-kl")
def bench_kl_stream_copy(benchmark, logits):
    if logits[0].dtype != np.float32:
        pytest.skip("the bound is measured on float32")
    out = [np.empty_like(x) for x in logits]

    def copy():
        for o, x in zip(out, logits):
            np.copyto(o, x)

    benchmark.pedantic(copy, rounds=3, iterations=1)
    benchmark.extra_info["bytes_read"] = sum(x.nbytes for x in logits)


@pytest.fixture(scope="module")
def stream_files():
    folder = Path(tempfile.mkdtemp(prefix="divergent-bench-"))
    rng = np.random.default_rng(1)
    block = (rng.standard_normal((1000, STREAM_V), dtype=np.float32) * 3).astype(np.float16)
    noise = (rng.standard_normal((1000, STREAM_V), dtype=np.float32) * 0.2).astype(np.float16)
    paths = folder / "base.npy", folder / "quant.npy"
    for path, extra in zip(paths, (None, noise)):
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(STREAM_ROWS, STREAM_V))
        for s in range(0, STREAM_ROWS, 1000):
            n = min(1000, STREAM_ROWS - s)
            rows = np.roll(block, s // 1000, axis=1)[:n]
            out[s : s + n] = rows if extra is None else rows + extra[:n]
        out.flush()
        del out
    yield [str(p) for p in paths]
    for p in paths:
        p.unlink()
    folder.rmdir()


def rss_anon_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def peak_anon_during(call):
    """Run `call`, sampling RssAnon every 20 ms; the peak above the start, in MiB."""
    start, peak, done = rss_anon_kib(), [0], threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], rss_anon_kib())
            time.sleep(0.02)

    t = threading.Thread(target=watch)
    t.start()
    try:
        call()
    finally:
        done.set()
        t.join()
    return (max(peak[0], rss_anon_kib()) - start) / 1024


@pytest.mark.benchmark(group="logits-stream")
def bench_stream_divergent(benchmark, stream_files):
    peaks = []

    def run():
        peaks.append(peak_anon_during(lambda: cli.print_logits_report(*stream_files, None, 1.0, False, io.StringIO())))

    benchmark.pedantic(run, rounds=2, iterations=1)
    benchmark.extra_info["peak_rss_anon_mib"] = max(peaks)


@pytest.mark.benchmark(group="logits-stream")
def bench_stream_numpy(benchmark, stream_files):
    """Reading both files once: a max over each mapping's 16-bit words (SIMD, as fast as
    memory delivers them), chunked."""

    def run():
        for path in stream_files:
            m = np.load(path, mmap_mode="r").view(np.uint16)
            for s in range(0, m.shape[0], 2000):
                m[s : s + 2000].max()

    benchmark.pedantic(run, rounds=2, iterations=1)
