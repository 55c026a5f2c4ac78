//! Exact Euclidean k nearest neighbours by brute force on the pair engine's Gram path.
//!
//! In a few dozen dimensions and up a k-d tree visits nearly every leaf, and the pair
//! loop decides: here the squared distances of a tile of queries against every data
//! point come from the Gram microkernels (`pairwise::gram`, in the input's precision,
//! centred on the pooled mean), and each query keeps its k best in a few registers.
//!
//! Exactness. A computed squared distance a_ij is within
//! E_ij = 2 (d + 8) u (|x~_i|^2 + |y~_j|^2) of the exact one e_ij of the data as float64
//! (the expansion's rounding, (d + 4) u (...) (Higham 2002, section 3.1), the rounding
//! of the centred coordinates to the element type, 4 u (...), and a factor 2 to spare).
//! Each query tracks U, the k-th smallest upper bound a + E seen so far, which bounds
//! its exact k-th distance from above, and keeps as candidates the pairs whose lower
//! bound a - E is at most U when they are met. Every true neighbour (and every point
//! tied with the k-th) is among them, since e <= U at all times; at the end the
//! candidates still within the final U are recomputed exactly by coordinate differences
//! in float64, in coordinate order as the tree's distance loop does, and the k best by
//! (distance, index) are kept. So the neighbours, their distances and the tie-breaking
//! are bit for bit those of the tree on the float64 data, for float32 input too. For
//! random data the candidates are the k best plus about k ln(m / k) early ones.

use std::ops::Range;

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::arith::simd::{dispatch, Isa, IsaJob};
use crate::control::Control;
use crate::error::{invalid, Result};
use crate::knn::distance::{accumulate, finish, offer, offer_distance};
use crate::knn::kdtree::{knn_cross, knn_self, Metric, Neighbours};
use crate::pairwise::gram::{gram_tiles, GramPoints, Originals, TileVisitor};
use crate::pairwise::{with_group_rows, Real, LANES};

/// Most queries per parallel task (each data coordinate brought into cache serves
/// this many queries), and data blocks per chunk, as for the kernel sums.
const ROW_TILE: usize = 256;
const CHUNK_BLOCKS: usize = 8;

/// The per-query state of one row tile: the k smallest upper bounds, and the
/// candidates (lower bound, index) met while their lower bound was within them.
struct KBest {
    rows: Range<usize>,
    k: usize,
    /// Own-point queries: column `row` is the query itself and is skipped.
    own: bool,
    /// 2 (d + 8) u of the element type.
    bound: f64,
    /// rows.len() x k upper bounds, ascending per row.
    upper: Vec<f64>,
    candidates: Vec<Vec<(f64, u32)>>,
    /// Squared norms of the tile's rows (centred, as packed).
    row_norms: Vec<f64>,
    col_norms: Vec<f64>,
    m: usize,
}

impl<const G: usize> TileVisitor<G> for KBest {
    #[inline(always)]
    fn visit(&mut self, row0: usize, b: usize, d2: &[[f64; LANES]; G]) {
        let c0 = b * LANES;
        let width = LANES.min(self.m - c0);
        let ny = &self.col_norms[c0..c0 + width];
        for (r, d2r) in d2
            .iter()
            .enumerate()
            .take(self.rows.end.saturating_sub(row0).min(G))
        {
            let i = row0 + r;
            let li = i - self.rows.start;
            let nx = self.row_norms[li];
            let k = self.k;
            let upper = &mut self.upper[li * k..(li + 1) * k];
            // The common case, no pair of the block within the bound, as one
            // vectorised test; the rare candidates one by one.
            let u = upper[k - 1];
            let mut any = false;
            for j in 0..width {
                any |= d2r[j] - self.bound * (nx + ny[j]) <= u;
            }
            if !any {
                continue;
            }
            for j in 0..width {
                let e = self.bound * (nx + ny[j]);
                let (lo, hi) = (d2r[j] - e, d2r[j] + e);
                if lo <= upper[k - 1] {
                    let col = c0 + j;
                    if self.own && col == i {
                        continue;
                    }
                    self.candidates[li].push((lo, col as u32));
                    offer_distance(upper, hi);
                }
            }
        }
    }
}

/// One row tile as a job for [`dispatch`].
struct TileJob<'a, 'x, T> {
    isa: Isa,
    src: &'a Originals<'a, 'x, T>,
    cols: &'a GramPoints<T>,
    state: KBest,
}

