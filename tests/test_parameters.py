"""Every public function and target class refuses a bad scalar parameter (a flag, a
count, a real number, a choice, a seed) with one exception class,
`divergent.InvalidParameterError`, whose message names the argument; the same bad values
go to every parameter of the same kind.

BASE holds a valid call per public callable; a test checks that every callable in the
public modules' `__all__` has one, so that a new function cannot skip this walk. Each
scalar parameter (one the base call or the signature gives a bool, number or string) is
then passed the bad values of its kind: arrays and callables are checked by the
per-family bad-input tests.
"""

import dataclasses
import importlib
import inspect
import math
import re
import typing

import divergent as dv
import numpy as np
import pytest

rng = np.random.default_rng(0)
X = rng.normal(size=(40, 2))
Y = rng.normal(size=(30, 2)) + 0.5
X1 = rng.normal(size=40)
Y1 = rng.normal(size=30)
P = np.array([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3]])
Q = np.array([[0.3, 0.3, 0.4], [0.2, 0.2, 0.6]])
PROBS = rng.dirichlet(np.ones(5), size=40)
DRAWS = rng.normal(size=(4, 100))
M0, S0, M1, S1 = np.zeros(2), np.eye(2), np.ones(2), 2 * np.eye(2)
TARGET = dv.targets.Gaussian(np.zeros(2), np.eye(2))
LA, LB = rng.normal(size=(3, 10)), rng.normal(size=(3, 10))
LP, LQ = -rng.random((3, 5)), -rng.random((3, 5))


def score(x):
    return -x


