//! Distance arithmetic shared by every exact neighbour search.
//!
//! The k-d tree, the one-dimensional sorted counts and brute force must agree bit for
//! bit on which points are neighbours, so they accumulate distances with the same
//! operations in the same order (the naive sum over coordinates), compare them with the
//! same predicate and keep the k best with the same tie rule (by index).

use crate::error::{invalid, Result};

/// max for non-NaN operands in one instruction (`f64::max` also handles NaN).
#[inline(always)]
pub(crate) fn fmax(a: f64, b: f64) -> f64 {
    if a > b {
        a
    } else {
        b
    }
}

#[inline(always)]
pub(crate) fn fmin(a: f64, b: f64) -> f64 {
    if a < b {
        a
    } else {
        b
    }
}

/// Fold the coordinate difference `t >= 0` into an accumulated distance: the running
/// sum of squares (Euclidean) or maximum (Chebyshev), in coordinate order, as the
/// naive distance loop does.
#[inline(always)]
pub(crate) fn accumulate<const CHEB: bool>(acc: f64, t: f64) -> f64 {
    if CHEB {
        fmax(acc, t)
    } else {
        acc + t * t
    }
}

/// The distance from an accumulated value (squared for Euclidean).
#[inline(always)]
pub(crate) fn finish<const CHEB: bool>(acc: f64) -> f64 {
    if CHEB {
        acc
    } else {
        acc.sqrt()
    }
}

/// Whether an accumulated distance is within r. Compares true distances (after the
/// square root) so the predicate is exactly the naive `dist < r` / `dist <= r`.
#[inline(always)]
pub(crate) fn within<const CHEB: bool, const STRICT: bool>(acc: f64, r: f64) -> bool {
    let dist = finish::<CHEB>(acc);
    if STRICT {
        dist < r
    } else {
        dist <= r
    }
}

/// Insert (d, i) into the k best pairs (`dist`, `idx`, ascending by (distance, index))
/// if it is smaller than the current k-th.
#[inline(always)]
pub(crate) fn offer(dist: &mut [f64], idx: &mut [u32], d: f64, i: u32) {
    let k = dist.len();
    let (wd, wi) = (dist[k - 1], idx[k - 1]);
    if !(d < wd || (d == wd && i < wi)) {
        return;
    }
    let mut p = k - 1;
    while p > 0 && (dist[p - 1] > d || (dist[p - 1] == d && idx[p - 1] > i)) {
        dist[p] = dist[p - 1];
        idx[p] = idx[p - 1];
        p -= 1;
    }
    dist[p] = d;
    idx[p] = i;
}

/// Insert d into the k best distances (`dist`, ascending) if it is smaller than the
/// k-th. Which of several points at a tied distance is kept does not change the
/// distances, so ties need no index. Branch-free: the p-th smallest of the k values and
/// d is max(dist[p - 1], min(dist[p], d)), so the insertion point is never searched
/// for (a search mispredicts on most insertions).
#[inline(always)]
pub(crate) fn offer_distance(dist: &mut [f64], d: f64) {
    let k = dist.len();
    if d >= dist[k - 1] {
        return;
    }
    for p in (1..k).rev() {
        dist[p] = fmax(dist[p - 1], fmin(dist[p], d));
    }
    dist[0] = fmin(dist[0], d);
}

/// One radius per query, each non-negative (+inf allowed: it counts every point).
pub(crate) fn check_radii(radii: &[f64], queries: usize) -> Result<()> {
    if radii.len() != queries {
        return invalid(format!(
            "need one radius per query: {} radii for {queries} queries",
            radii.len()
        ));
    }
    if radii.iter().any(|r| r.is_nan() || *r < 0.0) {
        return invalid("radii must be non-negative and not NaN");
    }
    Ok(())
}
