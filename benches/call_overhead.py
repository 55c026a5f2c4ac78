"""Per-call cost of the extension module, to compare two builds of it side by side (the
abi3 build against a version-specific one): small inputs, where the cost of crossing
into the core and back would show, and one large input, where it cannot.

Run it once per build, alternating, with the build to measure first on the path:

    python benches/call_overhead.py                                # the installed build
    PYTHONPATH=/path/to/other/build python benches/call_overhead.py

Each line is a case and its minimum time per call over five repeats, in microseconds.
"""

import timeit

import divergent as dv
import numpy as np
from divergent import _core


def cases():
    rng = np.random.default_rng(0)
    x5, y5 = rng.normal(size=(200, 5)), rng.normal(size=(200, 5)) + 0.1
    x3 = rng.normal(size=(1000, 3))
    u, v = rng.normal(size=1000), rng.normal(size=1000)
    la, lb = rng.normal(size=(64, 1000)), rng.normal(size=(64, 1000))
    xs, ys = rng.random((100, 2)), rng.random((100, 2))
    xb = rng.normal(size=(4000, 128)).astype(np.float32)
    yb = (rng.normal(size=(4000, 128)) + 0.05).astype(np.float32)
    gauss = dv.targets.Gaussian([0.0, 0.0], 1.0)
    custom = dv.targets.Custom(lambda z: (-0.5 * (z * z).sum(1), -z), dim=2)
    return {
        "mmd, 200 x 5": (lambda: dv.mmd(x5, y5, bandwidth=1.0), 2000),
        "entropy, 1,000 x 3": (lambda: dv.entropy(x3, k=3), 200),
        "wasserstein_1d, 1,000": (lambda: dv.ot.wasserstein_1d(u, v), 2000),
        "discrete.kl from logits, 64 x 1,000": (lambda: dv.discrete.kl(la, lb, from_logits=True), 500),
        "sinkhorn, 100 x 2": (lambda: dv.ot.sinkhorn(xs, ys, epsilon=0.1), 200),
        "langevin, Gaussian, 4 chains x 1,000 steps": (
            lambda: dv.langevin(gauss, n_chains=4, n_steps=1000, step_size=0.5, seed=0),
            20,
        ),
        "langevin, Custom (a Python callable per step)": (
            lambda: dv.langevin(custom, n_chains=4, n_steps=1000, step_size=0.5, seed=0),
            5,
        ),
        "mmd, 4,000 x 128 float32": (lambda: dv.mmd(xb, yb, bandwidth=10.0), 3),
    }


def main():
    dv.set_num_threads(2)
    print("#", _core.__file__.rsplit("/", 1)[-1])
    for name, (f, number) in cases().items():
        f()
        t = min(timeit.repeat(f, number=number, repeat=5)) / number
        print(f"{name}\t{t * 1e6:.1f}")


if __name__ == "__main__":
    main()