# module.name -> (positional arrays/callables, keyword values for the scalar parameters
# whose default is None or that have no default).
BASE = {
    "kernel.mmd": ((X, Y), {}),
    "kernel.energy_distance": ((X, Y), {}),
    "kernel.median_bandwidth": ((X,), {}),
    "kernel.mmd_test": ((X, Y), {"n_permutations": 19, "seed": 0}),
    "kernel.mmd_agg_test": ((X, Y), {"n_permutations": 19, "seed": 0}),
    "kernel.ksd": ((X, score), {}),
    "kernel.ksd_test": ((X, score), {"n_bootstrap": 19, "seed": 0}),
    "kernel.kde_logpdf": ((X, Y), {}),
    "kernel.cauchy_schwarz_divergence": ((X, Y), {}),
    "independence.hsic": ((X, X1), {}),
    "independence.hsic_test": ((X, X1), {"n_permutations": 19, "seed": 0}),
    "independence.distance_covariance": ((X, X1), {}),
    "independence.distance_correlation": ((X, X1), {}),
    "independence.dcov_test": ((X, X1), {"n_permutations": 19, "seed": 0}),
    "ot.sinkhorn": ((X, Y), {"epsilon": 0.5, "reach": 1.0, "scaling": 0.5}),
    "ot.sinkhorn_from_cost": ((np.abs(X1[:5, None] - Y1[None, :6]),), {"epsilon": 0.5}),
    "ot.sinkhorn_divergence": ((X, Y), {"epsilon": 0.5, "reach": 1.0, "scaling": 0.5}),
    "ot.wasserstein_1d": ((X1, Y1), {}),
    "ot.emd": (([], [], np.abs(X1[:5, None] - Y1[None, :6])), {}),
    "ot.emd2": (([], [], np.abs(X1[:5, None] - Y1[None, :6])), {}),
    "ot.wasserstein": ((X, Y), {}),
    "ot.sliced_wasserstein": ((X, Y), {"n_projections": 8, "seed": 0}),
    "knn.entropy": ((X,), {"jitter": 1e-10, "seed": 0}),
    "knn.kl_divergence": ((X, Y), {"jitter": 1e-10, "seed": 0}),
    "knn.renyi_divergence": ((X, Y), {"alpha": 0.5, "jitter": 1e-10, "seed": 0}),
    "knn.js_divergence": ((X, Y), {"jitter": 1e-10, "seed": 0}),
    "knn.mutual_information": ((X, Y[:, :1].repeat(2, 0)[:40]), {"jitter": 1e-10, "seed": 0}),
    "knn.conditional_mutual_information": ((X1, X1**2, X), {"jitter": 1e-10, "seed": 0}),
    "metrics.fid": ((X, Y), {}),
    "metrics.kid": ((X, Y), {"n_subsets": 5, "subset_size": 20, "gamma": 0.5, "seed": 0}),
    "metrics.prdc": ((X, Y), {}),
    "metrics.vendi_score": ((X,), {"kernel": "gaussian", "bandwidth": 1.0}),
    "metrics.inception_score": ((PROBS,), {"splits": 2}),
    "sampling.langevin": (
        (TARGET,),
        {"n_chains": 2, "n_steps": 20, "step_size": 0.5, "burn_in": 10, "seed": 0, "adapt_step_size": True},
    ),
    "sampling.hmc": (
        (TARGET,),
        {
            "n_chains": 2,
            "n_steps": 20,
            "step_size": 0.5,
            "n_leapfrog": 3,
            "burn_in": 10,
            "seed": 0,
            "adapt_step_size": True,
        },
    ),
    "sampling.smc": ((TARGET,), {"n_particles": 16, "n_mcmc_steps": 2, "seed": 0}),
    "sampling.svgd": ((score, X[:10]), {"n_steps": 3}),
    "diagnostics.ess": ((DRAWS,), {}),
    "diagnostics.rhat": ((DRAWS,), {}),
    "diagnostics.mcse": ((DRAWS,), {}),
    "targets.Gaussian": ((np.zeros(2), np.eye(2)), {}),
    "targets.GaussianMixture": (([0.5, 0.5], np.zeros((2, 2)), np.stack([np.eye(2)] * 2)), {}),
    "targets.Banana": ((), {}),
    "targets.Funnel": ((), {}),
    "targets.LogisticRegression": ((X, (X[:, 0] > 0).astype(int)), {}),
    "targets.Custom": ((lambda x: (-0.5 * (x * x).sum(1), -x),), {"dim": 2}),
    "gaussian.kl": ((M0, S0, M1, S1), {}),
    "gaussian.renyi": ((M0, S0, M1, S1), {"alpha": 0.5}),
    "gaussian.hellinger": ((M0, S0, M1, S1), {}),
    "gaussian.bhattacharyya": ((M0, S0, M1, S1), {}),
    "gaussian.wasserstein2": ((M0, S0, M1, S1), {}),
    "gaussian.entropy": ((S1,), {}),
    "gaussian.mutual_information": ((S1 + 0.5,), {"dx": 1}),
    "gaussian.mmd": ((M0, S0, M1, S1), {"bandwidth": 1.0}),
    "gaussian.cauchy_schwarz": ((M0, S0, M1, S1), {}),
    "discrete.kl": ((P, Q), {"base": 2.0}),
    "discrete.js": ((P, Q), {"base": 2.0}),
    "discrete.tv": ((P, Q), {}),
    "discrete.hellinger": ((P, Q), {}),
    "discrete.chi2": ((P, Q), {}),
    "discrete.renyi": ((P, Q), {"alpha": 0.5, "base": 2.0}),
    "discrete.tsallis": ((P, Q), {"alpha": 0.5}),
    "discrete.alpha_divergence": ((P, Q), {"alpha": 0.5}),
    "discrete.f_divergence": ((P, Q, lambda t: t * np.log(np.where(t > 0, t, 1.0))), {}),
    "discrete.entropy": ((P,), {"base": 2.0}),
    "discrete.cross_entropy": ((P, Q), {"base": 2.0}),
    "logits.kl": ((LA, LB), {"top_k": 3, "top_p": 0.9}),
    "logits.reverse_kl": ((LA, LB), {}),
    "logits.js": ((LA, LB), {}),
    "logits.generalized_js": ((LA, LB), {"beta": 0.3}),
    "logits.tv": ((LA, LB), {}),
    "logits.hellinger": ((LA, LB), {}),
    "logits.renyi": ((LA, LB), {"alpha": 0.5}),
    "logits.cross_entropy": ((LA, LB), {}),
    "logits.entropy": ((LA,), {"top_k": 3, "top_p": 0.9}),
    "logits.kl_from_logprobs": ((LP, LQ), {}),
    "logits.agreement": ((LA, LB), {"top_k": 3, "top_p": 0.9}),
    "logits.KLStats": ((), {}),
    "set_num_threads": ((), {"n": 1}),
    "threads": ((), {"n": 1}),
}

# Public names that take no scalar parameter: result classes, abstract bases, constants.
NO_PARAMETERS = {
    "kernel.KERNELS",
    "kernel.ESTIMATORS",
    "kernel.MMDAggResult",
    "ot.SinkhornResult",
    "ot.EMDResult",
    "ot.ConvergenceWarning",
    "sampling.SMCResult",
    "metrics.FeatureStats",
    "metrics.KIDResult",
    "metrics.PRDCResult",
    "logits.Agreement",
    "logits.KLReport",
    "sampling.Trace",
    "targets.Target",
    "get_num_threads",
}

