"""NumPy references for divergent.logits.

The divergences are those of divergent.logits with the fused Rust kernel disabled (a
log-softmax per row, then the divergence's sum, in NumPy); agreement and KLStats are
written here in NumPy (KLStats keeps every value: exact percentiles); kl_from_logprobs
is NumPy already and is re-exported.
"""

import math

import numpy as np

from divergent import logits as _logits
from divergent._validation import validate_params
from divergent.logits import _numpy
from divergent.logits import kl_from_logprobs as kl_from_logprobs
from divergent.logits._divergences import ALPHA, BETA, divergence
from divergent.logits._inputs import LOGITS_PARAMETERS

__all__ = list(_logits.__all__)


_TWIN_PARAMETERS = {k: LOGITS_PARAMETERS[k] for k in ("temperature", "reduction")}


def _numpy_twin(which: str, what: str):
    @validate_params(_TWIN_PARAMETERS)
    def twin(p_logits, q_logits, *, temperature=1.0, mask=None, reduction="mean"):
        return divergence(
            which, p_logits, q_logits, temperature=temperature, mask=mask, reduction=reduction, fused=False, what=what
        )

    twin.__name__ = twin.__qualname__ = which
    twin.__doc__ = f":func:`divergent.logits.{which}` in NumPy."
    return twin


kl = _numpy_twin("kl", "KL(p || q)")
reverse_kl = _numpy_twin("reverse_kl", "KL(q || p)")
js = _numpy_twin("js", "the divergence")
tv = _numpy_twin("tv", "the divergence")
hellinger = _numpy_twin("hellinger", "the divergence")
cross_entropy = _numpy_twin("cross_entropy", "the cross-entropy")


@validate_params({**_TWIN_PARAMETERS, "beta": BETA})
def generalized_js(p_logits, q_logits, beta, *, temperature=1.0, mask=None, reduction="mean"):
    """:func:`divergent.logits.generalized_js` in NumPy."""
    kw = dict(temperature=temperature, mask=mask, reduction=reduction, params={"beta": beta}, fused=False)
    return divergence("generalized_js", p_logits, q_logits, **kw)


@validate_params({**_TWIN_PARAMETERS, "alpha": ALPHA})
def renyi(p_logits, q_logits, alpha, *, temperature=1.0, mask=None, reduction="mean"):
    """:func:`divergent.logits.renyi` in NumPy."""
    kw = dict(temperature=temperature, mask=mask, reduction=reduction, params={"alpha": alpha}, fused=False)
    return divergence("renyi", p_logits, q_logits, **kw, what="the Renyi divergence")


@validate_params(_TWIN_PARAMETERS)
def entropy(p_logits, *, temperature=1.0, mask=None, reduction="mean"):
    """:func:`divergent.logits.entropy` in NumPy."""
    kw = dict(temperature=temperature, mask=mask, reduction=reduction, fused=False)
    return divergence("entropy", p_logits, None, **kw)


def _top_tokens(p_logits, q_logits, temperature, mask):
    """Per unmasked position (flattened): KL, whether the argmaxes agree, p(t), q(t),
    t = argmax p, all from NumPy log-softmaxes."""
    p = np.asarray(p_logits).astype(np.float64)
    q = np.asarray(q_logits).astype(np.float64)
    p, q = np.broadcast_arrays(p, q)
    v = p.shape[-1]
    p, q = p.reshape(-1, v), q.reshape(-1, v)
    if mask is not None:
        keep = np.asarray(mask).reshape(-1)
        p, q = p[keep], q[keep]
    lp, lq = _numpy.log_softmax(p / temperature), _numpy.log_softmax(q / temperature)
    t = np.argmax(p, axis=-1)
    rows = np.arange(p.shape[0])
    with np.errstate(under="ignore"):
        p_top, q_at = np.exp(lp[rows, t]), np.exp(lq[rows, t])
    return _numpy.kl(lp, lq), (t == np.argmax(q, axis=-1)).astype(np.float64), p_top, q_at


def agreement(p_logits, q_logits, *, temperature=1.0, mask=None, reduction="mean"):
    """:func:`divergent.logits.agreement` in NumPy (``reduction`` "mean" or "sum")."""
    _, agree, p_top, q_at = _top_tokens(p_logits, q_logits, temperature, mask)
    delta = np.abs(p_top - q_at)
    if reduction == "sum":
        return _logits.Agreement(float(agree.sum()), float(delta.sum()))
    return _logits.Agreement(float(agree.mean()), float(delta.mean()))


Agreement = _logits.Agreement
KLReport = _logits.KLReport


class KLStats:
    """:class:`divergent.logits.KLStats` in NumPy, exactly: every per-token KL is kept
    and the percentiles are np.percentile's ``method="lower"`` order statistics."""

    def __init__(self, *, temperature=1.0):
        self._temperature = temperature
        self._parts = []

    def update(self, p_logits, q_logits, mask=None):
        self._parts.append(_top_tokens(p_logits, q_logits, self._temperature, mask))
        return self

    def merge(self, other):
        self._parts.extend(other._parts)
        return self

    def report(self):
        kl, agree, p_top, q_at = (np.concatenate(c) for c in zip(*self._parts))
        n = kl.size
        dp = p_top - q_at
        pct = np.percentile(kl, [50, 90, 95, 99, 99.9], method="lower")
        inf = bool(np.isinf(kl).any())
        return KLReport(
            n_tokens=n,
            mean=math.inf if inf else float(kl.mean()),
            sem=math.inf if inf or n < 2 else float(kl.std(ddof=1) / math.sqrt(n)),
            median=float(pct[0]),
            p90=float(pct[1]),
            p95=float(pct[2]),
            p99=float(pct[3]),
            p999=float(pct[4]),
            max=float(kl.max()),
            top1_agreement=float(agree.mean()),
            delta_p_mean=float(dp.mean()),
            delta_p_rms=float(np.sqrt((dp * dp).mean())),
        )
