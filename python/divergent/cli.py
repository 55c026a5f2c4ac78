"""The ``divergent`` command line.

``divergent demo`` prints the divergences between two built-in example samples with the
time each took; ``divergent compare X Y`` does the same for samples in .npy or .csv
files; ``divergent gaussian m0 S0 m1 S1`` prints closed-form divergences between two
Gaussians; ``divergent metrics REAL FAKE`` the generative-model metrics of two feature
files; ``divergent logits BASE QUANT`` the KL statistics of two models' logits, streamed
from memory-mapped .npy files (``--json`` for machine-readable output). Every estimator the package has appears
as one row of the table (see `ROWS`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

import divergent as dv
from divergent._validation import as_samples, check_same_dim


class Row(NamedTuple):
    label: str
    compute: Callable[[np.ndarray, np.ndarray], float]


#: Points per sample for the permutation test row (its cost grows as n^2 x permutations).
TEST_POINTS = 2000

#: The table, in display order. Later families append their rows here.
ROWS: list[Row] = [
    *(
        Row(f"MMD^2 {kernel} (unbiased, median h)", lambda x, y, k=kernel: dv.mmd(x, y, kernel=k))
        for kernel in ("gaussian", "laplace", "imq")
    ),
    Row("MMD^2 energy kernel (unbiased)", lambda x, y: dv.mmd(x, y, kernel="energy")),
    Row("energy distance", dv.energy_distance),
    Row(
        f"MMD test p-value ({TEST_POINTS} pts/sample, 999 perm.)",
        lambda x, y: dv.mmd_test(x[:TEST_POINTS], y[:TEST_POINTS], seed=0).pvalue,
    ),
    Row("Cauchy-Schwarz divergence (h = 1)", dv.cauchy_schwarz_divergence),
    Row(
        f"Sinkhorn divergence ({TEST_POINTS} pts, p = 2, blur = diam / 20)",
        lambda x, y: _sinkhorn_divergence(x[:TEST_POINTS], y[:TEST_POINTS]),
    ),
    Row("sliced Wasserstein (p = 2, 200 directions)", lambda x, y: dv.ot.sliced_wasserstein(x, y, seed=0)),
    Row("KL(x || y), k-NN (k = 1)", dv.kl_divergence),
    Row("Jensen-Shannon, k-NN (k = 3)", dv.js_divergence),
    Row("mutual information of paired rows, KSG (k = 3)", dv.mutual_information),
]


def _sinkhorn_divergence(x: np.ndarray, y: np.ndarray) -> float:
    """S_eps with epsilon = (diameter / 20)^2: a length scale relative to the data, since an
    absolute epsilon means nothing for unknown units (GeomLoss's blur convention)."""
    x, y = as_samples(x, "x"), as_samples(y, "y")
    check_same_dim(x, y)
    both = np.vstack([x, y])
    span = both.max(axis=0) - both.min(axis=0)
    top = float(span.max())
    if top == 0:
        return 0.0
    # S_eps is homogeneous of degree 2 (p = 2): computed on the data divided by a power
    # of two near the diameter (exact), so that no diameter over- or underflows.
    e = math.frexp(top)[1]
    scaled = [np.ldexp(a, -e) for a in (x, y)]
    diameter = float(np.linalg.norm(np.ldexp(span, -e)))
    value = dv.ot.sinkhorn_divergence(*scaled, epsilon=(diameter / 20) ** 2, scaling=0.5)
    try:
        return math.ldexp(value, 2 * e)
    except OverflowError:
        raise ValueError("the Sinkhorn divergence of these samples exceeds float64's range") from None


def load_samples(path: str) -> np.ndarray:
    """Samples from a .npy file or a comma-separated .csv file (one header line allowed),
    as an (n, d) array: a 1-D array is n samples in d = 1."""
    arr = load_array(path, ndmin=2)
    return arr.reshape(-1, 1) if arr.ndim == 1 else arr


def load_array(path: str, ndmin: int = 1) -> np.ndarray:
    """An array from a .npy file or a comma-separated .csv file (one header line allowed)."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"no such file: {path}")
    suffix = p.suffix.lower()
    if suffix not in (".npy", ".csv", ".txt"):
        raise ValueError(f"cannot read {path}: expected a .npy or .csv file")
    try:
        if suffix == ".npy":
            arr = np.load(p, allow_pickle=False)
        else:
            try:
                arr = np.loadtxt(p, delimiter=",", ndmin=ndmin)
            except ValueError:
                arr = np.loadtxt(p, delimiter=",", ndmin=ndmin, skiprows=1)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
        raise ValueError(
            f"cannot read {path}: expected an array of numbers, got dtype {getattr(arr, 'dtype', type(arr))}"
        )
    return arr


def demo_samples(n: int, d: int, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x ~ N(0, I_d) and y ~ N(shift e_1, I_d), n points each."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    y = rng.standard_normal((n, d))
    y[:, 0] += shift
    return x, y


def print_table(x: np.ndarray, y: np.ndarray, out=None) -> None:
    out = sys.stdout if out is None else out
    x, y = as_samples(x, "x"), as_samples(y, "y")
    check_same_dim(x, y)
    width = max(len(r.label) for r in ROWS)
    print(
        f"divergent {dv.__version__}: x {x.shape[0]} x {x.shape[1]}, y {y.shape[0]} x "
        f"{y.shape[1]}, {dv.get_num_threads()} threads",
        file=out,
    )
    print(f"{'divergence':<{width}}  {'value':>12}  {'time':>10}", file=out)
    print("-" * (width + 26), file=out)
    notes = []
    for row in ROWS:
        start = time.perf_counter()
        try:
            value = f"{row.compute(x, y):>12.5e}"
        except (ValueError, ArithmeticError, MemoryError) as exc:
            # One estimator not applying (unpaired rows for MI, duplicates for k-NN)
            # should not hide the others.
            notes.append(f"[{len(notes) + 1}] {row.label}: {exc}")
            value = f"{'n/a [' + str(len(notes)) + ']':>12}"
        elapsed = time.perf_counter() - start
        print(f"{row.label:<{width}}  {value}  {_fmt_time(elapsed):>10}", file=out)
    for note in notes:
        print(note, file=out)


def print_gaussian_table(params, bandwidth: float, out=None) -> None:
    """Closed-form divergences between P = N(m0, S0) and Q = N(m1, S1)."""
    out = sys.stdout if out is None else out
    m0, S0, m1, S1 = params
    g = dv.gaussian
    rows = [
        ("KL(P || Q)", lambda: g.kl(m0, S0, m1, S1)),
        ("KL(Q || P)", lambda: g.kl(m1, S1, m0, S0)),
        ("Renyi divergence, alpha = 0.5", lambda: g.renyi(m0, S0, m1, S1, 0.5)),
        ("Bhattacharyya distance", lambda: g.bhattacharyya(m0, S0, m1, S1)),
        ("Hellinger distance", lambda: g.hellinger(m0, S0, m1, S1)),
        ("2-Wasserstein distance", lambda: g.wasserstein2(m0, S0, m1, S1)),
        (f"MMD^2, Gaussian kernel h = {bandwidth:g}", lambda: g.mmd(m0, S0, m1, S1, bandwidth)),
        ("Cauchy-Schwarz divergence", lambda: g.cauchy_schwarz(m0, S0, m1, S1)),
    ]
    width = max(len(label) for label, _ in rows)
    print(f"P = N(m0, S0), Q = N(m1, S1), d = {np.atleast_1d(m0).shape[-1]}", file=out)
    for label, compute in rows:
        value = np.asarray(compute())
        text = f"{float(value):>12.6g}" if value.ndim == 0 else np.array2string(value, precision=6)
        print(f"{label:<{width}}  {text}", file=out)


def metric_rows(real: np.ndarray, fake: np.ndarray, k: int, seed: int):
    """(name, compute) for the metrics table, in display order; compute returns a dict
    of named values. KID uses subsets of min(1000, n, m) points."""
    m = dv.metrics
    size = min(1000, real.shape[0], fake.shape[0])

    def kid():
        r = m.kid(real, fake, subset_size=size, seed=seed)
        return {"kid_mean": r.mean, "kid_std": r.std}

    def prdc():
        r = m.prdc(real, fake, k=k)
        return {"precision": r.precision, "recall": r.recall, "density": r.density, "coverage": r.coverage}

    return [
        ("FID", lambda: {"fid": m.fid(real, fake)}),
        (f"KID (100 subsets of {size})", kid),
        (f"precision/recall/density/coverage (k = {k})", prdc),
        ("Vendi score of REAL (cosine)", lambda: {"vendi_real": m.vendi_score(real)}),
        ("Vendi score of FAKE (cosine)", lambda: {"vendi_fake": m.vendi_score(fake)}),
    ]


def print_metrics(real, fake, k: int = 5, seed: int = 0, as_json: bool = False, out=None) -> None:
    """The generative-model metrics of FAKE against REAL, as a table with timings or as
    JSON; a progress line on stderr for every step that takes over a second."""
    out = sys.stdout if out is None else out
    real, fake = as_samples(real, "REAL", float32=True), as_samples(fake, "FAKE", float32=True)
    check_same_dim(real, fake, "REAL", "FAKE")
    values, timings = {}, {}
    for label, compute in metric_rows(real, fake, k, seed):
        start = time.perf_counter()
        got = compute()
        elapsed = time.perf_counter() - start
        values.update(got)
        timings[label] = elapsed
        if elapsed > 1.0 and not as_json:
            print(f"divergent: {label} done in {_fmt_time(elapsed)}", file=sys.stderr)
    if as_json:
        json.dump(
            {"n_real": real.shape[0], "n_fake": fake.shape[0], "d": real.shape[1], **values, "seconds": timings},
            out,
            indent=2,
        )
        print(file=out)
        return
    print(
        f"divergent {dv.__version__}: REAL {real.shape[0]} x {real.shape[1]}, FAKE {fake.shape[0]} x "
        f"{fake.shape[1]}, {dv.get_num_threads()} threads",
        file=out,
    )
    width = max(len(name) for name in values)
    for name, value in values.items():
        print(f"{name:<{width}}  {value:>12.6g}", file=out)
    for label, seconds in timings.items():
        print(f"time: {label}: {_fmt_time(seconds)}", file=out)


#: Logits per chunk of the ``logits`` command (about 8 MB of float16): the stream's
#: memory beyond the mapped files.
LOGIT_CHUNK_ELEMENTS = 1 << 22


def load_logits(path: str, name: str) -> np.ndarray:
    """A .npy file of logits, memory-mapped (read a chunk at a time, never whole)."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"no such file: {path}")
    if p.suffix.lower() != ".npy":
        raise ValueError(f"cannot read {path}: {name} must be a .npy file (it is memory-mapped)")
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    if arr.ndim == 0 or arr.dtype.kind != "f":
        raise ValueError(
            f"{path}: {name} must hold float logits of shape (..., V), got dtype {arr.dtype} and shape {arr.shape}"
        )
    return arr


def make_logits_example(folder: str, out=None) -> None:
    """Write base.npy, quant.npy (float16 logits, 512 positions x 32,000 tokens: a model and
    a noisier copy of it, as quantisation makes) and mask.npy (the last 32 positions are
    padding) into `folder`."""
    out = sys.stdout if out is None else out
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n, v = 512, 32_000
    # Zipf-like next-token distributions: a few likely tokens and a long tail.
    base = (-1.1 * np.log(rng.permuted(np.tile(np.arange(1, v + 1), (n, 1)), axis=1)) + rng.normal(0, 0.5, (n, v))) * 2
    quant = base + rng.normal(0, 0.15, (n, v))
    np.save(d / "base.npy", base.astype(np.float16))
    np.save(d / "quant.npy", quant.astype(np.float16))
    np.save(d / "mask.npy", np.arange(n) < n - 32)
    print(f"wrote {d / 'base.npy'}, {d / 'quant.npy'} ({n} x {v} float16) and {d / 'mask.npy'}", file=out)


def print_logits_report(base_path: str, quant_path: str, mask_path, temperature: float, as_json: bool, out=None):
    """KLStats of two .npy files of logits streamed a chunk of positions at a time, with
    a progress line on stderr while it runs (every second)."""
    out = sys.stdout if out is None else out
    base, quant = load_logits(base_path, "BASE"), load_logits(quant_path, "QUANT")
    if base.shape != quant.shape:
        raise ValueError(f"BASE has shape {base.shape} and QUANT {quant.shape}; they must match")
    lead, v = base.shape[:-1], base.shape[-1]
    n = math.prod(lead)
    mask = None
    if mask_path is not None:
        mask = load_array(mask_path)
        if mask.dtype != np.bool_ or mask.shape != lead:
            raise ValueError(
                f"{mask_path}: the mask must be a bool array of shape {lead}, got {mask.dtype} {mask.shape}"
            )
        mask = mask.reshape(-1)
    rows_b, rows_q = base.reshape(n, v), quant.reshape(n, v)
    stats = dv.logits.KLStats(temperature=temperature)
    step = max(1, LOGIT_CHUNK_ELEMENTS // v)
    start = last = time.perf_counter()
    for s in range(0, n, step):
        e = min(s + step, n)
        stats.update(rows_b[s:e], rows_q[s:e], None if mask is None else mask[s:e])
        now = time.perf_counter()
        if now - last > 1.0:
            print(
                f"\rdivergent: {e:,} / {n:,} positions ({100 * e / n:.0f}%), {now - start:.1f} s",
                end="",
                file=sys.stderr,
            )
            last = now
    elapsed = time.perf_counter() - start
    if last != start:
        print(file=sys.stderr)
    report = stats.report()
    if as_json:
        info = {"base": base_path, "quant": quant_path, "shape": list(base.shape), "dtype": str(base.dtype)}
        json.dump({**info, **report.to_dict(), "seconds": elapsed}, out, indent=2)
        print(file=out)
        return
    print(
        f"divergent {dv.__version__}: KL(BASE || QUANT) over {base.shape} {base.dtype} logits, "
        f"{dv.get_num_threads()} threads, {_fmt_time(elapsed)}",
        file=out,
    )
    print(report, file=out)


def _fmt_time(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 10 else f"{seconds:.2f} s"


def _int_at_least(least: int, what: str):
    """An argparse type: an integer >= least."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a {what} integer, got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be a {what} integer, got {text}")
        return value

    return parse


_positive_int = _int_at_least(1, "positive")
_seed = _int_at_least(0, "non-negative")


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="divergent",
        description="Divergences between samples, computed by divergent's Rust core.",
    )
    parser.add_argument("--version", action="version", version=f"divergent {dv.__version__}")
    parser.add_argument("--threads", type=_positive_int, help="worker threads (default: all cores)")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="compare two built-in example samples")
    demo.add_argument("--n", type=_positive_int, default=20_000, help="points per sample (20000)")
    demo.add_argument("--d", type=_positive_int, default=5, help="dimension (5)")
    demo.add_argument("--shift", type=_finite_float, default=0.1, help="mean shift of y along axis 0 (0.1)")
    demo.add_argument("--seed", type=_seed, default=0, help="random seed (0)")
    gauss = sub.add_parser("gaussian", help="closed-form divergences between two Gaussians")
    for name, what in (("m0", "mean of P"), ("S0", "covariance of P"), ("m1", "mean of Q"), ("S1", "covariance of Q")):
        gauss.add_argument(name, help=f"{what}: .npy or .csv (covariance: (d, d), or (d,) variances)")
    gauss.add_argument("--bandwidth", type=_positive_float, default=1.0, help="Gaussian-kernel width for MMD (1.0)")
    metrics = sub.add_parser(
        "metrics", help="FID, KID, precision/recall/density/coverage and Vendi of two feature files"
    )
    metrics.add_argument("real", help="features of real samples: .npy or .csv, shape (n, d)")
    metrics.add_argument("fake", help="features of generated samples: .npy or .csv, shape (m, d)")
    metrics.add_argument("--k", type=_positive_int, default=5, help="neighbour of the PRDC radii (5)")
    metrics.add_argument("--seed", type=_seed, default=0, help="seed of the KID subsets (0)")
    metrics.add_argument("--json", action="store_true", help="print the values as JSON")
    logits = sub.add_parser(
        "logits",
        help="KL statistics of two models' logits in .npy files (mean, percentiles, top-token agreement)",
        description="KL(BASE || QUANT) per position of two (..., V) .npy files of logits, streamed "
        "from memory-mapped files: the mean with its standard error, percentiles, the top-token "
        "agreement and the change in the top token's probability.",
    )
    logits.add_argument("base", nargs="?", help="logits of the reference model: .npy, shape (..., V)")
    logits.add_argument("quant", nargs="?", help="logits of the model compared with it: .npy, same shape")
    logits.add_argument("--mask", help="positions that count: a bool .npy of the leading shape")
    logits.add_argument("--temperature", type=_positive_float, default=1.0, help="divides both logits (1.0)")
    logits.add_argument("--json", action="store_true", help="print the report as JSON")
    logits.add_argument(
        "--make-example", metavar="DIR", help="write base.npy, quant.npy and mask.npy to DIR to try the command on"
    )
    compare = sub.add_parser("compare", help="compare samples from two files")
    compare.add_argument("x", help="samples of P: .npy or .csv, shape (n, d) or (n,)")
    compare.add_argument("y", help="samples of Q: .npy or .csv, shape (m, d) or (m,)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.threads is not None:
            dv.set_num_threads(args.threads)
        if args.command == "gaussian":
            print_gaussian_table([load_array(getattr(args, k)) for k in ("m0", "S0", "m1", "S1")], args.bandwidth)
            return 0
        if args.command == "logits":
            if args.make_example is not None:
                make_logits_example(args.make_example)
                return 0
            if args.base is None or args.quant is None:
                raise ValueError("logits needs two files, BASE and QUANT (or --make-example DIR)")
            print_logits_report(args.base, args.quant, args.mask, args.temperature, args.json)
            return 0
        if args.command == "metrics":
            print_metrics(load_samples(args.real), load_samples(args.fake), args.k, args.seed, args.json)
            return 0
        if args.command == "demo":
            x, y = demo_samples(args.n, args.d, args.shift, args.seed)
            print(f"x ~ N(0, I_{args.d}), y ~ N({args.shift} e_1, I_{args.d})")
        else:
            x, y = load_samples(args.x), load_samples(args.y)
        print_table(x, y)
    except (ValueError, TypeError, OSError, ArithmeticError, MemoryError) as exc:
        print(f"divergent: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
