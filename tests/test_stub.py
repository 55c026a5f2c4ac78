"""The type stub of the extension lists exactly what the extension exports."""

import ast
from pathlib import Path

import divergent
from divergent import _core


def test_core_stub_matches_the_extension():
    stub = Path(divergent.__file__).with_name("_core.pyi")
    assert stub.is_file(), "python/divergent/_core.pyi must ship with the package"
    tree = ast.parse(stub.read_text())
    stubbed = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    exported = {name for name in dir(_core) if not name.startswith("_") and callable(getattr(_core, name))}
    assert stubbed == exported
    assert Path(divergent.__file__).with_name("py.typed").is_file()
