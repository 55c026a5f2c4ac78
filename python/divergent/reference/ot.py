"""NumPy references for divergent.ot (quantile functions evaluated on a merged grid)."""

from __future__ import annotations

import numpy as np

from divergent.ot import sliced_inputs, wasserstein_1d_inputs

__all__ = ["wasserstein_1d", "sliced_wasserstein"]


def _wpp(u, v, p, uw, vw):
    """W_p^p: both quantile functions on the union of their breakpoints, evaluated at the
    midpoint of each interval (where both are constant)."""
    n, m = len(u), len(v)
    uw = np.full(n, 1.0 / n) if uw is None else uw
    vw = np.full(m, 1.0 / m) if vw is None else vw
    iu, iv = np.argsort(u, kind="stable"), np.argsort(v, kind="stable")
    us, vs = u[iu], v[iv]
    cu, cv = np.cumsum(uw[iu]), np.cumsum(vw[iv])
    cu[-1] = cv[-1] = 1.0
    grid = np.unique(np.concatenate([[0.0], np.minimum(cu, 1.0), np.minimum(cv, 1.0)]))
    mid = 0.5 * (grid[1:] + grid[:-1])
    qu = us[np.minimum(np.searchsorted(cu, mid, side="left"), n - 1)]
    qv = vs[np.minimum(np.searchsorted(cv, mid, side="left"), m - 1)]
    return float(np.sum(np.diff(grid) * np.abs(qu - qv) ** p))


def wasserstein_1d(u, v, *, p=1, u_weights=None, v_weights=None) -> float:
    """Reference for :func:`divergent.ot.wasserstein_1d`."""
    u, v, p, uw, vw = wasserstein_1d_inputs(u, v, p, u_weights, v_weights)
    return _wpp(u, v, p, uw, vw) ** (1 / p)


def sliced_wasserstein(x, y, *, n_projections=200, p=2, seed=None) -> float:
    """Reference for :func:`divergent.ot.sliced_wasserstein` (same directions for a seed)."""
    x, y, p, directions = sliced_inputs(x, y, n_projections, p, seed)
    return float(np.mean([_wpp(x @ t, y @ t, p, None, None) for t in directions]) ** (1 / p))
