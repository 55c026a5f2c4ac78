"""Print a markdown table of a pytest-benchmark JSON file, with ratios to divergent.

    python benches/report.py benches/kernel.json
"""

import json
import re
import sys
from collections import defaultdict


def main(path):
    data = json.load(open(path))
    rows = defaultdict(dict)
    for b in data["benchmarks"]:
        impl = re.sub(r"^bench_[a-z]+_", "", b["name"].split("[")[0])
        params = b["name"][len(b["name"].split("[")[0]) :]
        rows[(b["group"], params)][impl] = b["stats"]
    machine = data["machine_info"]
    print(f"Machine: {machine.get('cpu', {}).get('brand_raw', '?')}, {data['datetime'][:10]}, "
          f"Python {machine['python_version']}\n")
    for (group, params), impls in sorted(rows.items()):
        base = impls.get("divergent") or next(iter(impls.values()))
        print(f"### {group} {params}\n")
        print("| implementation | median time | ratio to divergent |")
        print("|---|---:|---:|")
        for impl, st in sorted(impls.items(), key=lambda kv: kv[1]["median"]):
            print(f"| {impl} | {fmt(st['median'])} | {st['median'] / base['median']:.1f}x |")
        print()


def fmt(seconds):
    return f"{seconds * 1e3:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


if __name__ == "__main__":
    main(sys.argv[1])
