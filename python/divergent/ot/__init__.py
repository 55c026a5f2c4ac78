"""Optimal transport between samples.

Entropic optimal transport by log-domain Sinkhorn iterations on point clouds (the cost
|x - y|^p computed on the fly, never stored) or on a given cost matrix, balanced or
unbalanced, with epsilon-scaling; debiased Sinkhorn divergences; the exact 1-D
Wasserstein distance and the sliced Wasserstein distance.
"""

from divergent._results import ConvergenceWarning
from divergent.ot._sinkhorn import SinkhornResult, sinkhorn, sinkhorn_divergence, sinkhorn_from_cost
from divergent.ot._wasserstein import sliced_wasserstein, wasserstein_1d

__all__ = [
    "sinkhorn",
    "sinkhorn_from_cost",
    "sinkhorn_divergence",
    "SinkhornResult",
    "ConvergenceWarning",
    "wasserstein_1d",
    "sliced_wasserstein",
]