MODULES = [
    "kernel",
    "independence",
    "ot",
    "knn",
    "logits",
    "metrics",
    "sampling",
    "targets",
    "gaussian",
    "discrete",
    "diagnostics",
]
# sampling re-exports the diagnostics (sampling.ess is diagnostics.ess).
ALIASES = {"sampling.ess", "sampling.rhat", "sampling.mcse"}
TOP_LEVEL = ["set_num_threads", "get_num_threads", "threads"]

# Values of a bad kind that a parameter accepts by design: jitter=True is the default
# jitter scale.
ACCEPTED = {"jitter": (True,)}

BAD = {
    "flag": [0, 1, "yes", None, 1.0],
    "number": [True, np.True_, "1", math.nan, 1j, [1.0]],
    "choice": ["no-such-option", 1j],
}


def resolve(qualname):
    module, _, name = qualname.rpartition(".")
    return getattr(importlib.import_module(f"divergent.{module}") if module else dv, name)


def kind_of(value):
    if isinstance(value, (bool, np.bool_)):
        return "flag"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return "number"
    if isinstance(value, str):
        return "choice"
    return None


def scalar_parameters(qualname):
    """(name, kind) of each scalar parameter: the base call's value, else the default,
    says its kind."""
    args, kwargs = BASE[qualname]
    signature = inspect.signature(resolve(qualname))
    out = []
    for i, (name, parameter) in enumerate(signature.parameters.items()):
        if i < len(args):
            continue
        value = kwargs.get(name, parameter.default)
        kind = kind_of(value)
        if kind is not None:
            out.append((name, kind))
    return out


def public_callables():
    names = [f"{m}.{n}" for m in MODULES for n in importlib.import_module(f"divergent.{m}").__all__]
    return [n for n in names if n not in ALIASES] + TOP_LEVEL


def call(qualname, **override):
    args, kwargs = BASE[qualname]
    result = resolve(qualname)(*args, **{**kwargs, **override})
    if qualname == "threads":
        with result:
            pass
    return result


def test_every_public_callable_has_a_base_call():
    missing = [n for n in public_callables() if n not in BASE and n not in NO_PARAMETERS]
    assert missing == []
    assert set(BASE) | NO_PARAMETERS == set(public_callables())


@pytest.fixture
def restore_threads():
    n = dv.get_num_threads()
    yield
    dv.set_num_threads(n)


@pytest.mark.parametrize("qualname", sorted(BASE))
def test_base_call_is_valid(qualname, restore_threads):
    call(qualname)


CASES = [
    (qualname, name, bad)
    for qualname in sorted(BASE)
    for name, kind in scalar_parameters(qualname)
    for bad in BAD[kind]
    if not any(kind_of(bad) == kind_of(ok) and bad == ok for ok in ACCEPTED.get(name, ()))
]


@pytest.mark.parametrize("qualname, name, bad", CASES, ids=[f"{q}-{n}-{type(b).__name__}:{b!r}" for q, n, b in CASES])
def test_bad_parameter_raises_invalid_parameter_error(qualname, name, bad, restore_threads):
    with pytest.raises(dv.InvalidParameterError, match=rf"\b{re.escape(name)}\b"):
        call(qualname, **{name: bad})


def test_walk_covers_every_kind():
    kinds = {kind for qualname in BASE for _, kind in scalar_parameters(qualname)}
    assert kinds == set(BAD)
    assert len(CASES) > 300


def test_invalid_parameter_error_is_a_value_and_a_type_error():
    assert issubclass(dv.InvalidParameterError, ValueError)
    assert issubclass(dv.InvalidParameterError, TypeError)
    with pytest.raises(ValueError, match="n_permutations"):
        dv.mmd_test(X, Y, n_permutations="many")
    with pytest.raises(TypeError, match="n_permutations"):
        dv.mmd_test(X, Y, n_permutations=-1)


def annotated_callables():
    """(qualname, function whose signature users call) of every public callable."""
    out = []
    for qualname in public_callables():
        obj = resolve(qualname)
        if inspect.isclass(obj):
            if "__init__" not in vars(obj) or dataclasses.is_dataclass(obj):
                continue
            obj = obj.__init__
        if callable(obj):
            out.append((qualname, obj))
    return out


@pytest.mark.parametrize("qualname, function", annotated_callables(), ids=lambda v: v if isinstance(v, str) else "")
def test_public_signature_is_typed(qualname, function):
    """Every parameter and the return value are annotated, and the annotations resolve
    (typing.get_type_hints evaluates them, so a name that is not imported fails here)."""
    hints = typing.get_type_hints(function)
    parameters = [p for p in inspect.signature(function).parameters if p != "self"]
    assert [p for p in parameters if p not in hints] == []
    if function.__name__ != "__init__":
        assert "return" in hints


