"""Optimal transport between samples.

Exact optimal transport by the network simplex (from histograms and a cost matrix, or
between point clouds); entropic optimal transport by log-domain Sinkhorn iterations on point clouds (the cost
|x - y|^p computed on the fly, never stored) or on a given cost matrix, balanced or
unbalanced, with epsilon-scaling; debiased Sinkhorn divergences; the exact 1-D
Wasserstein distance and the sliced Wasserstein distance.
"""

from divergent._results import ConvergenceWarning
from divergent.ot._emd import EMDResult, emd, emd2, wasserstein
from divergent.ot._sinkhorn import SinkhornResult, sinkhorn, sinkhorn_divergence, sinkhorn_from_cost
from divergent.ot._wasserstein import sliced_wasserstein, wasserstein_1d

__all__ = [
    "emd",
    "emd2",
    "wasserstein",
    "EMDResult",
    "sinkhorn",
    "sinkhorn_from_cost",
    "sinkhorn_divergence",
    "SinkhornResult",
    "ConvergenceWarning",
    "wasserstein_1d",
    "sliced_wasserstein",
]
