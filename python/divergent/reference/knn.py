"""NumPy references for divergent.knn: brute-force neighbour search, blocked.

Distances are accumulated coordinate by coordinate, sum_j (a_j - b_j)^2 in index order
(or max_j |a_j - b_j|), which is exactly what the k-d tree computes, so neighbour
distances and radius counts agree bit for bit. Ties are broken by index (stable sort).
Digamma of integers comes from harmonic numbers, independently of the package's
series. O(n^2) time and O(block x n) memory: for checking, not for large n.
"""

from __future__ import annotations

import math

import numpy as np

from divergent._validation import validate_params
from divergent.knn._common import KNN_PARAMETERS, KSG_METHODS, RENYI_ALPHA, check_no_zero, log_unit_ball_volume
from divergent.knn._divergences import (
    check_alpha,
    divergence_inputs,
    entropy_inputs,
    js_inputs,
)
from divergent.knn._mutual_information import paired_inputs

__all__ = [
    "pairwise_distances",
    "knn",
    "count_within",
    "entropy",
    "kl_divergence",
    "renyi_divergence",
    "js_divergence",
    "mutual_information",
    "conditional_mutual_information",
]

_BLOCK = 256
_EULER = 0.57721566490153286061


def pairwise_distances(a, b, metric="euclidean") -> np.ndarray:
    """(len(a), len(b)) distances, accumulated in coordinate order."""
    acc = np.zeros((a.shape[0], b.shape[0]))
    for j in range(a.shape[1]):
        t = np.abs(a[:, None, j] - b[None, :, j])
        if metric == "euclidean":
            acc += t * t
        else:
            np.maximum(acc, t, out=acc)
    return np.sqrt(acc) if metric == "euclidean" else acc


def knn(data, k, metric="euclidean", queries=None):
    """(distances, indices), each (n_queries, k), ascending with ties by index. Without
    queries, each point of data among the others."""
    own = queries is None
    queries = data if own else queries
    dist = np.empty((queries.shape[0], k))
    idx = np.empty((queries.shape[0], k), dtype=np.int64)
    for s in range(0, queries.shape[0], _BLOCK):
        block = pairwise_distances(queries[s : s + _BLOCK], data, metric)
        if own:
            rows = np.arange(block.shape[0])
            block[rows, s + rows] = np.inf
        order = np.argsort(block, axis=1, kind="stable")[:, :k]
        idx[s : s + _BLOCK] = order
        dist[s : s + _BLOCK] = np.take_along_axis(block, order, axis=1)
    return dist, idx


def count_within(data, radii, metric="euclidean", strict=False, queries=None) -> np.ndarray:
    """Number of points of data within radii[i] of query i (a point never counts itself)."""
    own = queries is None
    queries = data if own else queries
    out = np.empty(queries.shape[0], dtype=np.int64)
    for s in range(0, queries.shape[0], _BLOCK):
        block = pairwise_distances(queries[s : s + _BLOCK], data, metric)
        r = radii[s : s + _BLOCK, None]
        inside = block < r if strict else block <= r
        if own:
            rows = np.arange(block.shape[0])
            inside[rows, s + rows] = False
        out[s : s + _BLOCK] = inside.sum(axis=1)
    return out


def _digamma_int(n) -> np.ndarray:
    """psi(n) = -gamma + sum_{j < n} 1/j for integers n >= 1."""
    n = np.asarray(n, dtype=np.int64)
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, max(int(n.max()), 1)))])
    return harmonic[n - 1] - _EULER


def _entropy(x, k) -> float:
    eps = knn(x, k)[0][:, -1]
    check_no_zero(eps, "x", k, "x")
    n, d = x.shape
    return float(_digamma_int(n) - _digamma_int(k) + log_unit_ball_volume(d) + d * np.mean(np.log(eps)))


@validate_params(KNN_PARAMETERS)
def entropy(x, *, k=3, jitter=None, seed=None) -> float:
    """Reference for :func:`divergent.knn.entropy`."""
    x, k, offset = entropy_inputs(x, k, jitter, seed)
    return _entropy(x, k) + offset


def _rho_nu(x, y, k):
    rho = knn(x, k)[0][:, -1]
    nu = knn(y, k, queries=x)[0][:, -1]
    check_no_zero(rho, "x", k, "x")
    check_no_zero(nu, "x", k, "y")
    return rho, nu


