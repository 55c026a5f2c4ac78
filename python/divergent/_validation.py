"""Input validation shared by the public API and the references.

Messages follow scikit-learn's style: say what was expected, what was received, and how
to fix it, naming the argument. Each public function declares the constraints of its
scalar parameters (a count, a real interval, a flag, a choice, a seed) once, in a
`validate_params` table; the decorator checks them all with `check_param` and raises
:class:`InvalidParameterError`, which is both a ValueError and a TypeError, so that
callers can catch either, as with scikit-learn's exception of the same name. The checks
of arrays raise ValueError for a wrong shape or value and TypeError for a wrong dtype.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import numbers
import os

import numpy as np

__all__ = [
    "InvalidParameterError",
    "check_scalar",
    "check_bool",
    "as_samples",
    "check_same_dim",
    "check_choice",
    "common_dtype",
    "check_weights",
    "check_seed",
    "check_memory",
    "available_memory",
    "Interval",
    "Options",
    "FLAG",
    "SEED",
    "ARRAY",
    "check_param",
    "validate_params",
]


class InvalidParameterError(ValueError, TypeError):
    """A parameter of a public function has a wrong type or value.

    The message names the argument, what was expected and what was passed. It subclasses
    both ValueError and TypeError: ``except ValueError`` and ``except TypeError`` each
    catch it, whichever of the two a caller expected for a non-number.
    """


_INTERVALS = {"both": ("[", "]"), "left": ("[", ")"), "right": ("(", "]"), "neither": ("(", ")")}


def _interval_text(kind: str, low, high, closed: str, allow_inf: bool) -> str:
    left, right = _INTERVALS[closed]
    finite = "" if allow_inf else "finite "
    noun = "integer" if kind == "int" else f"{finite}number"
    if high is None and low == 0:
        sign = "non-negative" if left == "[" else "positive"
        text = f"a {sign} {noun}"
    elif high is None and low == 1 and kind == "int":
        text = "a positive integer"
    elif low is None and high is None:
        text = f"a {noun}" if kind == "real" else "an integer"
    elif high is None:
        text = f"{'an' if kind == 'int' else 'a'} {noun} {'>=' if left == '[' else '>'} {low:g}"
    elif low is None:
        text = f"{'an' if kind == 'int' else 'a'} {noun} {'<=' if right == ']' else '<'} {high:g}"
    else:
        text = f"{'an' if kind == 'int' else 'a'} {noun} in {left}{low:g}, {high:g}{right}"
    return text + (" (or inf)" if allow_inf and kind == "real" else "")


def check_scalar(
    value,
    name: str,
    kind: str = "real",
    *,
    low=None,
    high=None,
    closed: str = "both",
    allow_inf: bool = False,
    hint: str = "",
):
    """`value` as an int (``kind="int"``) or float (``kind="real"``) within the interval
    from `low` to `high` (None: unbounded), whose ends `closed` includes ("both", "left",
    "right" or "neither"), as scikit-learn's ``Interval``.

    bool and np.bool_ are refused (True is not a number of samples); NaN always is, and
    infinity unless `allow_inf`. Any `numbers.Real` is accepted (NumPy scalars,
    fractions), an integer too large for float64 as infinity. An
    :class:`InvalidParameterError` names `name` and the interval, and ends with `hint`.
    """

    def refuse(typed: bool = False):
        wanted = _interval_text(kind, low, high, closed, allow_inf)
        got = f"{value!r} of type {type(value).__name__}" if typed else repr(value)
        return InvalidParameterError(f"{name} must be {wanted}, got {got}" + (f"; {hint}" if hint else ""))

    is_int = isinstance(value, numbers.Integral)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or (kind == "int" and not is_int):
        raise refuse(typed=True)
    if kind == "int":
        number = int(value)
    else:
        try:
            number = float(value)
        except OverflowError:
            number = math.inf if value > 0 else -math.inf
        if math.isnan(number) or (math.isinf(number) and not allow_inf):
            raise refuse()
    left, right = _INTERVALS[closed]
    below = low is not None and (number < low or (left == "(" and number == low))
    above = high is not None and (number > high or (right == ")" and number == high))
    if below or above:
        raise refuse()
    return number


def check_bool(value, name: str) -> bool:
    """`value` as a bool: True, False or a NumPy bool, never a number or a string (a
    flag passed a 0 or 'no' by mistake is refused, not read as its truth value)."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidParameterError(f"{name} must be True or False, got {value!r} of type {type(value).__name__}")
    return bool(value)


