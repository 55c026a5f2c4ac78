"""Tables of benchmark results from pytest-benchmark JSON files, with ratios to divergent.

    python benches/report.py                     # rewrite every table in benches/RESULTS.md
    python benches/report.py benches/kernel.json # print one file's tables

In RESULTS.md each table sits between a marker naming its JSON file and the command that
produced it, and the closing marker:

    <!-- report: kernel.json | pytest benches/bench_kernel.py --benchmark-only ... -->
    ...generated, replaced on every run...
    <!-- end report -->

A benchmark named ``bench_<what>_<implementation>[<case>]`` gives one cell: the row is its
case, the column its implementation. Cells hold the median time and, for every column
but divergent's, that time divided by divergent's on the same row (how many times
faster divergent is). Case tokens that name an option of divergent's call (`plain`,
`scaling0.5`, `online`, ...) move into divergent's column label.
"""

import json
import re
import sys
from collections import OrderedDict
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"

# Implementation tokens, longest first so that `numpy_blas` wins over `numpy`.
IMPLEMENTATIONS = OrderedDict(
    [
        ("divergent", "divergent"),
        ("numpy_blas", "NumPy, BLAS Gram matrix"),
        ("reference", "NumPy reference"),
        ("rel_entr", "SciPy rel_entr"),
        ("numpy", "NumPy / SciPy"),
        ("scipy", "SciPy"),
        ("sklearn", "scikit-learn"),
        ("dcor", "dcor"),
        ("hyppo", "hyppo"),
        ("faiss", "faiss-cpu"),
        ("prdc_package", "prdc package"),
        ("vendi_package", "vendi-score package"),
        ("pytorch_fid", "pytorch-fid's NumPy/SciPy path"),
        ("clean_fid", "clean-fid's NumPy KID"),
        ("pot_dense", "POT, dense"),
        ("pot_lazy", "POT, lazy"),
        ("pot_log", "POT, log-domain"),
        ("pot", "POT"),
        ("geomloss", "GeomLoss"),
        ("blackjax", "blackjax"),
        ("dask_cluster", "divergent.dask, LocalCluster of 2 x 1 thread"),
        ("target_cost", "the target alone"),
        ("gemm", "NumPy GEMM alone"),
        ("torch", "PyTorch CPU"),
        ("stream_copy", "stream copy (bound)"),
    ]
)
# Case tokens that are options of divergent's own call, not a property of the problem.
OPTIONS = re.compile(r"^(plain|scaling[0-9.]+|auto|online|stored|streamed)$")
# Counts a benchmark records when it did less work than its row (a slow peer run on
# part of the problem): its cell then shows the count instead of a ratio.
COUNTS = ("permutations", "points")
# The bare number of a case is n (= m) unless the group says otherwise.
BARE_NUMBER = {
    "gaussian-kernel-evaluations": "d",
    "kl-k1-n1e4-embeddings": "d",
    "hsic-test-n2000": "d",
    "mmd-agg-test-n2000": "d",
}


def split_name(name: str):
    """(implementation, variant, case tokens) of a benchmark name."""
    stem, _, params = name.partition("[")
    stem = stem.removeprefix("bench_")
    params = params.rstrip("]")
    tokens = stem.split("_")
    impl, variant = "divergent", []
    for i in range(len(tokens)):
        for j in range(len(tokens), i, -1):
            if "_".join(tokens[i:j]) in IMPLEMENTATIONS:
                impl, variant = "_".join(tokens[i:j]), tokens[j:]
                break
        else:
            continue
        break
    case = []
    for t in params.split("-") if params else []:
        # A negative exponent (`tol1e-3`) is one token, not two.
        if case and re.fullmatch(r"[0-9]+", t) and re.search(r"[0-9.]e$", case[-1]):
            case[-1] += "-" + t
        elif t:
            case.append(t)
    options = [t for t in case if OPTIONS.match(t)]
    case = [t for t in case if not OPTIONS.match(t)]
    return impl, variant + options, case


def case_label(tokens, group):
    out = []
    for t in tokens:
        if re.fullmatch(r"[0-9]+", t):
            out.append(f"{BARE_NUMBER.get(group, 'n')} = {int(t):,}")
        elif m := re.fullmatch(r"(n|eps|tol|k|d)([0-9.e+-]+)", t):
            value = m.group(2)
            out.append(f"{m.group(1)} = {int(value):,}" if value.isdigit() else f"{m.group(1)} = {value}")
        else:
            out.append(t)
    return ", ".join(out) or "-"


def column_label(impl, variant):
    label = IMPLEMENTATIONS[impl]
    words = [v for v in variant if not re.fullmatch(r"n[0-9]+", v)]
    return f"{label} ({' '.join(words).replace('scaling', 'scaling ')})" if words else label


def seconds(t):
    if t < 1e-3:
        return f"{t * 1e6:.0f} us"
    if t < 1:
        return f"{t * 1e3:.3g} ms"
    return f"{t:.3g} s"


