//! Max-norm (Chebyshev) neighbour searches by brute force: the KSG and Frenzel-Pompe
//! estimators' joint k-th neighbours and marginal radius counts in high dimension.
//!
//! The max-norm has no inner-product form, so no GEMM: each query row meets the
//! points in packed blocks of `LANES` (coordinate-major), one subtract, absolute value
//! and maximum per coordinate on SIMD lanes, queries in tiles that reuse a chunk of
//! blocks while it is in L1. Distances are exact (max |x_k - y_k| rounds only in the
//! subtraction, as in the tree), so the neighbours, ties by index, and the counts are
//! those of the tree bit for bit.

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::arith::simd::{dispatch, Isa, IsaJob};
use crate::control::Control;
use crate::error::{invalid, Result};
use crate::knn::distance::{check_radii, fmax, offer};
use crate::knn::kdtree::Neighbours;
use crate::pairwise::differences::PackedPoints;
use crate::pairwise::LANES;

/// Queries per parallel task and per tile.
const ROW_TILE: usize = 64;
/// Bytes of packed points per chunk (stays in L1 while a tile's rows pass over it).
const CHUNK_BYTES: usize = 24 * 1024;

/// Max-norm distances from `row` to the `LANES` points of block `b`.
#[inline(always)]
fn block_dist(packed: &PackedPoints, row: &[f64], b: usize) -> [f64; LANES] {
    let (c, _) = packed.block(b);
    let mut acc = [0.0f64; LANES];
    for (k, &xk) in row.iter().enumerate() {
        let yk: &[f64; LANES] = c[k * LANES..(k + 1) * LANES].try_into().unwrap();
        for j in 0..LANES {
            acc[j] = fmax(acc[j], (xk - yk[j]).abs());
        }
    }
    acc
}

/// What each query row keeps from its blocks.
trait RowState: Send {
    /// Fold the distances of block `b` into the state of query `i` (`n` points).
    fn fold(&mut self, i: usize, b: usize, dist: &[f64; LANES], n: usize);
}

/// k best (distance, index) per query of a tile, own point excluded.
struct KBest {
    first: usize,
    k: usize,
    dist: Vec<f64>,
    idx: Vec<u32>,
}

impl RowState for KBest {
    #[inline(always)]
    fn fold(&mut self, i: usize, b: usize, dist: &[f64; LANES], n: usize) {
        let k = self.k;
        let li = i - self.first;
        let (dd, ii) = (
            &mut self.dist[li * k..(li + 1) * k],
            &mut self.idx[li * k..(li + 1) * k],
        );
        let worst = dd[k - 1];
        let mut any = false;
        for &v in dist {
            any |= v <= worst;
        }
        if !any {
            return;
        }
        for (j, &v) in dist.iter().enumerate() {
            let col = b * LANES + j;
            if col < n && col != i {
                offer(dd, ii, v, col as u32);
            }
        }
    }
}

/// Counts of other points within each query's radius.
struct Counts<'a, const STRICT: bool> {
    first: usize,
    radii: &'a [f64],
    counts: Vec<u64>,
}

impl<const STRICT: bool> RowState for Counts<'_, STRICT> {
    #[inline(always)]
    fn fold(&mut self, i: usize, b: usize, dist: &[f64; LANES], n: usize) {
        let r = self.radii[i];
        let mut c = 0u64;
        for (j, &v) in dist.iter().enumerate() {
            let inside = if STRICT { v < r } else { v <= r };
            let col = b * LANES + j;
            c += u64::from(inside && col < n && col != i);
        }
        self.counts[i - self.first] += c;
    }
}

/// One tile of queries against every block, as a job for [`dispatch`].
struct Tile<'a, S> {
    points: &'a ArrayView2<'a, f64>,
    packed: &'a PackedPoints,
    rows: std::ops::Range<usize>,
    state: S,
}