def literal_choices(annotation):
    """The strings of every Literal inside a (possibly union) annotation."""
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    return [c for arg in typing.get_args(annotation) for c in literal_choices(arg)]


LITERAL_CASES = [
    (qualname, name, choice)
    for qualname, function in annotated_callables()
    if qualname in BASE
    for name, annotation in typing.get_type_hints(function).items()
    if name != "return"
    for choice in literal_choices(annotation)
]


# Choices that need other arguments than the base call's: (qualname, choice) -> the
# base keywords to drop and the positional arrays to use instead.
CHOICE_CALLS = {
    ("kernel.mmd", "linear"): ((), (X, X + 0.5)),
    ("metrics.vendi_score", "cosine"): (("bandwidth",), None),
    ("metrics.vendi_score", "linear"): (("bandwidth",), None),
    ("sampling.langevin", "ula"): (("adapt_step_size",), None),
    ("sampling.langevin", "underdamped"): (("adapt_step_size",), None),
}


@pytest.mark.parametrize("qualname, name, choice", LITERAL_CASES)
def test_every_choice_the_signature_names_is_accepted(qualname, name, choice, restore_threads):
    """The Literal of a signature and the choices its validation accepts are the same
    list: each named choice runs (the walk above checks that others are refused)."""
    args, kwargs = BASE[qualname]
    drop, other_args = CHOICE_CALLS.get((qualname, choice), ((), None))
    kwargs = {k: v for k, v in kwargs.items() if k not in drop}
    resolve(qualname)(*(other_args or args), **{**kwargs, name: choice})


def test_literal_walk_covers_the_choice_parameters():
    assert {(q, n) for q, n, _ in LITERAL_CASES} >= {
        ("kernel.mmd", "kernel"),
        ("kernel.mmd", "estimator"),
        ("ot.sinkhorn", "backend"),
        ("logits.kl", "reduction"),
        ("sampling.langevin", "method"),
    }


def declared_constraints(qualname):
    obj = resolve(qualname)
    return getattr(obj.__init__ if inspect.isclass(obj) else obj, "__parameter_constraints__", None)


@pytest.mark.parametrize("qualname", sorted(BASE))
def test_every_scalar_parameter_is_declared(qualname):
    """Each public callable declares its scalar parameters' constraints once, in its
    validate_params table: none is checked only somewhere inside the body."""
    names = [name for name, _ in scalar_parameters(qualname)]
    declared = declared_constraints(qualname) or {}
    assert [name for name in names if name not in declared] == []


def test_the_references_and_dask_declare_the_same_constraints():
    from divergent import reference

    pairs = [
        (dv.mmd, reference.kernel.mmd),
        (dv.mmd_test, reference.kernel.mmd_test),
        (dv.hsic, reference.independence.hsic),
        (dv.hsic_test, reference.independence.hsic_test),
        (dv.dcov_test, reference.independence.dcov_test),
        (dv.ksd_test, reference.kernel.ksd_test),
        (dv.sinkhorn, reference.ot.sinkhorn),
        (dv.knn.renyi_divergence, reference.knn.renyi_divergence),
        (dv.metrics.kid, reference.metrics.kid),
        (dv.sampling.svgd, reference.sampling.svgd),
    ]
    for public, twin in pairs:
        assert twin.__parameter_constraints__ == public.__parameter_constraints__
    assert reference.logits.kl.__parameter_constraints__.items() <= dv.logits.kl.__parameter_constraints__.items()


def test_validate_params_normalises_and_refuses_unknown_names():
    from divergent._validation import COUNT, FLAG, POSITIVE, Options, validate_params

    @validate_params({"n": COUNT, "h": (POSITIVE, Options(("median",)), None), "flag": FLAG})
    def f(n, h=None, *, flag=False):
        return n, h, flag

    assert f(np.int64(3), np.float32(0.5), flag=np.True_) == (3, 0.5, True)
    assert type(f(np.int64(3))[0]) is int
    assert f(2, "median") == (2, "median", False)
    with pytest.raises(dv.InvalidParameterError, match=r"h must be a positive finite number.*or one of 'median'"):
        f(1, -1.0)
    with pytest.raises(dv.InvalidParameterError, match="unknown h 'mean'"):
        f(1, "mean")
    with pytest.raises(TypeError, match="declares constraints of no parameter"):
        validate_params({"m": COUNT})(lambda n: n)
