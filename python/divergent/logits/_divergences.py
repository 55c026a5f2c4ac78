"""The divergences of divergent.logits: one value per position of (..., V) logits,
reduced as asked."""

from __future__ import annotations

import math
import warnings

import numpy as np

from divergent import _core
from divergent._validation import Interval
from divergent.logits import _numpy
from divergent.logits._inputs import (
    BLOCK_ELEMENTS,
    compute_dtype,
    is_half,
    pair_shape,
    position,
    read_logits,
    read_mask,
    reduce,
)
from divergent.logits._truncation import check_truncation, truncate

#: The divergences of the fused Rust kernel (by its names); "kl_top" is KL with the top
#: tokens, and "entropy" the cross-entropy of p with itself (see _kernel_rows).
FUSED = ("kl", "reverse_kl", "js", "generalized_js", "tv", "hellinger", "renyi", "cross_entropy", "entropy", "kl_top")


def _bad_row_error(block: np.ndarray, name: str, first_row: int, rows, lead, temperature):
    """The error for the first row of `block` (rows `rows[i]` of the flattened leading
    axes, or first_row + i) whose logits are NaN, +inf or all -inf, or None."""
    with np.errstate(invalid="ignore", over="ignore"):
        block = block.astype(np.float64, copy=False)
        nan = np.isnan(block).any(axis=-1)
        pos_inf = (block == np.inf).any(axis=-1)
        no_mass = (block == -np.inf).all(axis=-1)
        overflow = ~np.isfinite(np.where(np.isfinite(block), block, 0.0) / temperature).all(axis=-1)
    for bad, what in (
        (nan, "NaN"),
        (pos_inf, "+inf (a logit may be -inf, a banned token, never +inf)"),
        (no_mass, "-inf for every token (no probability at all)"),
        (overflow, f"logits that temperature={temperature!r} takes beyond float64's range"),
    ):
        if bad.any():
            i = int(np.argmax(bad))
            flat = int(rows[i]) if rows is not None else first_row + i
            where = position(flat, lead)
            at = f"at position {where}" if where else "in its one row"
            return ValueError(f"{name} has {what} {at}; fix or mask that position")
    return None


def _raise_bad_rows(blocks, names, start, rows, lead, temperature) -> None:
    """Raise the error of the first bad row of any block (see _bad_row_error), if any."""
    for name, block in zip(names, blocks):
        err = _bad_row_error(block, name, start, None if rows is None else rows[start:], lead, temperature)
        if err is not None:
            raise err from None


