"""Generative-model evaluation on feature vectors: FID, KID, precision/recall/density/
coverage, the Vendi score and the Inception Score.

Inputs are feature matrices (n, d) the user computed (Inception, CLIP or DINOv2
embeddings, float32 or float64); no model weights are involved. The pairwise parts run
on the Rust pair engine: the k-NN radii of :func:`prdc` on the exact neighbour search,
its ball counts on Gram-path tiles (never an n x m matrix); the Gaussian fits of
:func:`fid` are streamed (:class:`FeatureStats`) and compared through symmetric
eigendecompositions, so singular covariances are fine.
"""

from divergent.metrics._fid import FeatureStats, fid
from divergent.metrics._inception import inception_score
from divergent.metrics._kid import KIDResult, kid
from divergent.metrics._prdc import PRDCResult, prdc
from divergent.metrics._vendi import vendi_score

__all__ = ["FeatureStats", "fid", "kid", "KIDResult", "prdc", "PRDCResult", "vendi_score", "inception_score"]
