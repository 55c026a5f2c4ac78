"""The type stub of the extension lists exactly what the extension exports."""

import ast
from pathlib import Path

import divergent
import pytest
from divergent import _core


def test_core_stub_matches_the_extension():
    stub = Path(divergent.__file__).with_name("_core.pyi")
    assert stub.is_file(), "python/divergent/_core.pyi must ship with the package"
    tree = ast.parse(stub.read_text())
    stubbed = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    exported = {name for name in dir(_core) if not name.startswith("_") and callable(getattr(_core, name))}
    assert stubbed == exported
    assert Path(divergent.__file__).with_name("py.typed").is_file()


def test_core_stub_signatures_match_the_extension(tmp_path):
    """mypy's stubtest reads each function's runtime signature (PyO3's text signature)
    and compares arguments, defaults and kinds with the stub."""
    import subprocess
    import sys

    pytest.importorskip("mypy.stubtest")
    res = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "divergent._core"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