def as_samples(x, name: str, *, min_samples: int = 1, float32: bool = False) -> np.ndarray:
    """Return `x` as a float64 array of shape (n, d), validated.

    A 1-D array of length n means n samples in d = 1. float32 input is converted once,
    unless `float32` (the caller computes in float32) keeps it; float64 input in C or
    Fortran order (or a strided view) is returned without a copy.
    """
    arr = real_array(x, name)
    check_sample_ndim(arr.shape, name)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    check_sample_count(arr.shape, name, min_samples)
    if not (float32 and arr.dtype == np.float32):
        arr = arr.astype(np.float64, copy=False)
    finite = np.isfinite(arr)
    if not finite.all():
        raise nonfinite_error(name, int(np.argwhere(~finite)[0, 0]))
    return arr


def check_sample_ndim(shape: tuple, name: str) -> None:
    """Samples are 1-D (n samples in d = 1) or 2-D (n, d)."""
    if len(shape) == 0:
        raise ValueError(
            f"{name} must be a 1-D or 2-D array of samples, got a scalar; "
            f"pass an array of shape (n_samples, n_features)"
        )
    if len(shape) > 2:
        raise ValueError(
            f"{name} must be a 1-D or 2-D array of samples, got a {len(shape)}-D array with "
            f"shape {shape}; reshape it to (n_samples, n_features)"
        )


def check_sample_count(shape: tuple, name: str, min_samples: int) -> None:
    """An (n, d) sample with d >= 1 and n >= min_samples."""
    n, d = shape
    if n == 0 or d == 0:
        raise ValueError(
            f"{name} is empty (shape {shape}); at least {min_samples} sample(s) with at least one feature are needed"
        )
    if n < min_samples:
        raise ValueError(f"{name} has {n} sample(s); this estimator needs at least {min_samples}")


def nonfinite_error(name: str, row: int) -> ValueError:
    return ValueError(f"{name} contains NaN or infinity (first in row {row}); remove or impute those samples first")


def real_array(x, name: str) -> np.ndarray:
    """`x` as a NumPy array of a real numeric dtype (bool, int, uint or float), not
    copied if it is one: nested sequences of unequal lengths, complex, string, object,
    datetime and other dtypes are refused with an error naming `name`."""
    try:
        arr = np.asarray(x)
    except ValueError as err:
        if "inhomogeneous" in str(err) or "sequence" in str(err):
            raise ValueError(
                f"{name} is a ragged nested sequence (rows of different lengths); pass a "
                f"rectangular array, e.g. of shape (n_samples, n_features)"
            ) from None
        raise ValueError(f"{name} cannot be read as an array: {err}") from None
    except TypeError as err:
        raise TypeError(f"{name} cannot be read as a numeric array: {err}") from None
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(
            f"{name} has complex dtype {arr.dtype}; only real values are accepted: pass the "
            f"real part, or stack real and imaginary parts as features"
        )
    if kind not in "biuf":
        how = f"np.asarray({name}, dtype=float)" if name.isidentifier() else "np.asarray(..., dtype=float)"
        raise TypeError(f"{name} must be a numeric array of real values, got dtype {arr.dtype}; convert it with {how}")
    return arr