def _blocks(n_rows: int, v: int, rows):
    """Slices (or index arrays, under a mask) of the rows, about BLOCK_ELEMENTS each."""
    step = max(1, BLOCK_ELEMENTS // v)
    if rows is None:
        for start in range(0, n_rows, step):
            yield start, slice(start, min(start + step, n_rows))
    else:
        for start in range(0, rows.size, step):
            yield start, rows[start : start + step]


def _same_dtype(arrays) -> bool:
    return all(a.dtype == arrays[0].dtype for a in arrays)


def _kernel_rows(inputs, which, temperature, extra) -> tuple:
    """The fused kernel's outputs per row: (divergence,), or for "kl_top" (KL, whether the
    top tokens agree (0 or 1), p's top-token probability, q's probability of that token).
    `extra`: the core's keywords (half, beta, alpha)."""
    scale = 1.0 / temperature
    if which == "entropy":
        which, inputs = "cross_entropy", [inputs[0], inputs[0]]
    if which == "kl_top":
        kl, p_index, q_index, p_top, q_at = _core.rowwise_kl_and_top_tokens(
            *inputs, scale=scale, allow_neg_inf=True, **extra
        )
        return kl, (p_index == q_index).astype(np.float64), p_top, q_at
    return (_core.rowwise_logits_divergence(*inputs, which, scale=scale, allow_neg_inf=True, **extra),)


def _per_row(p, q, which, temperature, mask, params, fused, truncation=(None, None)):
    """The values of `which` per position (0 where masked), as a list of arrays of the
    leading shape (one, or four for "kl_top"), and the leading shape."""
    arrays = [p] if q is None else [p, q]
    shape = arrays[0].shape if q is None else pair_shape(p, q)
    lead, v = shape[:-1], shape[-1]
    n_rows = math.prod(lead)
    flat = [np.broadcast_to(a, shape).reshape(n_rows, v) for a in arrays]
    names = ["p_logits", "q_logits"][: len(flat)]
    rows = None if mask is None or mask.all() else np.flatnonzero(mask.reshape(-1))
    out = [np.zeros(n_rows) for _ in range(4 if which == "kl_top" else 1)]
    dtype = compute_dtype(*flat)
    use_kernel = fused and which in FUSED
    # The kernel reads float16 and bfloat16 from their bits where both inputs share the
    # dtype; a mix is widened block by block to the common float dtype.
    top_k, top_p = truncation
    truncated = top_k is not None or top_p is not None
    half = flat[0].dtype.name if use_kernel and is_half(flat[0].dtype) and _same_dtype(flat) else None
    half = None if truncated else half
    whole = (
        use_kernel and rows is None and not truncated and (half is not None or not any(is_half(a.dtype) for a in flat))
    )
    parts = [(0, slice(0, n_rows))] if whole else _blocks(n_rows, v, rows)
    for start, index in parts:
        if half is not None:
            blocks = [a[index] for a in flat]
            inputs, extra = [b.view(np.uint16) for b in blocks], {"half": half}
        else:
            blocks = [a[index].astype(dtype, copy=False) for a in flat]
            if truncated:
                # Bad rows are named before truncation can hide a NaN behind a -inf.
                _raise_bad_rows(blocks, names, start, rows, lead, temperature)
                blocks[0] = truncate(blocks[0], top_k, top_p, temperature)
            inputs, extra = blocks, {}
        if use_kernel:
            try:
                values = _kernel_rows(inputs, which, temperature, {**extra, **params})
            except ValueError:
                values = None
        else:
            values = (_numpy_rows(blocks, which, temperature, params, names, start, rows, lead),)
        if values is None:
            _raise_bad_rows(blocks, names, start, rows, lead, temperature)
            raise ValueError("the logits could not be read")  # pragma: no cover
        for o, part in zip(out, values):
            o[index] = part
    return [o.reshape(lead) for o in out], lead


def _numpy_rows(blocks, which, temperature, params, names, start, rows, lead):
    _raise_bad_rows(blocks, names, start, rows, lead, temperature)
    logs = [_numpy.log_softmax(b.astype(np.float64) / temperature) for b in blocks]
    if which == "kl":
        return _numpy.kl(*logs)
    if which == "reverse_kl":
        return _numpy.kl(logs[1], logs[0])
    if which == "js":
        return _numpy.generalized_js(*logs, 0.5)
    if which == "generalized_js":
        return _numpy.generalized_js(*logs, params["beta"])
    if which == "renyi":
        return _numpy.renyi(*logs, params["alpha"])
    return getattr(_numpy, which)(*logs)


def _warn_infinite(values: np.ndarray, lead: tuple, what: str) -> None:
    inf = np.isinf(values)
    if inf.any():
        first = position(int(np.argmax(inf.reshape(-1))), lead)
        at = f"at position {first}" if first else ""
        warnings.warn(
            f"{what} is +inf {at} ({int(inf.sum())} position(s) in all): p gives positive "
            f"probability to a token that q bans (logit -inf)",
            RuntimeWarning,
            stacklevel=4,
        )


def _validated(p_logits, q_logits, temperature, mask, top_k, top_p):
    """The logits read (q None for one array), the declared temperature, the mask (None
    or bool of the leading shape) and the truncation (top_k, top_p) checked against V."""
    p = read_logits(p_logits, "p_logits")
    q = None if q_logits is None else read_logits(q_logits, "q_logits")
    shape = p.shape if q is None else pair_shape(p, q)
    truncation = check_truncation(top_k, top_p, shape[-1])
    return p, q, temperature, read_mask(mask, shape[:-1]), truncation


def divergence(
    which,
    p_logits,
    q_logits,
    *,
    temperature,
    mask,
    reduction,
    top_k=None,
    top_p=None,
    params=None,
    fused=True,
    what="the divergence",
):
    """Validate the arrays, compute per position, warn on +inf, reduce (the scalar
    parameters are those the public function declared)."""
    p, q, temperature, mask, truncation = _validated(p_logits, q_logits, temperature, mask, top_k, top_p)
    [values], lead = _per_row(p, q, which, temperature, mask, params or {}, fused, truncation)
    _warn_infinite(values, lead, what)
    return reduce(values, mask, reduction, lead)


def kl_and_top(p_logits, q_logits, *, temperature, mask, top_k=None, top_p=None, warn=True):
    """Validated inputs' KL(p || q) per position with the top-token statistics: the arrays
    (kl, agree, p_top, q_at_p_top) of the leading shape (0 where masked), the mask (None
    or bool) and the leading shape. +inf KL warns as the divergences do, with `warn`."""
    p, q, temperature, mask, truncation = _validated(p_logits, q_logits, temperature, mask, top_k, top_p)
    values, lead = _per_row(p, q, "kl_top", temperature, mask, {}, True, truncation)
    if warn:
        _warn_infinite(values[0], lead, "KL(p || q)")
    return values, mask, lead


#: generalized_js's beta and renyi's alpha.
BETA = Interval("real", 0, 1, closed="neither", hint="beta = 0.5 is the Jensen-Shannon divergence")
ALPHA = Interval("real", 0, allow_inf=True, hint="alpha = 1 is the KL divergence")