impl<T: Real> IsaJob for TileJob<'_, '_, T> {
    type Output = KBest;
    #[inline(always)]
    fn run<const FMA: bool>(self) -> KBest {
        let TileJob {
            isa,
            src,
            cols,
            mut state,
        } = self;
        let rows = state.rows.clone();
        with_group_rows!(isa, T, |G| gram_tiles::<T, _, G, FMA>(
            isa,
            src,
            rows,
            cols,
            CHUNK_BLOCKS,
            &mut state
        ));
        state
    }
}

/// Exact |x - y|^2 of the float64 values, accumulated in coordinate order as the tree's
/// distance loop does.
#[inline]
fn exact<T: Real>(x: &ArrayView2<'_, T>, i: usize, y: &ArrayView2<'_, T>, j: usize) -> f64 {
    let mut acc = 0.0f64;
    for (a, b) in x.row(i).iter().zip(y.row(j).iter()) {
        acc = accumulate::<false>(acc, (a.to_f64() - b.to_f64()).abs());
    }
    acc
}

/// k nearest neighbours in `data` of every row of `queries` (`None`: of every data
/// point among the others, its own entry excluded; other points at distance zero are
/// not). Distances ascending; with `all`, every neighbour and its index, else only the
/// k-th distance (`Neighbours::k == 1`), as [`KdTree::knn`](crate::knn::kdtree::KdTree::knn).
pub fn knn_brute<T: Real>(
    data: ArrayView2<'_, T>,
    queries: Option<ArrayView2<'_, T>>,
    k: usize,
    all: bool,
    ctl: &Control,
) -> Result<Neighbours> {
    let own = queries.is_none();
    let q = queries.unwrap_or(data.view());
    let (m, d) = data.dim();
    if q.ncols() != d {
        return invalid(format!(
            "queries have {} features but the data have {d}",
            q.ncols()
        ));
    }
    if data.iter().chain(q.iter()).any(|v| !v.to_f64().is_finite()) {
        return invalid("the points contain NaN or infinity");
    }
    let available = if own { m.saturating_sub(1) } else { m };
    if k == 0 || k > available {
        return invalid(format!(
            "k must be between 1 and {available} (the number of candidate neighbours), got {k}"
        ));
    }
    let n = q.nrows();
    let isa = Isa::current();
    let cols = GramPoints::pack(data.view(), None, (!own).then(|| q.view()));
    let col_norms: Vec<f64> = (0..cols.n_blocks())
        .flat_map(|b| *cols.block(b).1)
        .collect();
    let rows_packed_norms = |rows: Range<usize>| -> Vec<f64> {
        let c = cols.centre();
        rows.map(|i| {
            q.row(i)
                .iter()
                .zip(c)
                .map(|(v, ck)| {
                    let t = T::from_f64(v.to_f64() - ck).to_f64();
                    t * t
                })
                .sum()
        })
        .collect()
    };
    let bound = 2.0 * (d as f64 + 8.0) * T::UNIT_ROUNDOFF;
    let src = Originals { x: &q, y: &data };
    let tile = n
        .div_ceil(4 * rayon::current_num_threads())
        .clamp(16, ROW_TILE);
    let width = if all { k } else { 1 };
    let parts: Vec<(Vec<f64>, Vec<u32>)> = (0..n.div_ceil(tile))
        .into_par_iter()
        .map(|t| -> Result<(Vec<f64>, Vec<u32>)> {
            ctl.check()?;
            let rows = t * tile..((t + 1) * tile).min(n);
            let state = KBest {
                rows: rows.clone(),
                k,
                own,
                bound,
                upper: vec![f64::INFINITY; rows.len() * k],
                candidates: vec![Vec::new(); rows.len()],
                row_norms: rows_packed_norms(rows.clone()),
                col_norms: col_norms.clone(),
                m,
            };
            let state = dispatch(
                isa,
                TileJob {
                    isa,
                    src: &src,
                    cols: &cols,
                    state,
                },
            );
            let mut dist = Vec::with_capacity(rows.len() * width);
            let mut idx = Vec::with_capacity(if all { rows.len() * k } else { 0 });
            let (mut best_d, mut best_i) = (vec![0.0f64; k], vec![0u32; k]);
            for (li, cands) in state.candidates.iter().enumerate() {
                let u = state.upper[li * k + k - 1];
                best_d.fill(f64::INFINITY);
                best_i.fill(u32::MAX);
                for &(lo, j) in cands {
                    if lo <= u {
                        let e = exact(&q, rows.start + li, &data, j as usize);
                        offer(&mut best_d, &mut best_i, e, j);
                    }
                }
                if all {
                    dist.extend(best_d.iter().map(|&e| finish::<false>(e)));
                    idx.extend_from_slice(&best_i);
                } else {
                    dist.push(finish::<false>(best_d[k - 1]));
                }
            }
            Ok((dist, idx))
        })
        .collect::<Result<_>>()?;
    let mut distances = Vec::with_capacity(n * width);
    let mut indices = Vec::with_capacity(if all { n * k } else { 0 });
    for (dd, ii) in parts {
        distances.extend_from_slice(&dd);
        indices.extend_from_slice(&ii);
    }
    Ok(Neighbours {
        k: width,
        distances,
        indices: all.then_some(indices),
    })
}

