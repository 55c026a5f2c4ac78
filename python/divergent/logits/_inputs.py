"""Reading logits, masks and reductions for divergent.logits.

Logits are arrays of shape (..., V), the vocabulary last. float16, bfloat16 (the
ml_dtypes dtype), float32 and float64 are read as given; any object with ``__dlpack__``
(a CPU torch tensor) or ``__array__`` is viewed without a copy where NumPy can.
"""

from __future__ import annotations

import numpy as np

from divergent._validation import Interval, InvalidParameterError, Options

REDUCTIONS = ("none", "mean", "sum", "batchmean")

#: The parameters every function of divergent.logits declares (also the references').
TEMPERATURE = Interval("real", 0, closed="neither", hint="it divides both logits")
LOGITS_PARAMETERS = {
    "temperature": TEMPERATURE,
    "reduction": Options(REDUCTIONS),
    "top_k": (Interval("int", 1, hint="the number of p's tokens kept"), None),
    "top_p": (Interval("real", 0, 1, closed="right", hint="the probability mass of p kept"), None),
}

#: Rows per block where logits are widened (a mix of dtypes with float16 or bfloat16, a
#: truncation, a mask) or computed in NumPy (the references): a block of about this many
#: elements, so that no temporary grows with the input. The fused kernel reads float16
#: and bfloat16 from their bits.
BLOCK_ELEMENTS = 1 << 21


def is_half(dtype: np.dtype) -> bool:
    """float16, or bfloat16 (ml_dtypes registers it as a NumPy dtype named 'bfloat16')."""
    return dtype == np.float16 or dtype.name == "bfloat16"


def read_logits(x, name: str) -> np.ndarray:
    """`x` as a NumPy array of float logits of at least one axis, not copied."""
    if not isinstance(x, np.ndarray) and hasattr(x, "__dlpack__"):
        try:
            x = np.from_dlpack(x)
        except (TypeError, RuntimeError, BufferError):
            pass  # a device tensor or an unsupported dtype: np.asarray says which
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} cannot be read as an array of logits: {err}") from None
    if not (arr.dtype.kind == "f" or is_half(arr.dtype)):
        raise TypeError(
            f"{name} has dtype {arr.dtype}; logits must be float16, bfloat16, float32 or float64 "
            f"(integer, bool and complex arrays are not logits): pass e.g. {name}.astype(np.float32)"
        )
    if arr.ndim == 0:
        raise ValueError(f"{name} is a scalar; logits have shape (..., V) with the vocabulary last")
    if arr.shape[-1] == 0:
        raise ValueError(f"{name} has an empty vocabulary axis (shape {arr.shape}); V must be at least 1")
    return arr


def pair_shape(p: np.ndarray, q: np.ndarray) -> tuple:
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(
            f"p_logits and q_logits have vocabularies of {p.shape[-1]} and {q.shape[-1]} tokens; "
            f"the last axes must match"
        )
    try:
        shape = np.broadcast_shapes(p.shape, q.shape)
    except ValueError:
        raise ValueError(
            f"p_logits and q_logits have shapes {p.shape} and {q.shape}, which do not broadcast; "
            f"they must share the vocabulary axis (last) and broadcastable leading axes"
        ) from None
    return shape


def compute_dtype(*arrays: np.ndarray) -> np.dtype:
    """float64 if any input is float64, else float32: the dtype that half logits are widened
    to block by block where they are not read from their bits (float32 holds every value
    of float16 and bfloat16 exactly)."""
    return np.dtype(np.float64) if any(a.dtype == np.float64 for a in arrays) else np.dtype(np.float32)


def read_mask(mask, lead: tuple):
    """None (every position counts) or a bool array of the leading shape."""
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(
            f"mask must be a boolean array (True = the position counts), got dtype {m.dtype}; "
            f"pass e.g. attention_mask.astype(bool)"
        )
    if m.shape != lead:
        raise ValueError(
            f"mask has shape {m.shape}; it must have the logits' leading shape {lead} (one entry per position)"
        )
    return m


def reduce(values: np.ndarray, mask, reduction: str, lead: tuple):
    """Per-position values (the leading shape, masked positions 0) reduced as asked."""
    if reduction == "none":
        return float(values) if values.ndim == 0 else values
    total = float(values.sum())
    if reduction == "sum":
        return total
    if reduction == "batchmean":
        return total / (lead[0] if lead and lead[0] > 0 else 1)
    count = values.size if mask is None else int(np.count_nonzero(mask))
    if count == 0:
        raise InvalidParameterError("mask excludes every position; reduction='mean' has nothing to average")
    return total / count


def position(flat_index: int, lead: tuple):
    """The leading-shape index of a flattened row, as a tuple (or () for one row)."""
    return tuple(int(i) for i in np.unravel_index(flat_index, lead)) if lead else ()