impl<S: RowState> IsaJob for Tile<'_, S> {
    type Output = S;
    #[inline(always)]
    fn run<const FMA: bool>(self) -> S {
        let Tile {
            points,
            packed,
            rows,
            mut state,
        } = self;
        let (n, d) = points.dim();
        let nb = packed.n_blocks();
        let chunk = (CHUNK_BYTES / (d * LANES * 8)).max(1);
        let tile: Vec<f64> = rows.clone().flat_map(|i| points.row(i).to_vec()).collect();
        let mut b0 = 0;
        while b0 < nb {
            let b1 = (b0 + chunk).min(nb);
            for (row, i) in tile.chunks_exact(d).zip(rows.clone()) {
                for b in b0..b1 {
                    let dist = block_dist(packed, row, b);
                    state.fold(i, b, &dist, n);
                }
            }
            b0 = b1;
        }
        state
    }
}

fn check_points(points: &ArrayView2<'_, f64>) -> Result<()> {
    if points.ncols() == 0 {
        return invalid("the points have zero features");
    }
    if points.iter().any(|v| !v.is_finite()) {
        return invalid("the points contain NaN or infinity");
    }
    Ok(())
}

/// k nearest neighbours of every point among the others in the max-norm (its own entry
/// excluded, other points at distance zero kept), as
/// [`KdTree::knn`](crate::knn::kdtree::KdTree::knn) with `own`: ascending by
/// (distance, index); with `all` every neighbour and its index, else the k-th distance.
pub fn knn_max_norm_self(
    points: ArrayView2<'_, f64>,
    k: usize,
    all: bool,
    ctl: &Control,
) -> Result<Neighbours> {
    check_points(&points)?;
    let n = points.nrows();
    if k == 0 || k >= n {
        return invalid(format!(
            "k must be between 1 and {} (the number of candidate neighbours), got {k}",
            n.saturating_sub(1)
        ));
    }
    let packed = PackedPoints::pack(points.view(), None);
    let isa = Isa::current();
    let parts: Vec<KBest> = (0..n.div_ceil(ROW_TILE))
        .into_par_iter()
        .map(|t| -> Result<KBest> {
            ctl.check()?;
            let rows = t * ROW_TILE..((t + 1) * ROW_TILE).min(n);
            let state = KBest {
                first: rows.start,
                k,
                dist: vec![f64::INFINITY; rows.len() * k],
                idx: vec![u32::MAX; rows.len() * k],
            };
            Ok(dispatch(
                isa,
                Tile {
                    points: &points,
                    packed: &packed,
                    rows,
                    state,
                },
            ))
        })
        .collect::<Result<_>>()?;
    let width = if all { k } else { 1 };
    let mut distances = Vec::with_capacity(n * width);
    let mut indices = Vec::with_capacity(if all { n * k } else { 0 });
    for p in parts {
        if all {
            distances.extend_from_slice(&p.dist);
            indices.extend_from_slice(&p.idx);
        } else {
            distances.extend(p.dist.chunks_exact(k).map(|r| r[k - 1]));
        }
    }
    Ok(Neighbours {
        k: width,
        distances,
        indices: all.then_some(indices),
    })
}

/// For every point, the number of other points within `radii[i]` in the max-norm
/// (`dist < r` when `strict`, else `dist <= r`), as the tree's `count_self`.
pub fn count_max_norm_self(
    points: ArrayView2<'_, f64>,
    radii: &[f64],
    strict: bool,
    ctl: &Control,
) -> Result<Vec<u64>> {
    check_points(&points)?;
    let n = points.nrows();
    check_radii(radii, n)?;
    let packed = PackedPoints::pack(points.view(), None);
    let isa = Isa::current();
    let parts: Vec<Vec<u64>> = (0..n.div_ceil(ROW_TILE))
        .into_par_iter()
        .map(|t| -> Result<Vec<u64>> {
            ctl.check()?;
            let rows = t * ROW_TILE..((t + 1) * ROW_TILE).min(n);
            Ok(if strict {
                count_tile::<true>(isa, &points, &packed, rows, radii)
            } else {
                count_tile::<false>(isa, &points, &packed, rows, radii)
            })
        })
        .collect::<Result<_>>()?;
    Ok(parts.concat())
}