/// Which search finds Euclidean neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Search {
    /// The faster for the sizes and the dimension ([`brute_wins`]).
    Auto,
    /// The k-d tree.
    Tree,
    /// Brute force on the Gram path.
    Brute,
}

impl Search {
    pub fn from_name(name: &str) -> Result<Search> {
        match name {
            "auto" => Ok(Search::Auto),
            "tree" => Ok(Search::Tree),
            "brute" => Ok(Search::Brute),
            _ => invalid(format!(
                "unknown search {name:?}; expected \"auto\", \"tree\" or \"brute\""
            )),
        }
    }
}

/// Whether brute force beats the k-d tree for Euclidean neighbours in `d` dimensions.
///
/// Measured (KL's two searches, k = 1, n = m, N(0, I) data, 2 threads, Intel Xeon with
/// AVX-512, float64), time of brute force over the tree's:
///
/// | d | n = 10^3 | n = 10^4 | n = 10^5 |
/// |---:|---:|---:|---:|
/// | 4 | 4.1 | 24 | |
/// | 8 | 1.7 | 3.2 | |
/// | 12 | 0.6-1.5 | 1.4 | |
/// | 16 | 0.8 | 0.75 | 0.9 (brute extrapolated from 10^4) |
/// | 32 | 0.76 | 0.43 | 0.3 (idem; the tree: 109 s) |
/// | 128 | | 0.22 | |
///
/// The tree's pruning fails from about d = 16 at every n here (the tree gains with n
/// at a fixed d, but at d = 16 only as fast as brute force loses), so the switch is on
/// the dimension alone.
pub fn brute_wins(d: usize) -> bool {
    d >= BRUTE_FROM_D
}

/// The dimension from which brute force on the Gram path beats the tree.
pub const BRUTE_FROM_D: usize = 16;

