"""The examples in the public docstrings run and print what they claim."""

import doctest

import pytest

import divergent
import divergent.discrete
import divergent.gaussian
import divergent.knn
import divergent.metrics
import divergent.ot
import divergent.diagnostics
import divergent.sampling
import divergent.targets
import divergent.kernel._density
import divergent.kernel._mmd
import divergent.kernel._stein
import divergent.kernel._two_sample

MODULES = [
    divergent.kernel._mmd,
    divergent.kernel._two_sample,
    divergent.kernel._stein,
    divergent.kernel._density,
    divergent.discrete,
    divergent.gaussian,
    divergent.knn,
    divergent.metrics,
    divergent.ot,
    divergent.diagnostics,
    divergent.sampling,
    divergent.targets,
]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0


def test_every_public_function_has_a_numpydoc_docstring():
    for name in divergent.__all__:
        obj = getattr(divergent, name)
        if callable(obj) and not isinstance(obj, type):
            doc = obj.__doc__ or ""
            assert doc.strip(), name
            if name not in ("get_num_threads",):
                assert "Parameters" in doc or "Returns" in doc, name
