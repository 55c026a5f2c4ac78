"""NumPy references for divergent.discrete.

Everything in divergent.discrete is NumPy except the fused Rust path for logits;
these are the same functions with that path disabled.
"""

from divergent.discrete import js_numpy as js
from divergent.discrete import kl_numpy as kl

__all__ = ["kl", "js"]