/// k nearest neighbours (Euclidean or max-norm) by the search `search` picks: in
/// `data` of every row of `queries`, or (`None`) of every data point among the others.
/// Brute force serves the Euclidean metric only; the tree reads float32 as float64.
pub fn knn_search<T: Real>(
    data: ArrayView2<'_, T>,
    queries: Option<ArrayView2<'_, T>>,
    k: usize,
    metric: Metric,
    all: bool,
    search: Search,
    ctl: &Control,
) -> Result<Neighbours> {
    let brute = metric == Metric::Euclidean
        && match search {
            Search::Auto => brute_wins(data.ncols()),
            Search::Tree => false,
            Search::Brute => true,
        };
    if brute {
        return knn_brute(data, queries, k, all, ctl);
    }
    // The tree reads float64 (float32 input converted: a copy, in low dimension).
    let data = T::as_f64(data);
    match queries {
        None => knn_self(data.view(), k, metric, all, ctl),
        Some(q) => knn_cross(data.view(), T::as_f64(q).view(), k, metric, all, ctl),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::random_points;

    #[test]
    fn same_neighbours_as_the_tree_far_from_the_origin() {
        let ctl = Control::new();
        for (d, k) in [(16usize, 1usize), (40, 3), (130, 5)] {
            let mut x = random_points(300, d, 1);
            let mut y = random_points(230, d, 2);
            // Neighbours 1e-3 apart at coordinates ~1e4, exact duplicates, and ties.
            for i in 0..20 {
                for c in 0..d {
                    x[[2 * i + 1, c]] = x[[2 * i, c]] + if c == i % d { 1e-3 } else { 0.0 };
                    y[[i, c]] = x[[2 * i, c]] + if c == 0 { 2e-3 } else { 0.0 };
                }
            }
            for c in 0..d {
                x[[60, c]] = x[[61, c]];
            }
            x.mapv_inplace(|v| v + 1e4);
            y.mapv_inplace(|v| v + 1e4);
            let want_self = knn_self(x.view(), k, Metric::Euclidean, true, &ctl).unwrap();
            let got_self = knn_brute(x.view(), None, k, true, &ctl).unwrap();
            assert_eq!(got_self.indices, want_self.indices, "self d={d}");
            assert_eq!(got_self.distances, want_self.distances, "self d={d}");
            let want = knn_cross(x.view(), y.view(), k, Metric::Euclidean, true, &ctl).unwrap();
            let got = knn_brute(x.view(), Some(y.view()), k, true, &ctl).unwrap();
            assert_eq!(got.indices, want.indices, "cross d={d}");
            assert_eq!(got.distances, want.distances, "cross d={d}");
            // float32 input: the neighbours of the same values as float64.
            let (x32, y32) = (x.mapv(|v| v as f32), y.mapv(|v| v as f32));
            let (x64, y64) = (x32.mapv(f64::from), y32.mapv(f64::from));
            let want = knn_cross(x64.view(), y64.view(), k, Metric::Euclidean, true, &ctl).unwrap();
            let got = knn_brute(x32.view(), Some(y32.view()), k, true, &ctl).unwrap();
            assert_eq!(got.indices, want.indices, "f32 cross d={d}");
            assert_eq!(got.distances, want.distances, "f32 cross d={d}");
            let kth = knn_brute(x32.view(), None, k, false, &ctl).unwrap();
            let want = knn_self(x64.view(), k, Metric::Euclidean, false, &ctl).unwrap();
            assert_eq!(kth.distances, want.distances, "f32 self kth d={d}");
        }
    }

    #[test]
    fn float32_ties_within_the_rounding_are_resolved_exactly() {
        // Two clusters 400 apart (centred norms ~ 4e4) of unit Gaussian-like points in
        // d = 130: neighbour distances^2 ~ 260, above the recheck's threshold, and
        // separated by less than float32's rounding of the expansion (~0.05), so the
        // candidates within the bound decide the order.
        let ctl = Control::new();
        let d = 130;
        let mut x = random_points(1000, d, 7);
        let mut y = random_points(200, d, 8);
        for (a, sign) in [(&mut x, 1.0), (&mut y, -1.0)] {
            for (i, mut row) in a.rows_mut().into_iter().enumerate() {
                let s = if i % 2 == 0 { sign } else { -sign };
                row[0] += 200.0 * s;
            }
        }
        let (x32, y32) = (x.mapv(|v| v as f32), y.mapv(|v| v as f32));
        let (x64, y64) = (x32.mapv(f64::from), y32.mapv(f64::from));
        for k in [1usize, 4] {
            let want = knn_cross(x64.view(), y64.view(), k, Metric::Euclidean, true, &ctl).unwrap();
            let got = knn_brute(x32.view(), Some(y32.view()), k, true, &ctl).unwrap();
            assert_eq!(got.indices, want.indices, "k={k}");
            assert_eq!(got.distances, want.distances, "k={k}");
            let want = knn_self(x64.view(), k, Metric::Euclidean, true, &ctl).unwrap();
            let got = knn_brute(x32.view(), None, k, true, &ctl).unwrap();
            assert_eq!(got.indices, want.indices, "self k={k}");
        }
    }

    #[test]
    fn errors() {
        let ctl = Control::new();
        let x = random_points(10, 20, 1);
        assert!(knn_brute(x.view(), None, 10, false, &ctl).is_err());
        assert!(knn_brute(x.view(), None, 0, false, &ctl).is_err());
        let y = random_points(10, 19, 1);
        assert!(knn_brute(x.view(), Some(y.view()), 1, false, &ctl).is_err());
        let mut z = x.clone();
        z[[3, 3]] = f64::NAN;
        assert!(knn_brute(z.view(), None, 1, false, &ctl).is_err());
    }
}
