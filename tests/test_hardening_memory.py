"""Allocations too large for the machine are refused with a MemoryError that says what
needs the memory, how much, and what needs less; they never abort the interpreter.

Each case runs in its own interpreter with its address space capped (RLIMIT_AS), so the
refusal does not depend on how much memory this machine has or how it overcommits."""

import subprocess
import sys
import textwrap

import pytest

resource = pytest.importorskip("resource")

LIMIT = 3 << 30  # bytes of address space for the child


def run_capped(code: str) -> subprocess.CompletedProcess:
    prelude = textwrap.dedent(
        f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, ({LIMIT}, {LIMIT}))
        import numpy as np
        import divergent as dv
        rng = np.random.default_rng(0)
        """
    )
    program = prelude + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)


CASES = {
    "dense sinkhorn, 200,000^2 kernel": (
        """
        x, y = rng.random((200_000, 3)), rng.random((200_000, 3))
        dv.ot.sinkhorn(x, y, epsilon=1.0, max_iter=3, backend="dense")
        """,
        'backend="online"',
    ),
    "dense sinkhorn_divergence, 40,000^2 kernels": (
        """
        x, y = rng.random((40_000, 3)), rng.random((40_000, 3))
        dv.ot.sinkhorn_divergence(x, y, epsilon=1.0, max_iter=3, backend="dense")
        """,
        'backend="online"',
    ),
    "dense sinkhorn in high dimension, 30,000^2 cost matrix": (
        """
        x, y = rng.random((30_000, 32)), rng.random((30_000, 32))
        dv.ot.sinkhorn(x, y, epsilon=1.0, max_iter=3, backend="dense")
        """,
        'backend="online"',
    ),
    "sinkhorn_from_cost, 12,000^2 stored kernel": (
        """
        c = rng.random((12_000, 12_000))
        dv.ot.sinkhorn_from_cost(c, epsilon=0.5, max_iter=3, backend="dense")
        """,
        "",
    ),
    "langevin, 160 GB of recorded states": (
        """
        dv.langevin(dv.targets.Gaussian([0.0, 0.0], 1.0), n_chains=100_000, n_steps=100_000, step_size=0.1)
        """,
        "thin=",
    ),
    "langevin, 10^12 chains": (
        """
        dv.langevin(dv.targets.Gaussian([0.0, 0.0], 1.0), n_chains=10**12, n_steps=10, step_size=0.1)
        """,
        "chains",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_too_large_allocations_raise_memory_error(case):
    code, advice = CASES[case]
    res = run_capped(
        f"""
        try:
{textwrap.indent(textwrap.dedent(code), " " * 12)}
        except MemoryError as e:
            print("MemoryError:", e)
        """
    )
    assert res.returncode == 0, (res.returncode, res.stderr[-2000:])
    assert "MemoryError:" in res.stdout, res.stdout + res.stderr[-2000:]
    assert advice in res.stdout
