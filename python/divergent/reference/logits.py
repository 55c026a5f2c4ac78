"""NumPy references for divergent.logits.

kl, reverse_kl and js are those of divergent.logits with the fused Rust kernel
disabled (a log-softmax per row, then the divergence's sum, in NumPy); the other
functions of divergent.logits are NumPy already and are re-exported.
"""

from divergent import logits as _logits
from divergent.logits import cross_entropy as cross_entropy
from divergent.logits import entropy as entropy
from divergent.logits import generalized_js as generalized_js
from divergent.logits import hellinger as hellinger
from divergent.logits import kl_from_logprobs as kl_from_logprobs
from divergent.logits import renyi as renyi
from divergent.logits import tv as tv
from divergent.logits._divergences import divergence

__all__ = list(_logits.__all__)


def _numpy_twin(which: str, what: str):
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
