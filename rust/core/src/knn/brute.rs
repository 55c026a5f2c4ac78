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
//!
//! A self-search (every point among the others) computes each pair once and offers it
//! to both of its points (`self_candidates`).

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

/// The per-query state of one row tile of a cross search: the k smallest upper bounds,
/// and the candidates (lower bound, index) met while their lower bound was within them.
struct KBest<'a> {
    rows: Range<usize>,
    k: usize,
    /// 2 (d + 8) u of the element type.
    bound: f64,
    /// rows.len() x k upper bounds, ascending per row.
    upper: Vec<f64>,
    candidates: Vec<Vec<(f64, u32)>>,
    /// Squared norms of the tile's rows (centred, as packed).
    row_norms: Vec<f64>,
    col_norms: &'a [f64],
    m: usize,
}

impl<const G: usize> TileVisitor<G> for KBest<'_> {
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
                    self.candidates[li].push((lo, col as u32));
                    offer_distance(upper, hi);
                }
            }
        }
    }
}

/// One row tile of queries against every data block, as a job for [`dispatch`]: the
/// tiles of squared distances go to `state`, which the job returns.
pub(crate) struct RowTileJob<'a, 'x, T, V> {
    pub isa: Isa,
    pub src: &'a Originals<'a, 'x, T>,
    pub cols: &'a GramPoints<T>,
    pub rows: Range<usize>,
    pub state: V,
}

impl<T: Real, V> IsaJob for RowTileJob<'_, '_, T, V>
where
    V: TileVisitor<1> + TileVisitor<2> + TileVisitor<4> + TileVisitor<8>,
{
    type Output = V;
    #[inline(always)]
    fn run<const FMA: bool>(self) -> V {
        let RowTileJob {
            isa,
            src,
            cols,
            rows,
            mut state,
        } = self;
        with_group_rows!(isa, T, |G| gram_tiles::<T, _, G, FMA>(
            isa,
            src,
            rows,
            cols,
            0..cols.n_blocks(),
            CHUNK_BLOCKS,
            &mut state
        ));
        state
    }
}

/// Exact |x - y|^2 of the float64 values, accumulated in coordinate order as the tree's
/// distance loop does.
#[inline]
pub(crate) fn exact<T: Real>(
    x: &ArrayView2<'_, T>,
    i: usize,
    y: &ArrayView2<'_, T>,
    j: usize,
) -> f64 {
    let mut acc = 0.0f64;
    for (a, b) in x.row(i).iter().zip(y.row(j).iter()) {
        acc = accumulate::<false>(acc, (a.to_f64() - b.to_f64()).abs());
    }
    acc
}

