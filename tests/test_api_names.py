"""Every public function of the API contract is importable from the top-level package
and from its module, is the same object in both places, and is listed in `__all__`;
internal helpers are not."""

import importlib

import divergent as dv
import pytest

# Contract names by module (docs: the API contract's sections); each must also be
# importable as ``dv.<name>``.
CONTRACT = {
    "divergent.kernel": [
        "mmd",
        "energy_distance",
        "mmd_test",
        "ksd",
        "ksd_test",
        "kde_logpdf",
        "cauchy_schwarz_divergence",
        "median_bandwidth",
    ],
    "divergent.ot": [
        "sinkhorn",
        "sinkhorn_from_cost",
        "sinkhorn_divergence",
        "wasserstein_1d",
        "sliced_wasserstein",
        "SinkhornResult",
    ],
    "divergent.knn": [
        "entropy",
        "kl_divergence",
        "renyi_divergence",
        "js_divergence",
        "mutual_information",
        "conditional_mutual_information",
    ],
    "divergent.sampling": ["langevin", "hmc", "svgd", "Trace"],
    "divergent._results": ["TestResult", "ConvergenceWarning"],
}

# Modules reached as attributes of the package (their functions share names such as
# `kl` and `entropy`, so they stay qualified: dv.gaussian.kl, dv.discrete.kl).
MODULES = [
    "kernel",
    "ot",
    "knn",
    "logits",
    "metrics",
    "sampling",
    "targets",
    "gaussian",
    "discrete",
    "diagnostics",
    "reference",
]

PAIRS = [(module, name) for module, names in CONTRACT.items() for name in names]


@pytest.mark.parametrize("module, name", PAIRS, ids=[f"{m}.{n}" for m, n in PAIRS])
def test_contract_name_is_top_level(module, name):
    from_module = getattr(importlib.import_module(module), name)
    exec(f"from divergent import {name} as top", ns := {})
    assert ns["top"] is from_module
    assert name in dv.__all__


@pytest.mark.parametrize("module", MODULES)
def test_family_module_is_an_attribute(module):
    assert getattr(dv, module) is importlib.import_module(f"divergent.{module}")
    assert module in dv.__all__


def test_all_lists_only_what_exists():
    missing = [name for name in dv.__all__ if not hasattr(dv, name)]
    assert missing == []
    assert len(set(dv.__all__)) == len(dv.__all__)


def test_internal_helpers_do_not_leak():
    public = {name for name in vars(dv) if not name.startswith("_")}
    assert "check_positive_int" not in public
    # Anything public at the top level is either listed in __all__ or a submodule.
    stray = {name for name in public - set(dv.__all__) if type(getattr(dv, name)).__name__ != "module"}
    assert stray == set()