def common_dtype(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`x` and `y` in one dtype: float32 if both are, else both float64."""
    if x.dtype == y.dtype:
        return x, y
    return x.astype(np.float64, copy=False), y.astype(np.float64, copy=False)


def check_same_dim(x: np.ndarray, y: np.ndarray, xname: str = "x", yname: str = "y") -> None:
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"{xname} and {yname} must have the same number of features, got "
            f"{xname}.shape={x.shape} and {yname}.shape={y.shape}"
        )


#: Largest count (iterations, samples, permutations) accepted: the core's counters are
#: 64-bit, and no run reaches it.
COUNT_MAX = 2**62


def _check_count_max(value: int, name: str, hint: str = "") -> int:
    if value > COUNT_MAX:
        tail = f" ({hint})" if hint else ""
        raise InvalidParameterError(
            f"{name}={value}{tail} is more than the largest supported count, 2**62; pass a smaller value"
        )
    return int(value)


def check_choice(value, name: str, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise InvalidParameterError(f"unknown {name} {value!r}; expected one of {options}")
    return value


def check_weights(weights, n: int, name: str = "weights") -> np.ndarray:
    """Non-negative finite weights of length n, not all zero, normalised to sum to 1."""
    w = real_array(weights, name).astype(np.float64, copy=False)
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(f"{name} must be a 1-D array of length {n} (one per sample), got shape {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError(f"{name} contains NaN or infinity")
    if (w < 0).any():
        raise ValueError(f"{name} must be non-negative; found {w.min()!r}")
    return normalised(w, name)


def normalised(w: np.ndarray, name: str) -> np.ndarray:
    """Finite non-negative `w` divided by its sum, which is first brought into range
    (divided by max w) so that weights whose sum overflows, or underflows, normalise
    correctly."""
    top = float(w.max()) if w.size else 0.0
    if not top > 0:
        raise ValueError(f"{name} are all zero; at least one sample needs positive weight")
    if not (1e-150 < top < 1e150):
        w = w / top
    return w / w.sum()


def check_seed(seed, name: str = "seed"):
    """A seed for np.random.default_rng: None, an int >= 0, a SeedSequence or a Generator."""
    if seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InvalidParameterError(
            f"{name} must be None, a non-negative integer, a numpy SeedSequence or a numpy Generator, got {seed!r}"
        )
    return int(seed)


def available_memory() -> int:
    """Bytes of memory the process can use now: MemAvailable of /proc/meminfo where
    there is one, else the physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2**62


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} PiB"  # pragma: no cover


def check_memory(nbytes: float, what: str, fix: str) -> None:
    """Refuse, before allocating, work that needs more memory than is available, with a
    MemoryError saying how much `what` needs and what to do instead."""
    have = available_memory()
    if nbytes > have:
        raise MemoryError(
            f"{what} needs {format_bytes(nbytes)} of memory, more than the {format_bytes(have)} available; {fix}"
        )


# --- Declared parameter constraints -------------------------------------------------
#
# Each public function declares the constraints of its scalar parameters once, with
# `validate_params`, as scikit-learn's functions do; the decorator checks the call's
# arguments against them, passes the normalised values (an int, a float, a bool) on to
# the body, and raises InvalidParameterError naming the argument. The body then checks
# only what depends on the data (k below the number of samples, a bandwidth the data's
# scale can resolve).


@dataclasses.dataclass(frozen=True)
class Interval:
    """An int (``kind="int"``) or float (``kind="real"``) from `low` to `high`, the ends
    that `closed` names included; `hint` ends the message. See `check_scalar`."""

    kind: str
    low: float | None = None
    high: float | None = None
    closed: str = "both"
    allow_inf: bool = False
    hint: str = ""

    def check(self, value, name: str, also: str = ""):
        hint = f"{self.hint}; {also}" if self.hint and also else self.hint or also
        bounds = dict(low=self.low, high=self.high, closed=self.closed, allow_inf=self.allow_inf)
        number = check_scalar(value, name, self.kind, hint=hint, **bounds)
        return _check_count_max(number, name, self.hint) if self.kind == "int" else number

    def describe(self) -> str:
        return _interval_text(self.kind, self.low, self.high, self.closed, self.allow_inf)