/// Squared norms of rows `rows` of `q` centred on `centre` and rounded to the element
/// type, as the Gram path packs them (the norms its error bound is stated in).
pub(crate) fn packed_norms<T: Real>(
    q: &ArrayView2<'_, T>,
    rows: Range<usize>,
    centre: &[f64],
) -> Vec<f64> {
    rows.map(|i| {
        q.row(i)
            .iter()
            .zip(centre)
            .map(|(v, ck)| {
                let t = T::from_f64(v.to_f64() - ck).to_f64();
                t * t
            })
            .sum()
    })
    .collect()
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
    let rows_packed_norms = |rows: Range<usize>| packed_norms(&q, rows, cols.centre());
    let bound = 2.0 * (d as f64 + 8.0) * T::UNIT_ROUNDOFF;
    let src = Originals { x: &q, y: &data };
    let tile = n
        .div_ceil(4 * rayon::current_num_threads())
        .clamp(16, ROW_TILE);
    let width = if all { k } else { 1 };
    // The k best by exact distance among a point's candidates within its final U.
    let resolve = |first: usize, upper: &[f64], candidates: &[Vec<(f64, u32)>]| {
        let mut dist = Vec::with_capacity(candidates.len() * width);
        let mut idx = Vec::with_capacity(if all { candidates.len() * k } else { 0 });
        let (mut best_d, mut best_i) = (vec![0.0f64; k], vec![0u32; k]);
        for (li, cands) in candidates.iter().enumerate() {
            let u = upper[li * k + k - 1];
            best_d.fill(f64::INFINITY);
            best_i.fill(u32::MAX);
            for &(lo, j) in cands {
                if lo <= u {
                    let e = exact(&q, first + li, &data, j as usize);
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
        (dist, idx)
    };
    let parts: Vec<(Vec<f64>, Vec<u32>)> = if own {
        let shared = self_candidates(&data, &cols, &col_norms, k, bound, ctl)?;
        shared
            .par_iter()
            .enumerate()
            .map(|(t, sh)| resolve(t * ROW_TILE, &sh.upper, &sh.candidates))
            .collect()
    } else {
        (0..n.div_ceil(tile))
            .into_par_iter()
            .map(|t| -> Result<(Vec<f64>, Vec<u32>)> {
                ctl.check()?;
                let rows = t * tile..((t + 1) * tile).min(n);
                let state = KBest {
                    rows: rows.clone(),
                    k,
                    bound,
                    upper: vec![f64::INFINITY; rows.len() * k],
                    candidates: vec![Vec::new(); rows.len()],
                    row_norms: rows_packed_norms(rows.clone()),
                    col_norms: &col_norms,
                    m,
                };
                let state = dispatch(
                    isa,
                    RowTileJob {
                        isa,
                        src: &src,
                        cols: &cols,
                        rows: rows.clone(),
                        state,
                    },
                );
                Ok(resolve(rows.start, &state.upper, &state.candidates))
            })
            .collect::<Result<_>>()?
    };
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

/// One row tile's side of a task of the symmetric self-search: the k smallest upper
/// bounds and the candidates this task found for its points, and the thresholds they
/// were kept under (the smaller of the shared k-th upper bound when the task started
/// and the task's own).
struct Side {
    first: usize,
    k: usize,
    seed: Vec<f64>,
    upper: Vec<f64>,
    threshold: Vec<f64>,
    candidates: Vec<Vec<(f64, u32)>>,
}

impl Side {
    fn new(shared: &Shared, first: usize, k: usize) -> Side {
        let len = shared.candidates.len();
        let seed: Vec<f64> = (0..len).map(|li| shared.upper[li * k + k - 1]).collect();
        Side {
            first,
            k,
            threshold: seed.clone(),
            seed,
            upper: vec![f64::INFINITY; len * k],
            candidates: vec![Vec::new(); len],
        }
    }

    #[inline(always)]
    fn offer(&mut self, li: usize, lo: f64, hi: f64, j: usize) {
        let k = self.k;
        self.candidates[li].push((lo, j as u32));
        let upper = &mut self.upper[li * k..(li + 1) * k];
        offer_distance(upper, hi);
        self.threshold[li] = self.seed[li].min(upper[k - 1]);
    }

    /// Fold into the shared state: the k smallest of both upper-bound lists, and the
    /// candidates within the merged k-th.
    fn merge_into(self, shared: &mut Shared) {
        let k = self.k;
        for (li, cands) in self.candidates.into_iter().enumerate() {
            let upper = &mut shared.upper[li * k..(li + 1) * k];
            for &hi in &self.upper[li * k..(li + 1) * k] {
                offer_distance(upper, hi);
            }
            let u = upper[k - 1];
            let kept = &mut shared.candidates[li];
            kept.extend(cands.into_iter().filter(|&(lo, _)| lo <= u));
            if kept.len() > 8 * k + 32 {
                kept.retain(|&(lo, _)| lo <= u);
            }
        }
    }
}

/// The state of a row tile's points across the tasks of the symmetric self-search.
struct Shared {
    upper: Vec<f64>,
    candidates: Vec<Vec<(f64, u32)>>,
}

/// The pairs of a task of the symmetric self-search: rows of one tile against the
/// points of another (`cols`), or of the same tile (`cols` None: pairs j > i only).
struct SymPairs<'a> {
    bound: f64,
    norms: &'a [f64],
    n: usize,
    rows: Side,
    cols: Option<Side>,
}

impl<const G: usize> TileVisitor<G> for SymPairs<'_> {
    #[inline(always)]
    fn visit(&mut self, row0: usize, b: usize, d2: &[[f64; LANES]; G]) {
        let c0 = b * LANES;
        let width = LANES.min(self.n - c0);
        let ny = &self.norms[c0..c0 + width];
        let diagonal = self.cols.is_none();
        let rows_end = self.rows.first + self.rows.candidates.len();
        for (r, d2r) in d2
            .iter()
            .enumerate()
            .take(rows_end.saturating_sub(row0).min(G))
        {
            let i = row0 + r;
            let li = i - self.rows.first;
            let nx = self.norms[i];
            // Common case first, as one vectorised test: no pair of the block within
            // either point's threshold.
            let t_row = self.rows.threshold[li];
            let cols = self.cols.as_ref().unwrap_or(&self.rows);
            let t_col = &cols.threshold[c0 - cols.first..c0 - cols.first + width];
            let mut any = false;
            for j in 0..width {
                let lo = d2r[j] - self.bound * (nx + ny[j]);
                any |= lo <= t_row || lo <= t_col[j];
            }
            if !any {
                continue;
            }
            for j in 0..width {
                let col = c0 + j;
                if diagonal && col <= i {
                    continue;
                }
                let e = self.bound * (nx + ny[j]);
                let (lo, hi) = (d2r[j] - e, d2r[j] + e);
                if lo <= self.rows.threshold[li] {
                    self.rows.offer(li, lo, hi, col);
                }
                let cols = self.cols.as_mut().unwrap_or(&mut self.rows);
                let lj = col - cols.first;
                if lo <= cols.threshold[lj] {
                    cols.offer(lj, lo, hi, i);
                }
            }
        }
    }
}

/// One task of the symmetric self-search as a job for [`dispatch`].
struct SymJob<'a, 'x, T> {
    isa: Isa,
    src: &'a Originals<'a, 'x, T>,
    cols: &'a GramPoints<T>,
    rows: Range<usize>,
    blocks: Range<usize>,
    pairs: SymPairs<'a>,
}

impl<'a, T: Real> IsaJob for SymJob<'a, '_, T> {
    type Output = SymPairs<'a>;
    #[inline(always)]
    fn run<const FMA: bool>(self) -> SymPairs<'a> {
        let SymJob {
            isa,
            src,
            cols,
            rows,
            blocks,
            mut pairs,
        } = self;
        with_group_rows!(isa, T, |G| gram_tiles::<T, _, G, FMA>(
            isa,
            src,
            rows,
            cols,
            blocks,
            CHUNK_BLOCKS,
            &mut pairs
        ));
        pairs
    }
}