@validate_params(KNN_PARAMETERS)
def kl_divergence(x, y, *, k=1, jitter=None, seed=None) -> float:
    """Reference for :func:`divergent.knn.kl_divergence`."""
    x, y, k = divergence_inputs(x, y, k, jitter, seed)
    rho, nu = _rho_nu(x, y, k)
    n, d = x.shape
    return float(d / n * np.sum(np.log(nu / rho)) + math.log(y.shape[0] / (n - 1)))


@validate_params({**KNN_PARAMETERS, "alpha": RENYI_ALPHA})
def renyi_divergence(x, y, *, alpha, k=5, jitter=None, seed=None) -> float:
    """Reference for :func:`divergent.knn.renyi_divergence`."""
    x, y, k = divergence_inputs(x, y, k, jitter, seed)
    alpha = check_alpha(alpha, k)
    rho, nu = _rho_nu(x, y, k)
    (n, d), m = x.shape, y.shape[0]
    b = math.gamma(k) ** 2 / (math.gamma(k - alpha + 1) * math.gamma(k + alpha - 1))
    ratio = (n - 1) * rho**d / (m * nu**d)
    return float(math.log(b * np.mean(ratio ** (1 - alpha))) / (alpha - 1))


@validate_params(KNN_PARAMETERS)
def js_divergence(x, y, *, k=3, jitter=None, seed=None) -> float:
    """Reference for :func:`divergent.knn.js_divergence`."""
    x, y, k = js_inputs(x, y, k, jitter, seed)
    n, m = x.shape[0], y.shape[0]
    h_z = _entropy(np.concatenate([x, y]), k)
    return float(h_z - n / (n + m) * _entropy(x, k) - m / (n + m) * _entropy(y, k))


def _ksg(samples, groups, k, strict_joint):
    """Joint k-NN (max-norm) and, per column group, the neighbour counts of KSG1 (strict,
    joint radius) or KSG2 (non-strict, largest group distance to the k neighbours)."""
    joint = np.concatenate(samples, axis=1)
    dist, idx = knn(joint, k, "chebyshev")
    eps = dist[:, -1]
    check_no_zero(eps, "the joint sample", k, "the joint space (max-norm)")
    counts = []
    for cols in groups:
        sub = joint[:, cols]
        if strict_joint:
            radii = eps
        else:
            radii = np.max(np.abs(sub[:, None, :] - sub[idx]).max(axis=2), axis=1)
        counts.append(count_within(sub, radii, "chebyshev", strict=strict_joint))
    return counts


@validate_params({**KNN_PARAMETERS, "method": KSG_METHODS})
def mutual_information(x, y, *, k=3, method="ksg1", jitter=None, seed=None) -> float:
    """Reference for :func:`divergent.knn.mutual_information`."""
    (x, y), k = paired_inputs([x, y], ["x", "y"], k, jitter, seed)
    n, dx, dy = x.shape[0], x.shape[1], y.shape[1]
    groups = [list(range(dx)), list(range(dx, dx + dy))]
    nx, ny = _ksg([x, y], groups, k, method == "ksg1")
    if method == "ksg1":
        terms = _digamma_int(nx + 1) + _digamma_int(ny + 1)
        return float(_digamma_int(k) + _digamma_int(n) - np.mean(terms))
    terms = _digamma_int(nx) + _digamma_int(ny)
    return float(_digamma_int(k) - 1 / k + _digamma_int(n) - np.mean(terms))


@validate_params(KNN_PARAMETERS)
def conditional_mutual_information(x, y, z, *, k=3, jitter=None, seed=None) -> float:
    """Reference for :func:`divergent.knn.conditional_mutual_information`."""
    (x, y, z), k = paired_inputs([x, y, z], ["x", "y", "z"], k, jitter, seed)
    dx, dy, dz = x.shape[1], y.shape[1], z.shape[1]
    xs, ys, zs = list(range(dx)), list(range(dx, dx + dy)), list(range(dx + dy, dx + dy + dz))
    nxz, nyz, nz = _ksg([x, y, z], [xs + zs, ys + zs, zs], k, True)
    terms = _digamma_int(nxz + 1) + _digamma_int(nyz + 1) - _digamma_int(nz + 1)
    return float(_digamma_int(k) - np.mean(terms))