@dataclasses.dataclass(frozen=True)
class Options:
    """One of the strings `choices`."""

    choices: tuple

    def check(self, value, name: str):
        return check_choice(value, name, self.choices)

    def describe(self) -> str:
        return f"one of {', '.join(repr(c) for c in self.choices)}"


@dataclasses.dataclass(frozen=True, repr=False)
class _Checked:
    """A constraint that one of the checks above decides: FLAG (`check_bool`) and SEED
    (`check_seed`)."""

    label: str
    checker: object
    text: str

    def check(self, value, name: str):
        return self.checker(value, name)

    def describe(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.label


def check_array_like(value, name: str):
    """`value` if it is array-like (not a scalar); its contents are the caller's to check."""
    if np.ndim(value) == 0:
        raise InvalidParameterError(f"{name} must be an array (or one of its named choices), got {value!r}")
    return value


FLAG = _Checked("FLAG", check_bool, "True or False")
SEED = _Checked("SEED", check_seed, "a seed")
ARRAY = _Checked("ARRAY", check_array_like, "an array")
COUNT = Interval("int", 1)
NON_NEGATIVE_INT = Interval("int", 0)
POSITIVE = Interval("real", 0, closed="neither")
NON_NEGATIVE = Interval("real", 0)
REAL = Interval("real")


def check_param(constraint, value, name: str):
    """`value` checked against `constraint`: one constraint, or a tuple of alternatives
    among which None accepts the value None. A string goes to the alternatives' Options,
    a bool to their FLAG, anything else to the first number constraint, whose message
    then names the other alternatives."""
    if not isinstance(constraint, tuple):
        return constraint.check(value, name)
    alternatives = constraint
    if value is None and None in alternatives:
        return None
    present = [c for c in alternatives if c is not None]
    if isinstance(value, str):
        chosen = next((c for c in present if isinstance(c, Options)), None)
    elif isinstance(value, (bool, np.bool_)):
        chosen = next((c for c in present if c is FLAG), None)
    else:
        chosen = None
    if chosen is None:
        numbers = [c for c in present if isinstance(c, Interval)] or [c for c in present if not isinstance(c, Options)]
        chosen = (numbers or present)[0]
    try:
        return chosen.check(value, name)
    except InvalidParameterError:
        if not isinstance(chosen, Interval) or chosen.hint:
            raise
        others = [c.describe() for c in present if c is not chosen] + ["None"] * (None in alternatives)
        if not others:
            raise
        return chosen.check(value, name, f"or {', or '.join(others)}")


def validate_params(constraints: dict):
    """Decorate a public function (or a class's ``__init__``) with the constraints of its
    parameters, ``{name: constraint}``: each call's arguments for those names are checked
    by `check_param` and passed on normalised; defaults are not checked. The table is
    kept as the wrapper's ``__parameter_constraints__``."""

    def decorate(function):
        signature = inspect.signature(function)
        unknown = set(constraints) - set(signature.parameters)
        if unknown:
            raise TypeError(f"{function.__qualname__} declares constraints of no parameter: {sorted(unknown)}")
        positions = {name: i for i, name in enumerate(signature.parameters)}
        items = tuple(constraints.items())

        @functools.wraps(function)
        def checked(*args, **kwargs):
            args = list(args)
            for name, constraint in items:
                if name in kwargs:
                    kwargs[name] = check_param(constraint, kwargs[name], name)
                elif positions[name] < len(args):
                    args[positions[name]] = check_param(constraint, args[positions[name]], name)
            return function(*args, **kwargs)

        checked.__parameter_constraints__ = dict(constraints)
        return checked

    return decorate