/// The k nearest other points of every point, each pair computed once and offered to
/// both of its points: tasks are pairs of row tiles (t <= u), each with its own state
/// for the two tiles' points, folded into the shared state under a lock when done.
/// The result does not depend on the order the tasks finish in: a point's final k-th
/// upper bound U is the k-th smallest over all its pairs, and every pair with lower
/// bound within U was kept by whichever task met it (its threshold was >= U).
fn self_candidates<T: Real>(
    data: &ArrayView2<'_, T>,
    cols: &GramPoints<T>,
    norms: &[f64],
    k: usize,
    bound: f64,
    ctl: &Control,
) -> Result<Vec<Shared>> {
    let n = data.nrows();
    let isa = Isa::current();
    let n_tiles = n.div_ceil(ROW_TILE);
    let tile = |t: usize| t * ROW_TILE..((t + 1) * ROW_TILE).min(n);
    let shared: Vec<std::sync::Mutex<Shared>> = (0..n_tiles)
        .map(|t| {
            let len = tile(t).len();
            std::sync::Mutex::new(Shared {
                upper: vec![f64::INFINITY; len * k],
                candidates: vec![Vec::new(); len],
            })
        })
        .collect();
    let tasks: Vec<(usize, usize)> = (0..n_tiles)
        .flat_map(|t| (t..n_tiles).map(move |u| (t, u)))
        .collect();
    let src = Originals { x: data, y: data };
    let lock = |t: usize| shared[t].lock().expect("no task panics while holding it");
    tasks.par_iter().try_for_each(|&(t, u)| -> Result<()> {
        ctl.check()?;
        let rows = Side::new(&lock(t), tile(t).start, k);
        let other = (u != t).then(|| Side::new(&lock(u), tile(u).start, k));
        let pairs = SymPairs {
            bound,
            norms,
            n,
            rows,
            cols: other,
        };
        let cu = tile(u);
        let blocks = cu.start / LANES..cu.end.div_ceil(LANES);
        let done = dispatch(
            isa,
            SymJob {
                isa,
                src: &src,
                cols,
                rows: tile(t),
                blocks,
                pairs,
            },
        );
        done.rows.merge_into(&mut lock(t));
        if let Some(c) = done.cols {
            c.merge_into(&mut lock(u));
        }
        Ok(())
    })?;
    Ok(shared
        .into_iter()
        .map(|m| m.into_inner().expect("no task panicked"))
        .collect())
}

/// Which search finds Euclidean neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Search {
    /// The faster for the dimension (`brute_wins`).
    Auto,
    /// The k-d tree.
    Tree,
    /// Brute force on the Gram path.
    Brute,
}

impl Search {
    /// Whether this choice searches `metric` neighbours in `d` dimensions by brute
    /// force (which serves the Euclidean metric only).
    pub fn brute(self, metric: Metric, d: usize) -> bool {
        metric == Metric::Euclidean
            && match self {
                Search::Auto => brute_wins(d),
                Search::Tree => false,
                Search::Brute => true,
            }
    }

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
    if search.brute(metric, data.ncols()) {
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
