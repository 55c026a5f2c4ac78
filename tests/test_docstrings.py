"""The examples in the public docstrings run and print what they claim, and the
docstrings pass numpydoc's validation."""

import dataclasses
import doctest
import importlib
import inspect

import divergent
import divergent.diagnostics
import divergent.discrete
import divergent.gaussian
import divergent.kernel._density
import divergent.kernel._mmd
import divergent.kernel._stein
import divergent.kernel._two_sample
import divergent.knn._divergences
import divergent.knn._mutual_information
import divergent.logits._api
import divergent.metrics._fid
import divergent.metrics._inception
import divergent.metrics._kid
import divergent.metrics._prdc
import divergent.metrics._vendi
import divergent.ot._sinkhorn
import divergent.ot._wasserstein
import divergent.sampling
import divergent.targets
import pytest

MODULES = [
    divergent.kernel._mmd,
    divergent.kernel._two_sample,
    divergent.kernel._stein,
    divergent.kernel._density,
    divergent.discrete,
    divergent.gaussian,
    divergent.knn._divergences,
    divergent.knn._mutual_information,
    divergent.logits._api,
    divergent.metrics._fid,
    divergent.metrics._kid,
    divergent.metrics._prdc,
    divergent.metrics._vendi,
    divergent.metrics._inception,
    divergent.ot._sinkhorn,
    divergent.ot._wasserstein,
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


# numpydoc's checks that the public docstrings meet: every parameter documented, in the
# signature's order, none unknown, a Returns section, sections in numpydoc's order, no
# stray blank lines. (Result classes, dataclasses and named tuples, document Attributes.)
NUMPYDOC_CHECKS = {"PR01", "PR02", "PR03", "PR06", "RT01", "GL02", "GL03", "GL07"}
FAMILIES = ["kernel", "ot", "knn", "metrics", "sampling", "diagnostics", "targets", "gaussian", "discrete", "logits"]


def documented_callables():
    seen, out = set(), []
    for family in FAMILIES:
        module = importlib.import_module(f"divergent.{family}")
        for name in module.__all__:
            obj = getattr(module, name)
            if not callable(obj) or id(obj) in seen:
                continue
            seen.add(id(obj))
            if inspect.isclass(obj) and (dataclasses.is_dataclass(obj) or issubclass(obj, tuple)):
                continue
            out.append(f"{obj.__module__}.{obj.__qualname__}")
    return out


@pytest.mark.parametrize("qualname", documented_callables())
def test_numpydoc_validation(qualname):
    validate = pytest.importorskip("numpydoc.validate").validate
    errors = [f"{code}: {message}" for code, message in validate(qualname)["errors"] if code in NUMPYDOC_CHECKS]
    assert errors == []
