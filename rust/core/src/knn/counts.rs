//! The neighbour statistics of the k-NN information estimators.
//!
//! The estimators themselves are a few O(n) formulas over these statistics (logs and
//! digammas, evaluated by the caller); everything O(n log n) and up happens here.

use ndarray::{Array2, ArrayView2, Axis};

use crate::control::Control;
use crate::error::{invalid, Result};
use crate::knn::brute::{knn_brute, Search};
use crate::knn::kdtree::{count_self, KdTree, Metric, Neighbours};
use crate::knn::max_norm::{count_max_norm_self, knn_max_norm_self, max_norm_brute_wins};
use crate::pairwise::Real;

/// For every point x_i: rho_i, the distance to its k-th nearest neighbour among the
/// other points of x, and nu_i, the distance to its k-th nearest neighbour in y (Wang,
/// Kulkarni & Verdu 2009; Poczos & Schneider 2011). Both searches run over the leaves
/// of x's tree, or by brute force where `search` picks it.
pub fn kth_self_and_cross<T: Real>(
    x: ArrayView2<'_, T>,
    y: ArrayView2<'_, T>,
    k: usize,
    metric: Metric,
    search: Search,
    ctl: &Control,
) -> Result<(Vec<f64>, Vec<f64>)> {
    if x.ncols() != y.ncols() {
        return invalid(format!(
            "x and y must have the same number of features, got {} and {}",
            x.ncols(),
            y.ncols()
        ));
    }
    if search.brute(metric, x.ncols()) {
        let rho = knn_brute(x.view(), None, k, false, ctl)?;
        let nu = knn_brute(y.view(), Some(x.view()), k, false, ctl)?;
        return Ok((rho.distances, nu.distances));
    }
    let (x, y) = (T::as_f64(x), T::as_f64(y));
    let tx = KdTree::new(x.view())?;
    let rho = tx.knn(&tx, true, k, metric, false, ctl)?.distances;
    let ty = KdTree::new(y.view())?;
    let nu = ty.knn(&tx, false, k, metric, false, ctl)?.distances;
    Ok((rho, nu))
}

/// How the KSG family sets the counting radius in each subspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KsgRadius {
    /// Count points strictly closer than the joint k-th neighbour distance
    /// (KSG algorithm 1; Frenzel & Pompe's conditional estimator).
    Joint,
    /// Count points no farther than the largest subspace distance to any of the k joint
    /// neighbours (KSG algorithm 2).
    Neighbours,
}

/// Neighbour counts of the Kraskov-Stoegbauer-Grassberger estimators, max-norm
/// throughout. `joint` holds all variables side by side; each subspace is a list of its
/// columns. Returns the joint k-th neighbour distances and, per subspace, the count of
/// other points within the radius for every point.
pub fn ksg_counts(
    joint: ArrayView2<'_, f64>,
    subspaces: &[Vec<usize>],
    k: usize,
    radius: KsgRadius,
    ctl: &Control,
) -> Result<(Vec<f64>, Vec<Vec<u64>>)> {
    let (n, d) = joint.dim();
    for cols in subspaces {
        if cols.is_empty() || cols.iter().any(|&c| c >= d) {
            return invalid(format!(
                "subspace columns {cols:?} out of range for {d} features"
            ));
        }
    }
    let all = radius == KsgRadius::Neighbours;
    // In high dimension the tree visits nearly every leaf: brute force (max_norm).
    let Neighbours {
        distances, indices, ..
    } = if max_norm_brute_wins(d) {
        knn_max_norm_self(joint, k, all, ctl)?
    } else {
        let tree = KdTree::new(joint)?;
        tree.knn(&tree, true, k, Metric::Chebyshev, all, ctl)?
    };
    let eps: Vec<f64> = match &indices {
        Some(_) => distances.chunks_exact(k).map(|row| row[k - 1]).collect(),
        None => distances,
    };
    let strict = radius == KsgRadius::Joint;
    let mut counts = Vec::with_capacity(subspaces.len());
    for cols in subspaces {
        let sub: Array2<f64> = joint.select(Axis(1), cols);
        let radii: Vec<f64>;
        let radii: &[f64] = match &indices {
            None => &eps,
            Some(idx) => {
                radii = (0..n)
                    .map(|i| {
                        let mut r = 0.0f64;
                        for &j in &idx[i * k..(i + 1) * k] {
                            for (&a, &b) in sub.row(i).iter().zip(sub.row(j as usize).iter()) {
                                r = r.max((a - b).abs());
                            }
                        }
                        r
                    })
                    .collect();
                &radii
            }
        };
        counts.push(if max_norm_brute_wins(cols.len()) {
            count_max_norm_self(sub.view(), radii, strict, ctl)?
        } else {
            count_self(sub.view(), radii, Metric::Chebyshev, strict, ctl)?
        });
    }
    Ok((eps, counts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::random_points;

    fn cheb(a: &[f64], b: &[f64]) -> f64 {
        a.iter()
            .zip(b)
            .fold(0.0f64, |m, (p, q)| m.max((p - q).abs()))
    }

    #[test]
    fn ksg_counts_match_brute_force() {
        let ctl = Control::new();
        let n = 400;
        let z = random_points(n, 3, 9).mapv(|v| (v * 3.0).round() / 3.0);
        let subs = vec![vec![0], vec![1, 2]];
        for (radius, k) in [(KsgRadius::Joint, 3), (KsgRadius::Neighbours, 4)] {
            let (eps, counts) = ksg_counts(z.view(), &subs, k, radius, &ctl).unwrap();
            for i in 0..n {
                let zi = z.row(i).to_vec();
                let mut d: Vec<(f64, usize)> = (0..n)
                    .filter(|&j| j != i)
                    .map(|j| (cheb(&zi, &z.row(j).to_vec()), j))
                    .collect();
                d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                assert_eq!(eps[i], d[k - 1].0);
                for (s, cols) in subs.iter().enumerate() {
                    let proj = |j: usize| cols.iter().map(|&c| z[[j, c]]).collect::<Vec<_>>();
                    let r = match radius {
                        KsgRadius::Joint => eps[i],
                        KsgRadius::Neighbours => d[..k]
                            .iter()
                            .map(|&(_, j)| cheb(&proj(i), &proj(j)))
                            .fold(0.0, f64::max),
                    };
                    let want = (0..n)
                        .filter(|&j| j != i)
                        .filter(|&j| {
                            let dd = cheb(&proj(i), &proj(j));
                            if radius == KsgRadius::Joint {
                                dd < r
                            } else {
                                dd <= r
                            }
                        })
                        .count() as u64;
                    assert_eq!(counts[s][i], want);
                }
            }
        }
    }
}