def note(extra, case_tokens):
    """What a cell adds to its time: iterations, and counts that differ from the row's."""
    parts = []
    if "seconds_per_iteration" in extra:
        parts.append(f"{extra['n_iter']} iterations only")
    elif "n_iter" in extra:
        parts.append(f"{extra['n_iter']} it")
    for key in COUNTS:
        if key in extra:
            parts.append(f"{extra[key]:,} {key}")
    if "ess_per_second" in extra:
        parts.append(f"min bulk ESS {extra['min_bulk_ess']:.0f}: {extra['ess_per_second']:.3g} ESS/s")
    if "divergences" in extra:
        parts.append(f"{extra['divergences']} divergences")
    if "log_z_error" in extra:
        parts.append(f"log Z error {extra['log_z_error']:+.3f}")
    if "compile_and_first_run_s" in extra:
        parts.append(f"compile + first run {extra['compile_and_first_run_s']:.3g} s")
    return "; ".join(parts)


def same_work(extra, base_extra, group):
    """Whether a cell did the work of its row's divergent cell: a count it records
    (permutations, query points) must be divergent's or the one the group names."""
    for key in COUNTS:
        if key in extra and extra[key] != base_extra.get(key, extra[key]):
            return False
        if key in extra and key not in base_extra:
            named = re.search(rf"(?:^|-)([0-9e.]+)-{key}", group)
            if named is None or float(named.group(1)) != float(extra[key]):
                return False
    return True


def machine(data):
    m = data["machine_info"]
    cpu = m.get("cpu", {})
    flags = set(cpu.get("flags", []))
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE"
    return f"{cpu.get('brand_raw', '?')}, {cpu.get('count', '?')} cores, {isa}; Python {m['python_version']}"


def commit(data):
    info = data.get("commit_info", {})
    short = info.get("id", "?")[:7]
    return f"`{short}`" + (" with uncommitted changes" if info.get("dirty") else "")


def tables(data):
    """Markdown tables, one per benchmark group, for one pytest-benchmark JSON file."""
    groups = OrderedDict()
    for b in data["benchmarks"]:
        impl, variant, case = split_name(b["name"])
        group = b["group"] or b["name"].split("[")[0]
        rows = groups.setdefault(group, OrderedDict())
        row = rows.setdefault(tuple(case), OrderedDict())
        extra = b.get("extra_info") or {}
        row[column_label(impl, variant)] = (b["stats"]["median"], extra, impl)
    # A case token that is a count recorded in extra_info (e.g. the reference's
    # permutations) belongs to the cell, not the row: merge such rows into theirs.
    for rows in groups.values():
        for case in list(rows):
            for col, (t, extra, impl) in list(rows[case].items()):
                counts = {str(extra[k]) for k in COUNTS if k in extra}
                short = tuple(tok for tok in case if tok not in counts)
                if short != case and short in rows:
                    rows[short][col] = (t, extra, impl)
                    del rows[case][col]
            if not rows[case]:
                del rows[case]
    out = []
    for group, rows in groups.items():
        columns = []
        for row in rows.values():
            for col, (_, _, impl) in row.items():
                if col not in columns:
                    columns.append(col)
        columns.sort(key=lambda c: (c != "divergent", not c.startswith("divergent")))
        base_col = "divergent" if "divergent" in columns else columns[0]
        out.append(f"**{group}**\n")
        out.append("| case | " + " | ".join(columns) + " |")
        out.append("|---|" + "---:|" * len(columns))
        for case, row in rows.items():
            base = row.get(base_col)
            cells = []
            for col in columns:
                if col not in row:
                    cells.append("")
                    continue
                t, extra, _ = row[col]
                cell = seconds(t)
                if col != base_col and base is not None and same_work(extra, base[1], group):
                    cell += f" ({t / base[0]:.1f}x)"
                extra_note = note(extra, case)
                cells.append(cell + (f"; {extra_note}" if extra_note else ""))
            out.append(f"| {case_label(case, group)} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def block(path: Path, command: str):
    data = json.loads(path.read_text())
    head = (
        f"Machine: {machine(data)}. Date: {data['datetime'][:10]}. Commit: {commit(data)}.\n"
        f"Command: `{command}` (raw data: `benches/{path.name}`). Median times;"
        f" (Nx) is that time over divergent's on the same row.\n"
    )
    return head + "\n" + tables(data)


MARKER = re.compile(
    r"(<!-- report: (?P<file>[\w.]+) \| (?P<command>.+?) -->\n)(?P<body>.*?)(<!-- end report -->)",
    re.S,
)


def rewrite(results: Path = RESULTS):
    text = results.read_text()

    def fill(m):
        return m.group(1) + block(HERE / m.group("file"), m.group("command")) + m.group(5)

    new, n = MARKER.subn(fill, text)
    results.write_text(new)
    print(f"{results}: {n} tables rewritten")


def main(argv):
    if not argv:
        rewrite()
        return
    for name in argv:
        path = Path(name)
        print(block(path, f"pytest benches/bench_{path.stem}.py --benchmark-only --benchmark-json=benches/{path.name}"))


if __name__ == "__main__":
    main(sys.argv[1:])