/// The counts of one tile of queries.
fn count_tile<const STRICT: bool>(
    isa: Isa,
    points: &ArrayView2<'_, f64>,
    packed: &PackedPoints,
    rows: std::ops::Range<usize>,
    radii: &[f64],
) -> Vec<u64> {
    let state = Counts::<STRICT> {
        first: rows.start,
        radii,
        counts: vec![0u64; rows.len()],
    };
    let tile = Tile {
        points,
        packed,
        rows,
        state,
    };
    dispatch(isa, tile).counts
}

/// Whether the max-norm brute force beats the tree in `d` dimensions; see
/// [`MAX_NORM_BRUTE_FROM_D`].
pub fn max_norm_brute_wins(d: usize) -> bool {
    d >= MAX_NORM_BRUTE_FROM_D
}

/// The dimension from which the max-norm brute force beats the tree.
///
/// Measured (k = 3 neighbours and then strict counts within their distances, uniform
/// points, 2 threads, AMD EPYC with AVX-512), time of brute force over the tree's:
///
/// | d | n = 10^3 | n = 10^4 |
/// |---:|---:|---:|
/// | 4 | 1.48 | 6.05 |
/// | 8 | 1.29 | 2.80 |
/// | 12 | 0.85 | 1.38 |
/// | 16 | 0.67 | 0.62 |
/// | 32 | 0.41 | 0.22 |
/// | 64 | 0.37 | 0.23 |
///
/// From d = 16 the tree's cost per query already grows nearly like n (0.85 power from
/// 10^3 to 10^4), so the switch holds at larger n too.
pub const MAX_NORM_BRUTE_FROM_D: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knn::kdtree::{count_self, knn_self, Metric};
    use crate::test_util::random_points;

    #[test]
    fn same_as_the_tree() {
        let ctl = Control::new();
        for (n, d, k) in [(70usize, 3usize, 1usize), (300, 20, 4), (257, 48, 2)] {
            let mut x = random_points(n, d, 11);
            // Duplicates and ties.
            for c in 0..d {
                x[[1, c]] = x[[0, c]];
                x[[3, c]] = x[[2, c]] + if c == 0 { 0.5 } else { 0.0 };
                x[[4, c]] = x[[2, c]] - if c == 0 { 0.5 } else { 0.0 };
            }
            for all in [false, true] {
                let want = knn_self(x.view(), k, Metric::Chebyshev, all, &ctl).unwrap();
                let got = knn_max_norm_self(x.view(), k, all, &ctl).unwrap();
                assert_eq!(got.distances, want.distances, "n={n} d={d} all={all}");
                assert_eq!(got.indices, want.indices, "n={n} d={d}");
            }
            let radii = knn_self(x.view(), k, Metric::Chebyshev, false, &ctl)
                .unwrap()
                .distances;
            for strict in [false, true] {
                let want = count_self(x.view(), &radii, Metric::Chebyshev, strict, &ctl).unwrap();
                let got = count_max_norm_self(x.view(), &radii, strict, &ctl).unwrap();
                assert_eq!(got, want, "n={n} d={d} strict={strict}");
            }
        }
    }

    #[test]
    fn errors() {
        let ctl = Control::new();
        let x = random_points(5, 20, 1);
        assert!(knn_max_norm_self(x.view(), 5, false, &ctl).is_err());
        assert!(count_max_norm_self(x.view(), &[1.0; 4], false, &ctl).is_err());
        let mut z = x.clone();
        z[[0, 0]] = f64::NAN;
        assert!(knn_max_norm_self(z.view(), 1, false, &ctl).is_err());
    }
}
