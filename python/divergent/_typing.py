"""Type aliases of the public signatures."""

from __future__ import annotations

from typing import Literal, Union

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["ArrayLike", "Reduction", "Seed"]

#: What np.random.default_rng accepts, less the bit generators: None (fresh entropy), a
#: non-negative int, a SeedSequence or a Generator (used as it is).
Seed = Union[int, np.random.SeedSequence, np.random.Generator, None]

#: The reductions of divergent.logits over the leading (position) axes.
Reduction = Literal["none", "mean", "sum", "batchmean"]
