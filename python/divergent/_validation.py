"""Input validation shared by the public API and the references.

Messages follow scikit-learn's style: say what was expected, what was received, and how
to fix it, naming the argument.
"""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

__all__ = [
    "as_samples",
    "check_same_dim",
    "check_positive_int",
    "check_int_at_least",
    "check_positive_float",
    "check_choice",
    "check_bandwidth",
    "common_dtype",
    "check_weights",
    "check_seed",
    "check_memory",
    "available_memory",
]


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


def _check_count_max(value: int, name: str) -> int:
    if value > COUNT_MAX:
        raise ValueError(f"{name}={value} is more than the largest supported count, 2**62; pass a smaller value")
    return int(value)


def check_positive_int(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return _check_count_max(value, name)


def check_int_at_least(value, name: str, least: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    return _check_count_max(value, name)


def check_positive_float(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number, got {value!r}")
    try:
        # Any real number (fractions.Fraction, NumPy scalars), as float.
        as_float = float(value)
    except OverflowError:
        as_float = math.inf
    if not (math.isfinite(as_float) and as_float > 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return as_float


def check_choice(value, name: str, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"unknown {name} {value!r}; expected one of {options}")
    return value


def check_bandwidth(bandwidth, *, allowed_strings=("median",)):
    """A positive finite float, or one of `allowed_strings`."""
    if isinstance(bandwidth, str) and allowed_strings:
        return check_choice(bandwidth, "bandwidth", allowed_strings)
    if isinstance(bandwidth, str):
        raise TypeError(f"bandwidth must be a positive float, got {bandwidth!r}")
    if isinstance(bandwidth, (bool, np.bool_)) or not isinstance(bandwidth, numbers.Real):
        also = f" or one of {allowed_strings}" if allowed_strings else ""
        raise TypeError(f"bandwidth must be a positive float{also}, got {bandwidth!r}")
    h = float(bandwidth)
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"bandwidth must be a positive finite float, got {bandwidth!r}")
    return h


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


def check_seed(seed):
    """A seed for np.random.default_rng: None, an int >= 0, a SeedSequence or a Generator."""
    if seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be None, a non-negative integer or a numpy Generator, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
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
