//! The soft-min of log-domain Sinkhorn: for every point i on one side,
//!
//!   lse_i = ln sum_j exp(w_j - C_ij / eps),
//!
//! with j over the other side and C_ij = |x_i - y_j|^p computed on the fly (point clouds:
//! no n x m storage) or read from a cost matrix. The Sinkhorn potential update is
//! f_i = -eps lse_i with w_j = ln b_j + g_j / eps.
//!
//! Shifts. A log-sum-exp is summed as exp(e_ij - s_i) with a per-row shift s_i. The exact
//! choice, max_j e_ij, costs a second pass over all pairs; Sinkhorn knows a better one
//! for free: the row's previous lse (the potentials move little between iterations, and
//! not at all near convergence). So each row is summed once with the caller's hint; a
//! row whose sum leaves [1e-280, 1e280] (a hint off by more than ~640 in log space), or,
//! truncated, falls too far below exp(hint) for the margins below, is summed once more
//! shifted by the lse its first sum implies. Rows without a hint (the first iteration)
//! start from a lower bound of their largest term found by descending the column tree.
//! Only where that fails too (or without truncation) is a row shifted by its exact
//! maximum, a pass over every column. The result is the same up to round-off.
//!
//! Truncation. Point clouds are stored in a spatial order (median splits along the
//! widest axis, aligned to blocks of `LANES` points), and the splits form a tree of
//! clusters of every scale over each side's blocks, with bounding boxes: a multiscale
//! clustering (Schmitzer 2019; GeomLoss's multiscale mode). A row may skip terms adding
//! up to a fraction `skip` of its sum, which moves its potential -eps lse by at most
//! eps skip: with skip = 1e-16 C_max / eps (C_max: the largest cost between the two
//! sides' boxes; clamped to [1e-16, 1e-12]) that is below the rounding error that the
//! potentials and the cost carry at the scale of the costs; or a larger fraction that
//! the caller allows (`CloudCost::with_skipped_fraction`: a solver stopping at an L1
//! marginal error tol can skip tol / 64), in which case each pass reports the largest
//! bound it used (`Softmin::skipped_fraction`). For a block of rows (one
//! leaf of the row side) with smallest shift s, a column subtree whose exponents are all
//! below max_j(w_j) - C_lb / eps - s < -(ln m - ln skip + 4) (C_lb: the cost between the
//! two boxes) is skipped whole, without visiting its blocks: all such subtrees add less
//! than e^-4 skip of exp(s) to any row's sum. Each row then drops the surviving blocks
//! that the same test, with the row's own point and shift against the block's box and
//! largest weight, rules out with a margin of ln(16 n_surviving) - ln skip + 4 (a
//! group's box is wider than a point: at n = 20,000 in the unit cube this sums 40% fewer
//! blocks; and the margin is smaller, as fewer blocks are in play). A row is redone
//! without truncation unless these bounds add up to at most skip of its sum. The
//! weighted pass (each row's mean cost) prunes with margins larger by
//! ln(max_j w_j - s + margin), which bounds the skipped terms times their costs too. At
//! small epsilon most of the tree is pruned near its root: the cost per
//! iteration falls from n m towards the number of pairs the coupling actually uses.
//!
//! One pass per iteration (`Softmin::lse_then_next`). Sinkhorn's g update sums
//! exp(u_i - C_ij / eps) over i with u_i = ln a_i + f_i / eps, f from this pass: each of
//! those terms is a term t_ij of row i's sum times e^(u_i + s_i) times e^-w_j. So a row's
//! terms, once its sum is accepted (and u_i known), are also added to column sums, and
//! g's soft-min needs no exponential of its own (its pass cost as much as f's). Rows go
//! in fixed stripes, each with its own column sums (pages allocated where touched),
//! added up in stripe order: the result does not depend on the thread count. A column's
//! sum misses the terms that truncation left out of rows: at most the rows' bounds on
//! each dropped block (near the rows' cut-off) and each pruned subtree (its own, falling
//! off with distance), added up per column block over the tree; where that is not
//! within `skip` of the column's sum (far from convergence, a column without mass), or
//! a row had to be summed exactly, the caller runs g's own pass.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use ndarray::{Array2, ArrayView1, ArrayView2};
use rayon::prelude::*;

use crate::control::Control;
use crate::error::{invalid, Result};
use crate::exp::{exp, fma};
use crate::ln::ln;
use crate::pairsum::{block_sqdist_into, hsum, PackedPoints, LANES};
use crate::simd::{dispatch, Isa, IsaJob};
use crate::sum::{add_in_order, neumaier_sum, Neumaier};

/// Rows per parallel task.
const ROW_TILE: usize = 64;
/// Bytes of packed column coordinates visited per chunk (fits L1 with room for the rows).
const CHUNK_BYTES: usize = 24 * 1024;
/// A shifted sum outside [LOW, HIGH] is redone with the row's exact maximum as the shift.
const LOW: f64 = 1e-280;
const HIGH: f64 = 1e280;

/// Which side's points are the rows i of the soft-min (the sum runs over the other side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Rows are x (the potential f); the sum runs over y.
    X,
    /// Rows are y (the potential g); the sum runs over x.
    Y,
}

/// The ground cost |x - y|^p as a function of the squared distance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Power {
    One,
    Two,
    /// Any other p > 0.
    General(f64),
}

impl Power {
    pub fn new(p: f64) -> Result<Power> {
        if !(p.is_finite() && p > 0.0) {
            return invalid(format!("p must be a finite number > 0, got {p}"));
        }
        Ok(if p == 1.0 {
            Power::One
        } else if p == 2.0 {
            Power::Two
        } else {
            Power::General(p)
        })
    }

    /// |x - y|^p from the squared distance.
    #[inline(always)]
    pub(crate) fn scalar<const FMA: bool>(self, d2: f64) -> f64 {
        match self {
            Power::Two => d2,
            Power::One => d2.sqrt(),
            Power::General(p) if d2 > 0.0 => exp::<FMA>(0.5 * p * ln::<FMA>(d2)),
            Power::General(_) => 0.0,
        }
    }
}

/// |x - y|^p from the squared distance, specialised per p so that the pair loop carries
/// no branch (and no square root) that its p does not need.
trait Ground: Copy + Sync {
    fn scalar<const FMA: bool>(self, d2: f64) -> f64;
    fn apply<const FMA: bool>(self, d2: &mut [f64; LANES]);
}

#[derive(Clone, Copy)]
struct Squared;
#[derive(Clone, Copy)]
struct Distance;
#[derive(Clone, Copy)]
struct PowerOf(f64);

impl Ground for Squared {
    #[inline(always)]
    fn scalar<const FMA: bool>(self, d2: f64) -> f64 {
        d2
    }
    #[inline(always)]
    fn apply<const FMA: bool>(self, _d2: &mut [f64; LANES]) {}
}

impl Ground for Distance {
    #[inline(always)]
    fn scalar<const FMA: bool>(self, d2: f64) -> f64 {
        d2.sqrt()
    }
    #[inline(always)]
    fn apply<const FMA: bool>(self, d2: &mut [f64; LANES]) {
        for v in d2.iter_mut() {
            *v = v.sqrt();
        }
    }
}

impl Ground for PowerOf {
    #[inline(always)]
    fn scalar<const FMA: bool>(self, d2: f64) -> f64 {
        Power::General(self.0).scalar::<FMA>(d2)
    }
    #[inline(always)]
    fn apply<const FMA: bool>(self, d2: &mut [f64; LANES]) {
        let half = 0.5 * self.0;
        for v in d2.iter_mut() {
            // d2^(p/2) = exp(p/2 ln d2); ln 0 = -inf would give exp's clamp, not 0.
            let c = exp::<FMA>(half * ln::<FMA>(*v));
            *v = if *v > 0.0 { c } else { 0.0 };
        }
    }
}

/// Costs from one row to the columns, `LANES` columns (one block) at a time.
trait CostBlocks: Sync {
    fn n_rows(&self) -> usize;
    fn n_blocks(&self) -> usize;
    /// Blocks visited per chunk, so that a chunk of column data stays in L1.
    fn chunk(&self) -> usize;
    /// C(row r, columns of block b); padding columns may hold any finite cost.
    fn costs<const FMA: bool>(&self, r: usize, b: usize) -> [f64; LANES];
    /// A lower bound of the cost between two boxes (lo then hi, d values each).
    fn box_cost_lower_bound(&self, a: &[f64], b: &[f64]) -> f64;
    /// The coordinates of up to `LANES` rows, axis by axis (`LANES` values per axis, the
    /// unused lanes repeating the first row): the input of `rows_box_cost_lower_bounds`.
    fn rows_by_axis(&self, rows: &[usize]) -> Vec<f64>;
    /// Lower bounds of the cost between each of those rows and a box.
    fn rows_box_cost_lower_bounds<const FMA: bool>(
        &self,
        by_axis: &[f64],
        b: &[f64],
    ) -> [f64; LANES];
}

/// Point-cloud costs: row coordinates (row-major) against packed columns.
struct CloudBlocks<'a, G> {
    rows: &'a [f64],
    cols: &'a PackedPoints,
    power: G,
}

impl<G: Ground> CostBlocks for CloudBlocks<'_, G> {
    fn n_rows(&self) -> usize {
        self.rows.len() / self.cols.dim()
    }
    fn n_blocks(&self) -> usize {
        self.cols.n_blocks()
    }
    fn chunk(&self) -> usize {
        (CHUNK_BYTES / (self.cols.dim() * LANES * 8)).max(1)
    }
    #[inline(always)]
    fn costs<const FMA: bool>(&self, r: usize, b: usize) -> [f64; LANES] {
        let d = self.cols.dim();
        let mut c = [0.0f64; LANES];
        block_sqdist_into::<FMA>(&self.rows[r * d..(r + 1) * d], self.cols.block(b).0, &mut c);
        self.power.apply::<FMA>(&mut c);
        c
    }
    fn box_cost_lower_bound(&self, a: &[f64], b: &[f64]) -> f64 {
        let d = self.cols.dim();
        let mut d2 = 0.0;
        for k in 0..d {
            let gap = (b[k] - a[d + k]).max(a[k] - b[d + k]).max(0.0);
            d2 += gap * gap;
        }
        self.power.scalar::<false>(d2)
    }
    fn rows_by_axis(&self, rows: &[usize]) -> Vec<f64> {
        let d = self.cols.dim();
        let mut out = vec![0.0; d * LANES];
        for k in 0..d {
            for j in 0..LANES {
                out[k * LANES + j] = self.rows[rows[j.min(rows.len() - 1)] * d + k];
            }
        }
        out
    }
    #[inline(always)]
    fn rows_box_cost_lower_bounds<const FMA: bool>(
        &self,
        by_axis: &[f64],
        b: &[f64],
    ) -> [f64; LANES] {
        let d = self.cols.dim();
        let mut d2 = [0.0f64; LANES];
        for (k, x) in by_axis.chunks_exact(LANES).enumerate() {
            let (lo, hi) = (b[k], b[d + k]);
            for j in 0..LANES {
                // Selects rather than f64::max, so that the lanes vectorise.
                let (below, above) = (lo - x[j], x[j] - hi);
                let gap = if below > above { below } else { above };
                let gap = if gap > 0.0 { gap } else { 0.0 };
                d2[j] = fma::<FMA>(gap, gap, d2[j]);
            }
        }
        self.power.apply::<FMA>(&mut d2);
        d2
    }
}

/// Matrix costs, each row padded with zeros to a whole number of blocks.
struct MatrixBlocks<'a> {
    data: &'a [f64],
    stride: usize,
}

impl CostBlocks for MatrixBlocks<'_> {
    fn n_rows(&self) -> usize {
        self.data.len() / self.stride
    }
    fn n_blocks(&self) -> usize {
        self.stride / LANES
    }
    fn chunk(&self) -> usize {
        usize::MAX // each row is streamed once; there is no column reuse to block for
    }
    #[inline(always)]
    fn costs<const FMA: bool>(&self, r: usize, b: usize) -> [f64; LANES] {
        let o = r * self.stride + b * LANES;
        self.data[o..o + LANES].try_into().unwrap()
    }
    fn box_cost_lower_bound(&self, _a: &[f64], _b: &[f64]) -> f64 {
        0.0
    }
    fn rows_by_axis(&self, _rows: &[usize]) -> Vec<f64> {
        Vec::new()
    }
    fn rows_box_cost_lower_bounds<const FMA: bool>(
        &self,
        _by_axis: &[f64],
        _b: &[f64],
    ) -> [f64; LANES] {
        [0.0; LANES]
    }
}

/// The binary tree of the median splits that made a side's spatial order, over its
/// blocks of `LANES` points: the clusters of every scale, for pruning whole subtrees.
/// Nodes are in preorder; a leaf is one block.
struct BlockTree {
    /// First block of each node's range (the range ends where the next subtree starts).
    first: Vec<usize>,
    /// Number of blocks in each node.
    len: Vec<usize>,
    /// Preorder index just past each node's subtree.
    next: Vec<usize>,
    /// Each node's bounding box: lo (d values) then hi (d values).
    boxes: Vec<f64>,
}

impl BlockTree {
    /// The tree of [`spatial_order`]'s splits for `n` points, from the blocks' boxes.
    fn new(n: usize, d: usize, block_boxes: &[f64]) -> BlockTree {
        fn build(t: &mut BlockTree, points: Range<usize>, d: usize, block_boxes: &[f64]) {
            let k = t.first.len();
            let blocks = points.start / LANES..points.end.div_ceil(LANES);
            t.first.push(blocks.start);
            t.len.push(blocks.len());
            t.next.push(0);
            if points.len() <= LANES {
                t.boxes
                    .extend_from_slice(&block_boxes[2 * d * blocks.start..2 * d * blocks.end]);
            } else {
                // The same split as spatial_order's, so every node is one of its clusters.
                let half = whole_blocks(points.len() / 2);
                let mid = points.start + half;
                t.boxes.extend(std::iter::repeat_n(0.0, 2 * d));
                let left = t.first.len();
                build(t, points.start..mid, d, block_boxes);
                let right = t.first.len();
                build(t, mid..points.end, d, block_boxes);
                for i in 0..d {
                    let (l, r) = (2 * d * left, 2 * d * right);
                    t.boxes[2 * d * k + i] = t.boxes[l + i].min(t.boxes[r + i]);
                    t.boxes[2 * d * k + d + i] = t.boxes[l + d + i].max(t.boxes[r + d + i]);
                }
            }
            t.next[k] = t.first.len();
        }
        let mut t = BlockTree {
            first: Vec::new(),
            len: Vec::new(),
            next: Vec::new(),
            boxes: Vec::new(),
        };
        build(&mut t, 0..n, d, block_boxes);
        t
    }

    fn n_nodes(&self) -> usize {
        self.first.len()
    }

    /// Per block: the sum of `node_values` over the nodes that contain it (its leaf and
    /// the leaf's ancestors).
    fn per_block_sums(&self, node_values: &[f64]) -> Vec<f64> {
        let n_blocks = self.first[0] + self.len[0];
        let mut out = vec![0.0; n_blocks];
        // Preorder: a node's ancestors are the open subtrees on the stack.
        let mut open: Vec<(usize, f64)> = Vec::new();
        for k in 0..self.n_nodes() {
            while open.last().is_some_and(|&(end, _)| end <= k) {
                open.pop();
            }
            let v = open.last().map_or(0.0, |&(_, v)| v) + node_values[k];
            if self.len[k] == 1 {
                out[self.first[k]] = v;
            } else {
                open.push((self.next[k], v));
            }
        }
        out
    }

    /// Each node's largest value of `block_values` over its blocks.
    fn node_maxima(&self, block_values: &[f64]) -> Vec<f64> {
        let mut out = vec![f64::NEG_INFINITY; self.n_nodes()];
        // Children follow their parent in preorder, so a reverse sweep sees them first.
        for k in (0..self.n_nodes()).rev() {
            out[k] = if self.len[k] == 1 {
                block_values[self.first[k]]
            } else {
                let right = self.next[k + 1];
                out[k + 1].max(out[right])
            };
        }
        out
    }
}

/// Truncation data of one soft-min: the column tree, each node's largest log-weight, the
/// row side's block boxes, and how much of a row's sum may be skipped.
struct Truncation<'a> {
    tree: &'a BlockTree,
    node_max_w: &'a [f64],
    block_max_w: &'a [f64],
    row_boxes: &'a [f64],
    col_boxes: &'a [f64],
    dim: usize,
    /// The fraction of a row's sum that its skipped terms may add up to (`skip_for`).
    skip: f64,
}

/// e^-HEADROOM: how far below `skip` each of the two skipped parts' bounds is set, so that
/// a row's sum may fall to 2 e^-HEADROOM (about 0.04) of its shift's exp, as when the
/// hint overestimates its lse, before the row has to be redone.
const HEADROOM: f64 = 4.0;

impl Truncation<'_> {
    /// A row may skip a fraction `skip` of its sum: eps * skip is the most that its
    /// potential (-eps lse) moves, which below 1e-16 of the cost scale `c_max` (the
    /// potentials and the transport cost carry rounding errors of that order anyway) is
    /// round-off (at most 1e-12, at least 1e-16); or the caller's `allowance`, if larger
    /// ([`CloudCost::with_skipped_fraction`]).
    fn skip_for(c_max: f64, inv_eps: f64, allowance: f64) -> f64 {
        (1e-16 * c_max * inv_eps).clamp(1e-16, 1e-12).max(allowance)
    }

    /// The margin below a group's smallest shift under which a whole subtree of columns
    /// is skipped: its terms, at most m of them, then add up to e^-HEADROOM skip.
    fn group_margin(&self) -> f64 {
        ((self.block_max_w.len() * LANES) as f64).ln() - self.skip.ln() + HEADROOM
    }

    /// The margin below a row's shift under which one of the `n_surviving` blocks that
    /// survived its group's test is dropped by the row: those add up to e^-HEADROOM skip.
    fn row_margin(&self, n_surviving: usize) -> f64 {
        ((n_surviving.max(1) * LANES) as f64).ln() - self.skip.ln() + HEADROOM
    }

    /// The column blocks that can matter to a block of rows with row boxes `row_box` and
    /// smallest shift `s_min`: a subtree is pruned when even its largest weight at its
    /// smallest cost to the row box is e^-margin below every row's shift.
    /// With `pruned`, each pruned subtree is recorded with that bound on its terms'
    /// exponents (node, max w - lb / eps - s_min).
    fn surviving_blocks<S: CostBlocks>(
        &self,
        src: &S,
        row_box: &[f64],
        s_min: f64,
        inv_eps: f64,
        margin: f64,
        mut pruned: Option<&mut Vec<(usize, f64)>>,
    ) -> Vec<usize> {
        let (t, d) = (self.tree, self.dim);
        let mut out = Vec::new();
        let mut k = 0;
        while k < t.n_nodes() {
            let lb = src.box_cost_lower_bound(row_box, &t.boxes[2 * d * k..2 * d * (k + 1)]);
            let top = self.node_max_w[k] - lb * inv_eps - s_min;
            if top < -margin {
                if let Some(p) = pruned.as_deref_mut() {
                    p.push((k, top));
                }
                k = t.next[k];
            } else if t.len[k] == 1 {
                out.push(t.first[k]);
                k += 1;
            } else {
                k += 1;
            }
        }
        out
    }

    /// A lower bound of row r's largest exponent max_j (w_j - C_rj inv_eps), for a row
    /// without a hint: the largest exponent in the block reached by descending the
    /// column tree towards the child whose bound is higher, i.e. usually the row's
    /// largest or near it. Shifted by it, the row's truncated sum is at least 1 (that
    /// block survives both tests), which the exact maximum, a pass over every column,
    /// guaranteed before (at n = m = 50,000 the first iteration took 6x another).
    #[inline(always)]
    fn probe_shift<S: CostBlocks, const FMA: bool>(
        &self,
        src: &S,
        w: &[f64],
        r: usize,
        inv_eps: f64,
    ) -> f64 {
        let (t, d) = (self.tree, self.dim);
        let by_axis = src.rows_by_axis(&[r]);
        let mut k = 0;
        while t.len[k] > 1 {
            let (left, right) = (k + 1, t.next[k + 1]);
            let mut bound = [0.0; 2];
            for (i, c) in [left, right].into_iter().enumerate() {
                let lb = src.rows_box_cost_lower_bounds::<FMA>(
                    &by_axis,
                    &t.boxes[2 * d * c..2 * d * (c + 1)],
                )[0];
                bound[i] = fma::<FMA>(-lb, inv_eps, self.node_max_w[c]);
            }
            k = if bound[0] >= bound[1] { left } else { right };
        }
        let b = t.first[k];
        let c = src.costs::<FMA>(r, b);
        let mut best = f64::NEG_INFINITY;
        for j in 0..LANES {
            let e = fma::<FMA>(-c[j], inv_eps, w[b * LANES + j]);
            best = if e > best { e } else { best };
        }
        best
    }

    /// Which rows can column block b matter to: bit k for the row with coordinates
    /// lane k of `by_axis` and shift `shifts[k]` (+inf for no row). The per-row test after
    /// the per-group `surviving_blocks` (a group's box is wider than one point, and its
    /// subtrees' weights are maxima over more columns), for all rows of a group at once:
    /// across rows it vectorises, one row at a time it cost a sixth of the soft-min.
    #[inline(always)]
    fn keep_mask<S: CostBlocks, const FMA: bool>(
        &self,
        src: &S,
        by_axis: &[f64],
        shifts: &[f64; LANES],
        b: usize,
        inv_eps: f64,
        margin: f64,
    ) -> u32 {
        let d = self.dim;
        let boxes = &self.col_boxes[2 * d * b..2 * d * (b + 1)];
        let lb = src.rows_box_cost_lower_bounds::<FMA>(by_axis, boxes);
        let top = self.block_max_w[b] + margin;
        let mut mask = 0u32;
        for j in 0..LANES {
            mask |= u32::from(fma::<FMA>(-lb[j], inv_eps, top) - shifts[j] >= 0.0) << j;
        }
        mask
    }
}

/// Per-row shifted sums of one pass.
struct Sums {
    plain: Vec<f64>,
    /// The same sums with each term multiplied by C_ij (when weighted).
    weighted: Vec<f64>,
    /// Blocks summed per row.
    kept: Vec<usize>,
}

/// Per row: sum_j exp(w_j - C_ij inv_eps - s_r) over the columns of `blocks`, optionally
/// also weighted by C_ij.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn shifted_sums<S: CostBlocks, const FMA: bool, const WEIGHTED: bool, const KEEP: bool>(
    src: &S,
    rows: &[usize],
    shifts: &[f64],
    w: &[f64],
    inv_eps: f64,
    blocks: &[usize],
    filter: Option<(&Truncation<'_>, f64)>,
    keep: &mut KeptTerms,
) -> Sums {
    let mut acc = vec![Neumaier::new(); rows.len()];
    let mut wacc = vec![Neumaier::new(); if WEIGHTED { rows.len() } else { 0 }];
    let mut kept = vec![0; rows.len()];
    // With a filter, the rows are one group's (at most LANES), tested together.
    let (by_axis, lane_shifts) = match filter {
        Some(_) => {
            debug_assert!(rows.len() <= LANES);
            let mut padded = [f64::INFINITY; LANES];
            padded[..rows.len()].copy_from_slice(shifts);
            (src.rows_by_axis(rows), padded)
        }
        None => (Vec::new(), [f64::INFINITY; LANES]),
    };
    let mut masks = Vec::new();
    let chunk_len = src.chunk().min(blocks.len());
    let mut picked = vec![0; chunk_len];
    let all: Vec<usize> = match filter {
        Some(_) => Vec::new(),
        None => (0..chunk_len).collect(),
    };
    if KEEP {
        debug_assert!(rows.len() <= LANES);
        keep.masks.clear();
        if keep.terms.len() < blocks.len() * LANES {
            keep.terms.resize(blocks.len() * LANES, [0.0; LANES]);
        }
    }
    for (c_index, chunk) in blocks.chunks(src.chunk()).enumerate() {
        if let Some((t, margin)) = filter {
            // A loop, not an iterator adaptor: a closure is not inlined into this
            // function, so it would miss its target features (mul_add became a call).
            masks.clear();
            for &b in chunk {
                masks.push(t.keep_mask::<S, FMA>(src, &by_axis, &lane_shifts, b, inv_eps, margin));
            }
        }
        if KEEP {
            match filter {
                Some(_) => keep.masks.extend_from_slice(&masks),
                None => keep.masks.extend(chunk.iter().map(|_| u32::MAX)),
            }
        }
        let base = c_index * src.chunk();
        for (k, (&r, &s)) in rows.iter().zip(shifts).enumerate() {
            let mut lanes = [0.0f64; LANES];
            let mut wlanes = [0.0f64; LANES];
            // The row's blocks, gathered without a branch per block (whether a row keeps
            // a block is data-dependent, and mispredicted it cost a tenth of the pass).
            let list = match filter {
                Some(_) => {
                    let mut n = 0;
                    for (i, &mask) in masks.iter().enumerate() {
                        picked[n] = i;
                        n += (mask >> k & 1) as usize;
                    }
                    &picked[..n]
                }
                None => &all[..chunk.len()],
            };
            kept[k] += list.len();
            for &i in list {
                let b = chunk[i];
                let c = src.costs::<FMA>(r, b);
                let wb: &[f64; LANES] = w[b * LANES..(b + 1) * LANES].try_into().unwrap();
                let mut terms = [0.0f64; LANES];
                for j in 0..LANES {
                    // Padding and zero-mass columns carry w = -inf: exp clamps to ~0.
                    let t = exp::<FMA>(fma::<FMA>(-c[j], inv_eps, wb[j]) - s);
                    lanes[j] += t;
                    if WEIGHTED {
                        wlanes[j] = fma::<FMA>(t, c[j], wlanes[j]);
                    }
                    if KEEP {
                        terms[j] = t;
                    }
                }
                if KEEP {
                    keep.terms[(base + i) * LANES + k] = terms;
                }
            }
            acc[k].add(hsum(&lanes));
            if WEIGHTED {
                wacc[k].add(hsum(&wlanes));
            }
        }
    }
    Sums {
        plain: acc.iter().map(Neumaier::value).collect(),
        weighted: wacc.iter().map(Neumaier::value).collect(),
        kept,
    }
}

/// Per row: max_j (w_j - C_ij inv_eps).
#[inline(always)]
fn row_maxima<S: CostBlocks, const FMA: bool>(
    src: &S,
    rows: &[usize],
    w: &[f64],
    inv_eps: f64,
) -> Vec<f64> {
    let n_blocks = src.n_blocks();
    let mut out = Vec::with_capacity(rows.len());
    for &r in rows {
        let mut mx = [f64::NEG_INFINITY; LANES];
        for b in 0..n_blocks {
            let c = src.costs::<FMA>(r, b);
            let wb: &[f64; LANES] = w[b * LANES..(b + 1) * LANES].try_into().unwrap();
            for j in 0..LANES {
                let e = fma::<FMA>(-c[j], inv_eps, wb[j]);
                mx[j] = if e > mx[j] { e } else { mx[j] };
            }
        }
        out.push(mx.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    }
    out
}

/// Rows `rows` of one tile: (lse, cost mean) per row; the cost mean is
/// sum_j p_ij C_ij with p_ij = exp(w_j - C_ij / eps - lse_i), or empty when not `weighted`.
struct SoftminTile<'a, S> {
    src: &'a S,
    /// A range of whole row blocks (except at the end).
    rows: Range<usize>,
    w: &'a [f64],
    hint: &'a [f64],
    inv_eps: f64,
    weighted: bool,
    /// Truncation for the hinted pass (the exact pass never truncates).
    trunc: Option<&'a Truncation<'a>>,
    /// For `lse_then_next`: the next soft-min's exponent of row r given its lse, the
    /// column sums its terms are added to, and a buffer for a group's terms.
    next: Option<(NextExponent<'a>, &'a mut StripeColumns, &'a mut KeptTerms)>,
}

/// The next soft-min's exponent of a row (in the sorted order) given its lse.
type NextExponent<'a> = &'a (dyn Fn(usize, f64) -> f64 + Sync);

/// A group's terms, kept for the next soft-min's column sums: for the i-th block of its
/// surviving list, row k's terms at `terms[i * LANES + k]` if bit k of `masks[i]` is set
/// (the row kept the block; otherwise a stale, finite value).
#[derive(Default)]
struct KeptTerms {
    terms: Vec<[f64; LANES]>,
    masks: Vec<u32>,
}

/// One group's truncated sums: per row, whether the truncation bound is within the
/// row's allowance and that bound as a fraction of its sum.
struct GroupSums {
    sums: Sums,
    ok: Vec<bool>,
    skipped: Vec<f64>,
    /// The blocks that survived the group's test: a row left out those it did not keep,
    /// each of their terms below `dropped_bound` (relative to the row's shift's exp).
    surviving: Vec<usize>,
    dropped_bound: f64,
    /// The subtrees pruned for the group, each with a bound on its terms' exponents
    /// relative to every row's shift (recorded only when terms are kept).
    pruned: Vec<(usize, f64)>,
}

impl<S: CostBlocks> SoftminTile<'_, S> {
    /// Sums of `rows` (all in one block of rows) shifted by `s`, truncated if the tile
    /// truncates.
    #[inline(always)]
    fn truncated_group<const FMA: bool>(
        &self,
        rows: &[usize],
        s: &[f64],
        keep: Option<&mut KeptTerms>,
    ) -> GroupSums {
        let n = rows.len();
        let Some(t) = self.trunc else {
            let all: Vec<usize> = (0..self.src.n_blocks()).collect();
            return GroupSums {
                sums: self.sums::<FMA>(rows, s, &all, None, keep),
                ok: vec![true; n],
                skipped: vec![0.0; n],
                surviving: all,
                dropped_bound: 0.0,
                pruned: Vec::new(),
            };
        };
        // Per row, the bound on the skipped terms is (subtrees' blocks) LANES
        // e^-group_margin + (dropped blocks) LANES e^-row_margin, times exp(shift).
        let (d, g) = (t.dim, rows[0] / LANES);
        let row_box = &t.row_boxes[2 * d * g..2 * d * (g + 1)];
        let s_min = s.iter().copied().fold(f64::INFINITY, f64::min);
        // Weighted, a skipped term's C t is below eps T e^-margin with
        // T = max_j w_j - s + margin (C t is largest at the smallest C the bound allows);
        // margins larger by ln T make that below 2 eps e^-margin.
        let extra = if self.weighted {
            (t.node_max_w[0] - s_min + t.group_margin()).max(1.0).ln()
        } else {
            0.0
        };
        let group_margin = t.group_margin();
        let mut pruned = Vec::new();
        let record = keep.is_some().then_some(&mut pruned);
        let margin = group_margin + extra;
        let blocks = t.surviving_blocks(self.src, row_box, s_min, self.inv_eps, margin, record);
        let row_margin = t.row_margin(blocks.len());
        let sums = self.sums::<FMA>(rows, s, &blocks, Some((t, row_margin + extra)), keep);
        let n_blocks = self.src.n_blocks();
        let subtrees = (n_blocks - blocks.len()) as f64 * (-group_margin).exp();
        let mut ok = Vec::with_capacity(n);
        let mut skipped_fraction = Vec::with_capacity(n);
        for k in 0..n {
            let plain = sums.plain[k];
            let dropped = (blocks.len() - sums.kept[k]) as f64 * (-row_margin).exp();
            let skipped = LANES as f64 * (subtrees + dropped);
            // Accept a truncated sum only if what it skipped is a fraction `skip` of it
            // and, weighted (skipping 2 eps skipped), of the mean cost at its own scale
            // or the cost scale.
            ok.push(
                skipped <= t.skip * plain
                    && sums.weighted.get(k).is_none_or(|&wt| {
                        2.0 * skipped <= (1e-16 * wt * self.inv_eps).max(t.skip * plain)
                    }),
            );
            skipped_fraction.push(skipped / plain);
        }
        GroupSums {
            sums,
            ok,
            skipped: skipped_fraction,
            surviving: blocks,
            dropped_bound: (-(row_margin + extra)).exp(),
            pruned,
        }
    }

    #[inline(always)]
    fn sums<const FMA: bool>(
        &self,
        rows: &[usize],
        shifts: &[f64],
        blocks: &[usize],
        filter: Option<(&Truncation<'_>, f64)>,
        keep: Option<&mut KeptTerms>,
    ) -> Sums {
        let (src, w, inv) = (self.src, self.w, self.inv_eps);
        match (self.weighted, keep) {
            (true, _) => {
                let none = &mut KeptTerms::default();
                shifted_sums::<S, FMA, true, false>(src, rows, shifts, w, inv, blocks, filter, none)
            }
            (false, None) => {
                let none = &mut KeptTerms::default();
                shifted_sums::<S, FMA, false, false>(
                    src, rows, shifts, w, inv, blocks, filter, none,
                )
            }
            (false, Some(keep)) => {
                shifted_sums::<S, FMA, false, true>(src, rows, shifts, w, inv, blocks, filter, keep)
            }
        }
    }
}

/// What one pass (or tile of one) returns: per row its lse and, when weighted, its mean
/// cost; and the largest bound, over rows, on the fraction of a row's sum that
/// truncation skipped; and how many rows were summed over every column (shifted by their
/// exact maximum: no hint without truncation, or both truncated tries failed).
struct Pass {
    lse: Vec<f64>,
    mean: Vec<f64>,
    skipped: f64,
    exact: usize,
}

impl<S: CostBlocks> IsaJob for SoftminTile<'_, S> {
    type Output = Pass;
    #[inline(always)]
    fn run<const FMA: bool>(mut self) -> Pass {
        // With `next`, each group's terms are kept, and the accepted rows' added to the
        // column sums.
        let mut next = self.next.take();
        let r0 = self.rows.start;
        let n = self.rows.len();
        let all_blocks: Vec<usize> = (0..self.src.n_blocks()).collect();
        let mut shifts: Vec<f64> = self.rows.clone().map(|r| self.hint[r]).collect();
        let mut sums = vec![f64::NAN; n];
        let mut wsums = vec![f64::NAN; n];
        let mut worst_skipped = 0.0f64;
        // The hinted pass, one block of rows at a time (a block shares its pruning). A
        // row whose truncated sum was rejected (a hint too far off its lse: the margins
        // assumed a sum near exp(hint)) gets a second truncated pass shifted by the lse
        // that sum implies (a lower bound of the true one, so the second pass's margins
        // are, if anything, too wide), or by `probe_shift` if the sum left the range of
        // a double. Redoing such rows exactly cost a full pass over the columns each: while
        // over-relaxation moves the potentials far (its first ~10 iterations), a quarter
        // of the rows, and 3-4x the iteration's time.
        if let Some(t) = self.trunc {
            for r in self.rows.clone().filter(|&r| !self.hint[r].is_finite()) {
                shifts[r - r0] = t.probe_shift::<S, FMA>(self.src, self.w, r, self.inv_eps);
            }
        }
        let mut pending: Vec<usize> = self
            .rows
            .clone()
            .filter(|&r| shifts[r - r0].is_finite())
            .collect();
        for round in 0..2 {
            let mut retry = Vec::new();
            for group in pending.chunk_by(|&p, &q| p / LANES == q / LANES) {
                let s: Vec<f64> = group.iter().map(|&r| shifts[r - r0]).collect();
                let keep = next.as_mut().map(|(_, _, kept)| &mut **kept);
                let got = self.truncated_group::<FMA>(group, &s, keep);
                // Per row, e^(u_r + s_r) if its sum was accepted here, else 0.
                let mut factors = [0.0; LANES];
                for (k, &r) in group.iter().enumerate() {
                    let (plain, skipped) = (got.sums.plain[k], got.skipped[k]);
                    if let Some(&wt) = got.sums.weighted.get(k) {
                        wsums[r - r0] = wt;
                    }
                    if got.ok[k] && (LOW..=HIGH).contains(&plain) {
                        sums[r - r0] = plain;
                        worst_skipped = worst_skipped.max(skipped);
                        if let Some((exponent, _, _)) = next.as_ref() {
                            let shift = shifts[r - r0];
                            // The column term of pair (r, j) is this row's term times
                            // e^(u_r + s_r) times e^-w_j (the last applied per column).
                            factors[k] = (exponent(r, shift + plain.ln()) + shift).exp();
                        }
                    } else if round == 0 {
                        shifts[r - r0] = match (plain.is_finite() && plain > 0.0, self.trunc) {
                            (true, _) => shifts[r - r0] + plain.ln(),
                            // Off by more than the range of a double.
                            (false, Some(t)) => {
                                t.probe_shift::<S, FMA>(self.src, self.w, r, self.inv_eps)
                            }
                            (false, None) => continue,
                        };
                        retry.push(r);
                    }
                }
                if let Some((_, cols, kept)) = next.as_mut() {
                    cols.add_group::<FMA>(&factors, &got, kept);
                }
            }
            pending = retry;
        }
        // No hint (without truncation), a hint too far off, or too much truncated: shift
        // by the row's exact maximum and sum every term.
        let redo: Vec<usize> = self
            .rows
            .clone()
            .filter(|&r| !(sums[r - r0] >= LOW && sums[r - r0] <= HIGH))
            .collect();
        let n_exact = redo.len();
        if let (Some((_, cols, _)), false) = (next.as_mut(), redo.is_empty()) {
            // Rows summed exactly are few and rare (their terms would take m doubles each):
            // the next soft-min is left to its own pass.
            cols.void = true;
        }
        if !redo.is_empty() {
            let maxima = row_maxima::<S, FMA>(self.src, &redo, self.w, self.inv_eps);
            let got = self.sums::<FMA>(&redo, &maxima, &all_blocks, None, None);
            for (k, &r) in redo.iter().enumerate() {
                shifts[r - r0] = maxima[k];
                sums[r - r0] = got.plain[k];
                if self.weighted {
                    wsums[r - r0] = got.weighted[k];
                }
            }
        }
        let mut lse = Vec::with_capacity(n);
        for (s, &t) in shifts.iter().zip(&sums) {
            lse.push(s + t.ln());
        }
        let mean = if self.weighted {
            wsums.iter().zip(&sums).map(|(w, s)| w / s).collect()
        } else {
            Vec::new()
        };
        Pass {
            lse,
            mean,
            skipped: worst_skipped,
            exact: n_exact,
        }
    }
}

fn run_tiles<S: CostBlocks>(
    src: &S,
    w: &[f64],
    hint: &[f64],
    inv_eps: f64,
    weighted: bool,
    trunc: Option<&Truncation<'_>>,
    ctl: &Control,
) -> Result<Pass> {
    let n = src.n_rows();
    let tiles: Vec<Pass> = (0..n.div_ceil(ROW_TILE))
        .into_par_iter()
        .map(|t| {
            if ctl.is_cancelled() {
                return Pass {
                    lse: Vec::new(),
                    mean: Vec::new(),
                    skipped: 0.0,
                    exact: 0,
                };
            }
            let job = SoftminTile {
                src,
                rows: t * ROW_TILE..((t + 1) * ROW_TILE).min(n),
                w,
                hint,
                inv_eps,
                weighted,
                trunc,
                next: None,
            };
            dispatch(Isa::current(), job)
        })
        .collect();
    ctl.check()?;
    Ok(Pass::joined(tiles, n))
}

impl Pass {
    /// The pass over `n` rows made of these tiles' passes, in order.
    fn joined(tiles: impl IntoIterator<Item = Pass>, n: usize) -> Pass {
        let mut out = Pass {
            lse: Vec::with_capacity(n),
            mean: Vec::new(),
            skipped: 0.0,
            exact: 0,
        };
        for t in tiles {
            out.lse.extend(t.lse);
            out.mean.extend(t.mean);
            out.skipped = out.skipped.max(t.skipped);
            out.exact += t.exact;
        }
        out
    }
}

/// Column blocks per page of a stripe's column sums.
const PAGE_BLOCKS: usize = 64;
/// Fixed row stripes of `lse_then_next` (at most): each adds its rows' terms to its own
/// column sums, and those are added up in stripe order, so that the result does not depend
/// on the number of threads.
const STRIPES: usize = 64;
/// Most bytes the stripes' column sums and bounds may take if every stripe touched every
/// column (without truncation); fewer stripes are used beyond.
const STRIPE_BYTES: usize = 256 << 20;

/// How many stripes `run_stripes` takes for `src` (0: too many columns for the budget).
fn stripe_count<S: CostBlocks>(src: &S) -> usize {
    // Per stripe: LANES sums per block, a block bound, and two node bounds per block.
    let stripe_bytes = 8 * (LANES + 3) * src.n_blocks();
    STRIPES
        .min(src.n_rows().div_ceil(ROW_TILE))
        .min(STRIPE_BYTES / stripe_bytes)
}

/// One stripe's part of the next soft-min's column sums, sum_r e^(u_r + s_r) t_rj over
/// its rows r: pages of PAGE_BLOCKS column blocks, allocated when first touched (truncated
/// rows touch only the columns near them).
struct StripeColumns {
    pages: Vec<Option<Box<[f64; PAGE_BLOCKS * LANES]>>>,
    /// Bounds on what the rows' truncation left out of the column sums, per column block
    /// (blocks a row dropped) and per node of the column tree (subtrees a group pruned).
    block_bound: Vec<f64>,
    node_bound: Vec<f64>,
    /// Some row's terms could not be added (a row summed exactly, or a factor out of
    /// range): the next soft-min needs its own pass.
    void: bool,
}

impl StripeColumns {
    /// For `n_blocks` column blocks and a column tree of `n_nodes` (0: no truncation).
    fn new(n_nodes: usize, n_blocks: usize) -> StripeColumns {
        StripeColumns {
            pages: (0..n_blocks.div_ceil(PAGE_BLOCKS)).map(|_| None).collect(),
            block_bound: vec![0.0; n_blocks],
            node_bound: vec![0.0; n_nodes],
            void: false,
        }
    }

    /// Adds a group's kept terms (`kept`, for `got`'s surviving blocks), row k's times
    /// `factors[k]` (0 for a row not accepted), and the bounds on what its rows left
    /// out: a surviving block a row dropped (near the rows' cut-off, where that bound is
    /// tight), and each pruned subtree, whose terms are within its own bound (falling off
    /// with its distance).
    #[inline(always)]
    fn add_group<const FMA: bool>(
        &mut self,
        factors: &[f64; LANES],
        got: &GroupSums,
        kept: &KeptTerms,
    ) {
        if factors.iter().any(|f| !f.is_finite() || *f > HIGH) {
            self.void = true;
        }
        let total: f64 = factors.iter().sum();
        if total == 0.0 || self.void {
            return;
        }
        for (i, &b) in got.surviving.iter().enumerate() {
            let mask = kept.masks[i];
            let mut col = [0.0f64; LANES];
            // The factors of the rows that dropped the block.
            let mut dropped = 0.0;
            for (k, &factor) in factors.iter().enumerate() {
                // A stale term of a row that dropped the block is finite: times 0, 0.
                let f = if mask >> k & 1 == 1 { factor } else { 0.0 };
                dropped += factor - f;
                let t = &kept.terms[i * LANES + k];
                for j in 0..LANES {
                    col[j] = fma::<FMA>(f, t[j], col[j]);
                }
            }
            let page = self.pages[b / PAGE_BLOCKS]
                .get_or_insert_with(|| Box::new([0.0; PAGE_BLOCKS * LANES]));
            let at = (b % PAGE_BLOCKS) * LANES;
            let sums: &mut [f64; LANES] = (&mut page[at..at + LANES]).try_into().unwrap();
            for j in 0..LANES {
                sums[j] += col[j];
            }
            self.block_bound[b] += dropped * got.dropped_bound;
        }
        for &(k, top) in &got.pruned {
            self.node_bound[k] += total * top.exp();
        }
    }
}

/// The column sums of `lse_then_next`: per padded column j, sum_r e^(u_r + s_r) t_rj,
/// and the bound on what truncation left out of each.
struct NextSums {
    sums: Vec<f64>,
    /// Per column block.
    skipped: Vec<f64>,
}

impl NextSums {
    /// The next soft-min's lse over the first `m` columns, whose log-weights in the pass
    /// that made these sums were `w`, and the largest bound on the fraction of a sum that
    /// truncation left out; None if some column's sum is out of range or that bound is
    /// not within `skip`.
    fn lse(&self, w: &[f64], m: usize, skip: f64) -> Option<NextLse> {
        // Column j's sum is e^w_j sum_r e^(u_r - C_rj / eps), its lse ln S_j - w_j;
        // truncation left out at most `skipped` of S_j, which must be within the
        // fraction `skip` that a soft-min of its own may leave out.
        let mut lse = Vec::with_capacity(m);
        let mut worst = 0.0f64;
        for (j, (&sj, &wj)) in self.sums.iter().zip(w).take(m).enumerate() {
            let bound = self.skipped[j / LANES];
            if !((LOW..=HIGH).contains(&sj) && wj.is_finite() && bound <= skip * sj) {
                return None;
            }
            worst = worst.max(bound / sj);
            lse.push(sj.ln() - wj);
        }
        Some((lse, worst))
    }
}

/// `run_tiles` (unweighted) whose accepted rows also add their terms to the column sums
/// of the next soft-min (`Softmin::lse_then_next`); those are None where some row's
/// could not be added.
#[allow(clippy::too_many_arguments)]
fn run_stripes<S: CostBlocks>(
    src: &S,
    w: &[f64],
    hint: &[f64],
    inv_eps: f64,
    trunc: Option<&Truncation<'_>>,
    next: NextExponent<'_>,
    stripes: usize,
    ctl: &Control,
) -> Result<(Pass, Option<NextSums>)> {
    let n = src.n_rows();
    let n_tiles = n.div_ceil(ROW_TILE);
    let n_blocks = src.n_blocks();
    let n_nodes = trunc.map_or(0, |t| t.tree.n_nodes());
    let parts: Vec<(Vec<Pass>, StripeColumns)> = (0..stripes)
        .into_par_iter()
        .map(|s| {
            let mut cols = StripeColumns::new(n_nodes, n_blocks);
            let mut kept = KeptTerms::default();
            let mut passes = Vec::new();
            for t in s * n_tiles / stripes..(s + 1) * n_tiles / stripes {
                if ctl.is_cancelled() {
                    break;
                }
                let job = SoftminTile {
                    src,
                    rows: t * ROW_TILE..((t + 1) * ROW_TILE).min(n),
                    w,
                    hint,
                    inv_eps,
                    weighted: false,
                    trunc,
                    next: Some((next, &mut cols, &mut kept)),
                };
                passes.push(dispatch(Isa::current(), job));
            }
            (passes, cols)
        })
        .collect();
    ctl.check()?;
    let (passes, columns): (Vec<Vec<Pass>>, Vec<StripeColumns>) = parts.into_iter().unzip();
    let out = Pass::joined(passes.into_iter().flatten(), n);
    if columns.iter().any(|c| c.void) {
        return Ok((out, None));
    }
    let node_bound = add_in_order(columns.iter().map(|c| c.node_bound.as_slice()), n_nodes);
    let block_bound = add_in_order(columns.iter().map(|c| c.block_bound.as_slice()), n_blocks);
    let from_nodes = match trunc {
        Some(t) => t.tree.per_block_sums(&node_bound),
        None => vec![0.0; n_blocks],
    };
    let skipped = block_bound
        .iter()
        .zip(&from_nodes)
        .map(|(a, b)| a + b)
        .collect();
    let mut sums = vec![0.0; n_blocks * LANES];
    sums.par_chunks_mut(PAGE_BLOCKS * LANES)
        .enumerate()
        .for_each(|(p, chunk)| {
            for c in &columns {
                if let Some(page) = &c.pages[p] {
                    for (s, v) in chunk.iter_mut().zip(page.iter()) {
                        *s += v;
                    }
                }
            }
        });
    Ok((out, Some(NextSums { sums, skipped })))
}

/// `len` rounded up to whole blocks of `LANES`.
fn whole_blocks(len: usize) -> usize {
    len.div_ceil(LANES) * LANES
}

/// Log-weights padded with -inf to whole blocks.
fn padded_weights(w: &[f64]) -> Vec<f64> {
    let mut out = w.to_vec();
    out.resize(whole_blocks(w.len()), f64::NEG_INFINITY);
    out
}

/// A transport problem's cost, seen from either side.
pub trait Softmin: Sync {
    /// Number of points on `side`.
    fn len(&self, side: Side) -> usize;

    /// For each point i on `side`: lse_i = ln sum_j exp(w_j - C_ij / eps) over the other
    /// side's points j, and, if `weighted`, the mean cost sum_j C_ij exp(w_j - C_ij / eps
    /// - lse_i). `hint` is an estimate of lse (any non-finite value: none).
    fn lse(
        &self,
        side: Side,
        w: &[f64],
        eps: f64,
        hint: &[f64],
        weighted: bool,
        ctl: &Control,
    ) -> Result<(Vec<f64>, Vec<f64>)>;

    /// A bound on the fraction of any row's sum that the latest soft-min on either side
    /// left out (truncation): the marginals a solver measures from those lse may be low
    /// by that fraction of their mass. 0 for an operator that sums every term.
    fn skipped_fraction(&self) -> f64 {
        0.0
    }

    /// Both soft-mins of a Sinkhorn iteration, in one pass where the operator can: the
    /// unweighted `lse` on side X from `w` (hinted by `hint`), and the one on side Y from
    /// the X-side exponents that `next` makes of each row i's lse, `next(i, lse_i)`.
    /// The second is `None` where it was not computed (the caller then asks `lse` for it);
    /// where it is computed it equals that `lse` (bit for bit for the stored kernel; for
    /// the streamed costs, to round-off and, on point clouds, within the fraction of each
    /// sum that truncation may leave out, reported by `skipped_fraction` as for `lse`).
    /// By default, `None`.
    fn lse_then_next(
        &self,
        w: &[f64],
        eps: f64,
        hint: &[f64],
        next: &(dyn Fn(usize, f64) -> f64 + Sync),
        ctl: &Control,
    ) -> Result<(Vec<f64>, Option<Vec<f64>>)> {
        let _ = next;
        Ok((self.lse(Side::X, w, eps, hint, false, ctl)?.0, None))
    }
}

pub(crate) fn check_lse_args(
    rows: usize,
    cols: usize,
    w: &[f64],
    eps: f64,
    hint: &[f64],
) -> Result<()> {
    if w.len() != cols || hint.len() != rows {
        return invalid(format!(
            "soft-min over {rows} x {cols} got {} weights and {} hints",
            w.len(),
            hint.len()
        ));
    }
    if !(eps.is_finite() && eps > 0.0) {
        return invalid(format!("epsilon must be finite and > 0, got {eps}"));
    }
    if w.iter().any(|v| v.is_nan() || *v == f64::INFINITY) {
        return invalid("log-weights must be finite or -inf");
    }
    if w.iter().all(|v| *v == f64::NEG_INFINITY) {
        return invalid("every weight is zero");
    }
    Ok(())
}

/// Indices of `x`'s rows in a spatial order: recursive median splits along the widest
/// axis, with every left part a multiple of `LANES` points, so that consecutive blocks
/// of `LANES` are compact clusters. Deterministic (no dependence on threads).
fn spatial_order(x: ArrayView2<'_, f64>) -> Vec<usize> {
    fn split(x: &ArrayView2<'_, f64>, idx: &mut [usize]) {
        if idx.len() <= LANES {
            return;
        }
        let widest = (0..x.ncols())
            .map(|k| {
                let (lo, hi) = idx
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &i| {
                        (lo.min(x[[i, k]]), hi.max(x[[i, k]]))
                    });
                (hi - lo, k)
            })
            .fold(
                (f64::NEG_INFINITY, 0),
                |best, e| if e.0 > best.0 { e } else { best },
            )
            .1;
        let half = whole_blocks(idx.len() / 2);
        idx.select_nth_unstable_by(half, |&a, &b| x[[a, widest]].total_cmp(&x[[b, widest]]));
        let (left, right) = idx.split_at_mut(half);
        if left.len() > 4096 {
            rayon::join(|| split(x, left), || split(x, right));
        } else {
            split(x, left);
            split(x, right);
        }
    }
    let mut idx: Vec<usize> = (0..x.nrows()).collect();
    split(&x, &mut idx);
    idx
}

/// One side of a point-cloud problem in spatial order.
struct SortedSide {
    /// `order[k]` is the original index of sorted point k.
    order: Vec<usize>,
    /// Coordinates, row-major, in sorted order.
    rows: Vec<f64>,
    packed: PackedPoints,
    /// Per block of `LANES` sorted points: lo (d values) then hi (d values).
    boxes: Vec<f64>,
    tree: BlockTree,
}

impl SortedSide {
    fn new(x: ArrayView2<'_, f64>) -> SortedSide {
        let order = spatial_order(x);
        let sorted = x.select(ndarray::Axis(0), &order);
        let d = x.ncols();
        let mut boxes = Vec::with_capacity(2 * d * order.len().div_ceil(LANES));
        for block in sorted.axis_chunks_iter(ndarray::Axis(0), LANES) {
            for f in [f64::min, f64::max] {
                for k in 0..d {
                    boxes.push(block.column(k).iter().copied().reduce(f).unwrap());
                }
            }
        }
        SortedSide {
            packed: PackedPoints::pack(sorted.view(), None),
            rows: sorted.iter().copied().collect(),
            tree: BlockTree::new(order.len(), d, &boxes),
            order,
            boxes,
        }
    }

    /// The tree's nodes of at most `max_points` points (at least one block) that are not
    /// inside another such node: a partition of the side into compact clusters. Returns
    /// their weighted means (plain means for clusters of zero weight), total weights
    /// (`w` in original order, output in cluster order), each point's cluster
    /// (original order), and the weighted mean squared distance of the points to their
    /// cluster's mean.
    fn clusters(&self, w: &[f64], max_points: usize) -> (Array2<f64>, Vec<f64>, Vec<usize>, f64) {
        let (t, n) = (&self.tree, self.order.len());
        let d = self.rows.len() / n;
        let max_blocks = (max_points / LANES).max(1);
        let w = self.gather(w);
        let (mut means, mut weights) = (Vec::new(), Vec::new());
        let mut member = vec![0; n];
        let mut spread = Neumaier::new();
        let mut k = 0;
        while k < t.n_nodes() {
            if t.len[k] > max_blocks {
                k += 1;
                continue;
            }
            let range = t.first[k] * LANES..((t.first[k] + t.len[k]) * LANES).min(n);
            let total = neumaier_sum(w[range.clone()].iter().copied());
            let mut mean = vec![0.0; d];
            for i in range.clone() {
                let wi = if total > 0.0 {
                    w[i] / total
                } else {
                    1.0 / range.len() as f64
                };
                for (m, x) in mean.iter_mut().zip(&self.rows[i * d..(i + 1) * d]) {
                    *m += wi * x;
                }
                member[self.order[i]] = weights.len();
            }
            for i in range.clone() {
                let r2: f64 = (self.rows[i * d..(i + 1) * d].iter().zip(&mean))
                    .map(|(x, m)| (x - m) * (x - m))
                    .sum();
                spread.add(w[i] * r2);
            }
            means.extend(mean);
            weights.push(total);
            k = t.next[k];
        }
        let means = Array2::from_shape_vec((weights.len(), d), means).expect("k x d means");
        let spread = spread.value() / neumaier_sum(weights.iter().copied());
        (means, weights, member, spread)
    }

    fn gather(&self, v: &[f64]) -> Vec<f64> {
        self.order.iter().map(|&i| v[i]).collect()
    }

    fn scatter(&self, v: Vec<f64>) -> Vec<f64> {
        let mut out = vec![0.0; v.len()];
        for (&i, x) in self.order.iter().zip(v) {
            out[i] = x;
        }
        out
    }
}

/// |x_i - y_j|^p between two point clouds, computed on the fly (never stored), with
/// block truncation on spatially sorted points.
pub struct CloudCost {
    x: SortedSide,
    y: SortedSide,
    pub(crate) power: Power,
    /// The fraction of a row's sum that truncation may skip beyond round-off (0: none).
    skipped: f64,
    /// Per side (X, Y), the bound on the fraction skipped from any row's sum by the
    /// latest soft-min (f64 bits).
    last_skipped: [AtomicU64; 2],
}

impl CloudCost {
    /// The power p of the cost |x - y|^p.
    pub fn exponent(&self) -> f64 {
        match self.power {
            Power::One => 1.0,
            Power::Two => 2.0,
            Power::General(p) => p,
        }
    }

    pub fn new(x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>, p: f64) -> Result<CloudCost> {
        let power = Power::new(p)?;
        let d = x.ncols();
        if y.ncols() != d {
            return invalid(format!("x has {d} features but y has {}", y.ncols()));
        }
        if d == 0 || x.nrows() == 0 || y.nrows() == 0 {
            return invalid("x and y must hold at least one point of dimension >= 1");
        }
        if x.iter().chain(y.iter()).any(|v| !v.is_finite()) {
            return invalid("x and y must be finite");
        }
        Ok(CloudCost {
            x: SortedSide::new(x),
            y: SortedSide::new(y),
            power,
            skipped: 0.0,
            last_skipped: Default::default(),
        })
    }

    /// Lets truncation skip terms adding up to a fraction `skipped` of each soft-min
    /// row's sum (not just round-off): each lse is then low by at most ln(1 + skipped),
    /// each marginal of the coupling it implies by at most `skipped` of its mass. A
    /// solver that stops on an L1 marginal error `tol` can afford a small fraction of
    /// `tol` here ([`crate::sinkhorn::skip_allowance`]): at eps = 1e-3 in the unit cube
    /// it prunes pairs out to a radius about sqrt(eps ln(1 / skipped)) instead of
    /// sqrt(eps ln(1e12)). Capped at `MAX_SKIPPED`, where the radius has stopped
    /// shrinking.
    pub fn with_skipped_fraction(mut self, skipped: f64) -> Result<CloudCost> {
        if !(0.0..=1.0).contains(&skipped) {
            return invalid(format!(
                "the skipped fraction must be in [0, 1], got {skipped}"
            ));
        }
        self.skipped = skipped.min(MAX_SKIPPED);
        Ok(self)
    }
}

/// The largest fraction of a row's sum that `with_skipped_fraction` lets truncation skip:
/// ln(1 / 1e-4) is already small next to the margins' other terms (ln m + HEADROOM).
const MAX_SKIPPED: f64 = 1e-4;

/// One soft-min over a point cloud, run with the pair loop specialised for its power.
struct CloudPass<'a> {
    rows: &'a SortedSide,
    cols: &'a SortedSide,
    w: &'a [f64],
    hint: &'a [f64],
    inv_eps: f64,
    weighted: bool,
    trunc: Truncation<'a>,
    /// The next soft-min's exponents (`Softmin::lse_then_next`), rows in sorted order.
    next: Option<NextExponent<'a>>,
    ctl: &'a Control,
}

impl CloudPass<'_> {
    fn run<G: Ground>(&self, power: G) -> Result<(Pass, Option<NextSums>)> {
        let src = CloudBlocks {
            rows: &self.rows.rows,
            cols: &self.cols.packed,
            power,
        };
        let stripes = stripe_count(&src);
        match self.next {
            Some(next) if stripes > 0 && !self.weighted => run_stripes(
                &src,
                self.w,
                self.hint,
                self.inv_eps,
                Some(&self.trunc),
                next,
                stripes,
                self.ctl,
            ),
            _ => Ok((
                run_tiles(
                    &src,
                    self.w,
                    self.hint,
                    self.inv_eps,
                    self.weighted,
                    Some(&self.trunc),
                    self.ctl,
                )?,
                None,
            )),
        }
    }
}

impl CloudCost {
    /// lse of `rows`' points against `cols`' (w, hint in their original orders); with
    /// `next`, also the lse of `cols`' points against `rows`' with the exponents `next`
    /// makes of the first (`Softmin::lse_then_next`) where they could be taken from the
    /// same terms, and the bound on the fraction of their sums left out.
    #[allow(clippy::too_many_arguments)]
    fn lse_between(
        &self,
        rows: &SortedSide,
        cols: &SortedSide,
        w: &[f64],
        eps: f64,
        hint: &[f64],
        weighted: bool,
        next: Option<NextExponent<'_>>,
        ctl: &Control,
    ) -> Result<(Pass, Option<NextLse>)> {
        check_lse_args(rows.order.len(), cols.order.len(), w, eps, hint)?;
        let w = padded_weights(&cols.gather(w));
        let block_max_w: Vec<f64> = w
            .chunks_exact(LANES)
            .map(|b| b.iter().copied().fold(f64::NEG_INFINITY, f64::max))
            .collect();
        let node_max_w = cols.tree.node_maxima(&block_max_w);
        let hint = rows.gather(hint);
        let d = rows.rows.len() / rows.order.len();
        let skip = Truncation::skip_for(self.cost_scale(rows, cols), 1.0 / eps, self.skipped);
        let sorted_next = next.map(|next| move |r: usize, l: f64| next(rows.order[r], l));
        let pass = CloudPass {
            rows,
            cols,
            w: &w,
            hint: &hint,
            inv_eps: 1.0 / eps,
            weighted,
            trunc: Truncation {
                tree: &cols.tree,
                node_max_w: &node_max_w,
                block_max_w: &block_max_w,
                row_boxes: &rows.boxes,
                col_boxes: &cols.boxes,
                dim: d,
                skip,
            },
            next: sorted_next
                .as_ref()
                .map(|f| f as &(dyn Fn(usize, f64) -> f64 + Sync)),
            ctl,
        };
        let (out, next_sums) = match self.power {
            Power::Two => pass.run(Squared),
            Power::One => pass.run(Distance),
            Power::General(p) => pass.run(PowerOf(p)),
        }?;
        let next_lse = next_sums
            .and_then(|ns| ns.lse(&w, cols.order.len(), skip))
            .map(|(lse, worst)| (cols.scatter(lse), worst));
        let pass = Pass {
            lse: rows.scatter(out.lse),
            mean: if weighted {
                rows.scatter(out.mean)
            } else {
                out.mean
            },
            skipped: out.skipped,
            exact: out.exact,
        };
        Ok((pass, next_lse))
    }

    /// The squared diameter of the box around both sides' points.
    pub fn diameter2(&self) -> f64 {
        Self::box_diameter2(&self.x, &self.y)
    }

    fn box_diameter2(rows: &SortedSide, cols: &SortedSide) -> f64 {
        let d = rows.rows.len() / rows.order.len();
        let (a, b) = (&rows.tree.boxes[..2 * d], &cols.tree.boxes[..2 * d]);
        (0..d)
            .map(|k| (a[d + k].max(b[d + k]) - a[k].min(b[k])).powi(2))
            .sum()
    }

    /// The largest cost between the two sides' bounding boxes: the scale of the costs,
    /// and so of the potentials.
    fn cost_scale(&self, rows: &SortedSide, cols: &SortedSide) -> f64 {
        self.power.scalar::<false>(Self::box_diameter2(rows, cols))
    }

    /// The same transport problem between clusters of each side (see [`Coarse`]): the
    /// leaves of each side's spatial tree once split down to at most `cluster_points`
    /// points, each replaced by its weighted mean and carrying its total weight.
    pub fn coarsen(&self, a: &[f64], b: &[f64], cluster_points: usize) -> Result<Coarse> {
        if a.len() != self.x.order.len() || b.len() != self.y.order.len() {
            return invalid("coarsen: one weight per point is needed on each side");
        }
        let (cx, a, x_member, x_spread) = self.x.clusters(a, cluster_points);
        let (cy, b, y_member, y_spread) = self.y.clusters(b, cluster_points);
        Ok(Coarse {
            cost: CloudCost {
                x: SortedSide::new(cx.view()),
                y: SortedSide::new(cy.view()),
                power: self.power,
                skipped: self.skipped,
                last_skipped: Default::default(),
            },
            a,
            b,
            x_member,
            y_member,
            spread: x_spread.max(y_spread),
        })
    }

    /// lse for this problem's points on `side` against the points of the other side of
    /// `coarse` (w, hint and the result as in [`Softmin::lse`]): the potentials of a
    /// coarse solution carried over to the fine points.
    pub fn lse_against(
        &self,
        side: Side,
        coarse: &Coarse,
        w: &[f64],
        eps: f64,
        hint: &[f64],
        ctl: &Control,
    ) -> Result<Vec<f64>> {
        let (rows, cols) = match side {
            Side::X => (&self.x, &coarse.cost.y),
            Side::Y => (&self.y, &coarse.cost.x),
        };
        if coarse.cost.power != self.power
            || rows.rows.len() / rows.order.len() != cols.rows.len() / cols.order.len()
        {
            return invalid("lse_against: the coarse problem is not one of this problem's");
        }
        Ok(self
            .lse_between(rows, cols, w, eps, hint, false, None, ctl)?
            .0
            .lse)
    }
}

/// The next soft-min's lse from `CloudCost::lse_between`, and the bound on the fraction
/// of its sums that truncation left out.
type NextLse = (Vec<f64>, f64);

/// A transport problem between clusters of a point-cloud problem's two sides.
///
/// Moving each point to its cluster's mean moves the cost by at most about the cluster
/// diameter (times the cost's slope), so at epsilons well above diameter^p the coarse
/// problem's potentials are the fine ones' up to that: what annealing needs, at a
/// fraction of the pairs (the multiscale scheme of Schmitzer 2019 and GeomLoss).
pub struct Coarse {
    /// The cost between the clusters' means.
    pub cost: CloudCost,
    /// The clusters' total weights on each side.
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    /// Each fine point's cluster.
    x_member: Vec<usize>,
    y_member: Vec<usize>,
    /// The larger side's weighted mean squared distance of a point to its cluster's mean.
    pub spread: f64,
}

impl Coarse {
    /// Each fine point of `side` gets its cluster's value of `v`.
    pub fn spread(&self, side: Side, v: &[f64]) -> Vec<f64> {
        let member = match side {
            Side::X => &self.x_member,
            Side::Y => &self.y_member,
        };
        member.iter().map(|&c| v[c]).collect()
    }
}

impl Softmin for CloudCost {
    fn len(&self, side: Side) -> usize {
        match side {
            Side::X => self.x.order.len(),
            Side::Y => self.y.order.len(),
        }
    }

    fn lse(
        &self,
        side: Side,
        w: &[f64],
        eps: f64,
        hint: &[f64],
        weighted: bool,
        ctl: &Control,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        let (rows, cols) = match side {
            Side::X => (&self.x, &self.y),
            Side::Y => (&self.y, &self.x),
        };
        let out = self
            .lse_between(rows, cols, w, eps, hint, weighted, None, ctl)?
            .0;
        let k = usize::from(side == Side::Y);
        self.last_skipped[k].store(out.skipped.to_bits(), Ordering::Relaxed);
        Ok((out.lse, out.mean))
    }

    /// One pass over the pairs: each row's terms, once its sum is accepted, are also
    /// added to the Y side's column sums, times e^(u_i + s_i) (u_i = `next(i, lse_i)`,
    /// s_i the row's shift); the pair's Y-side term is that times e^-w_j. Rows that
    /// truncation pruned contribute nothing to a column beyond a bound, which must be
    /// within the fraction of a sum that a Y-side soft-min may leave out. None (the
    /// caller runs the Y side's own pass) where that fails for some column (far from
    /// convergence) or some row had to be summed exactly, and, without trying, where a
    /// column has no mass (w_j = -inf).
    fn lse_then_next(
        &self,
        w: &[f64],
        eps: f64,
        hint: &[f64],
        next: &(dyn Fn(usize, f64) -> f64 + Sync),
        ctl: &Control,
    ) -> Result<(Vec<f64>, Option<Vec<f64>>)> {
        // A column without mass gets no terms from the rows: its soft-min would fail the
        // check at every iteration, after the cost of keeping the terms.
        let next = (!w.contains(&f64::NEG_INFINITY)).then_some(next);
        let (out, next_lse) = self.lse_between(&self.x, &self.y, w, eps, hint, false, next, ctl)?;
        self.last_skipped[0].store(out.skipped.to_bits(), Ordering::Relaxed);
        Ok((
            out.lse,
            next_lse.map(|(lse, skipped)| {
                self.last_skipped[1].store(skipped.to_bits(), Ordering::Relaxed);
                lse
            }),
        ))
    }

    fn skipped_fraction(&self) -> f64 {
        let last = |k: usize| f64::from_bits(self.last_skipped[k].load(Ordering::Relaxed));
        last(0).max(last(1))
    }
}

/// A cost matrix C (n x m), kept with its transpose so that both soft-mins stream rows
/// (the transpose made on the first soft-min that needs it: a stored kernel over the
/// matrix rarely does).
pub struct MatrixCost {
    n: usize,
    m: usize,
    rows: Vec<f64>,
    cols: OnceLock<Vec<f64>>,
}

impl MatrixCost {
    pub fn new(c: ArrayView2<'_, f64>) -> Result<MatrixCost> {
        let (n, m) = c.dim();
        if n == 0 || m == 0 {
            return invalid("the cost matrix is empty");
        }
        if c.iter().any(|v| !v.is_finite()) {
            return invalid("the cost matrix must be finite");
        }
        let sm = whole_blocks(m);
        let mut rows = vec![0.0; n * sm];
        rows.par_chunks_mut(sm).enumerate().for_each(|(i, r)| {
            for (r, v) in r.iter_mut().zip(c.row(i)) {
                *r = *v;
            }
        });
        Ok(MatrixCost {
            n,
            m,
            rows,
            cols: OnceLock::new(),
        })
    }

    /// C transposed, rows padded to whole blocks.
    fn cols(&self) -> &[f64] {
        self.cols.get_or_init(|| {
            const COLS_PER_SWEEP: usize = 8;
            let (n, m) = (self.n, self.m);
            let (sm, sn) = (whole_blocks(m), whole_blocks(n));
            let mut cols = vec![0.0; m * sn];
            // A few output rows per sweep down the input: each input line read once.
            cols.par_chunks_mut(COLS_PER_SWEEP * sn)
                .enumerate()
                .for_each(|(t, out)| {
                    let j0 = t * COLS_PER_SWEEP;
                    for i in 0..n {
                        let line = &self.rows[i * sm + j0..];
                        for (k, o) in out.chunks_mut(sn).enumerate() {
                            o[i] = line[k];
                        }
                    }
                });
            cols
        })
    }

    /// Row i of C (m values).
    pub fn row(&self, i: usize) -> &[f64] {
        let stride = whole_blocks(self.m);
        &self.rows[i * stride..i * stride + self.m]
    }
}

impl Softmin for MatrixCost {
    fn len(&self, side: Side) -> usize {
        match side {
            Side::X => self.n,
            Side::Y => self.m,
        }
    }

    fn lse(
        &self,
        side: Side,
        w: &[f64],
        eps: f64,
        hint: &[f64],
        weighted: bool,
        ctl: &Control,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        let (rows, cols, data) = match side {
            Side::X => (self.n, self.m, self.rows.as_slice()),
            Side::Y => (self.m, self.n, self.cols()),
        };
        check_lse_args(rows, cols, w, eps, hint)?;
        let src = MatrixBlocks {
            data,
            stride: whole_blocks(cols),
        };
        let out = run_tiles(
            &src,
            &padded_weights(w),
            hint,
            1.0 / eps,
            weighted,
            None,
            ctl,
        )?;
        Ok((out.lse, out.mean))
    }

    /// One pass over the matrix, as `CloudCost::lse_then_next` without truncation: the
    /// column sums miss nothing, and the transpose is read (and made, on first use) only
    /// where the Y side needs its own pass: a column without mass, a row without a hint,
    /// a sum out of range, or the solver's relaxation factor changed after the pass.
    fn lse_then_next(
        &self,
        w: &[f64],
        eps: f64,
        hint: &[f64],
        next: &(dyn Fn(usize, f64) -> f64 + Sync),
        ctl: &Control,
    ) -> Result<(Vec<f64>, Option<Vec<f64>>)> {
        check_lse_args(self.n, self.m, w, eps, hint)?;
        let src = MatrixBlocks {
            data: &self.rows,
            stride: whole_blocks(self.m),
        };
        let stripes = stripe_count(&src);
        if stripes == 0 || w.contains(&f64::NEG_INFINITY) {
            return Ok((self.lse(Side::X, w, eps, hint, false, ctl)?.0, None));
        }
        let w = padded_weights(w);
        let (out, sums) = run_stripes(&src, &w, hint, 1.0 / eps, None, next, stripes, ctl)?;
        let next_lse = sums
            .and_then(|ns| ns.lse(&w, self.m, 0.0))
            .map(|(lse, _)| lse);
        Ok((out.lse, next_lse))
    }
}

/// ln sum_j exp(w_j - C_ij / eps) for a cost given row by row (tests and small problems).
pub fn lse_naive(c: ArrayView2<'_, f64>, w: ArrayView1<'_, f64>, eps: f64) -> Vec<f64> {
    c.rows()
        .into_iter()
        .map(|row| {
            let e: Vec<f64> = row.iter().zip(w).map(|(c, w)| w - c / eps).collect();
            let m = e.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            m + e.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{cost_matrix, random_points};
    use ndarray::Array2;

    #[test]
    fn cloud_and_matrix_match_naive_for_every_power_and_hint() {
        let ctl = Control::new();
        let x = random_points(70, 3, 1);
        let mut y = random_points(45, 3, 2);
        y.row_mut(3).assign(&x.row(5)); // a zero distance
        let w: Vec<f64> = random_points(45, 1, 3).iter().map(|v| v * 3.0).collect();
        for p in [1.0, 2.0, 1.5, 0.5] {
            let c = cost_matrix(&x, &y, p);
            for eps in [1.0, 1e-3] {
                let want = lse_naive(c.view(), ArrayView1::from(&w), eps);
                let cloud = CloudCost::new(x.view(), y.view(), p).unwrap();
                let mat = MatrixCost::new(c.view()).unwrap();
                // No hint, a good hint, and a hint far too low (forces the exact redo).
                let far: Vec<f64> = want.iter().map(|v| v - 2000.0).collect();
                let high: Vec<f64> = want.iter().map(|v| v + 30.0).collect();
                for hint in [vec![f64::NAN; 70], want.clone(), far, high] {
                    for op in [&cloud as &dyn Softmin, &mat] {
                        let (got, mean) = op.lse(Side::X, &w, eps, &hint, true, &ctl).unwrap();
                        for i in 0..70 {
                            let tol = 1e-12 * want[i].abs().max(1.0);
                            assert!((got[i] - want[i]).abs() <= tol, "p={p} eps={eps} {i}");
                            let pm: f64 = (0..45)
                                .map(|j| (w[j] - c[[i, j]] / eps - want[i]).exp() * c[[i, j]])
                                .sum();
                            assert!(
                                (mean[i] - pm).abs() <= 1e-11 * pm + 1e-290,
                                "p={p} eps={eps} {i}: {} vs {pm}",
                                mean[i]
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn block_tree_nodes_are_the_spatial_clusters() {
        let x = random_points(1000, 3, 7);
        let side = SortedSide::new(x.view());
        let (t, d) = (&side.tree, 3);
        let n_blocks = 1000usize.div_ceil(LANES);
        let leaves: Vec<usize> = (0..t.n_nodes())
            .filter(|&k| t.len[k] == 1)
            .map(|k| t.first[k])
            .collect();
        assert_eq!(leaves, (0..n_blocks).collect::<Vec<_>>());
        let values: Vec<f64> = (0..n_blocks).map(|b| ((b * 37) % 101) as f64).collect();
        let maxima = t.node_maxima(&values);
        for (k, &max) in maxima.iter().enumerate() {
            let blocks = t.first[k]..t.first[k] + t.len[k];
            let want = blocks.clone().map(|b| values[b]).fold(f64::MIN, f64::max);
            assert_eq!(max, want);
            let bx = &t.boxes[2 * d * k..2 * d * (k + 1)];
            for i in blocks.start * LANES..(blocks.end * LANES).min(1000) {
                for c in 0..d {
                    let v = side.rows[i * d + c];
                    assert!(bx[c] <= v && v <= bx[d + c], "node {k} point {i}");
                }
            }
            if t.len[k] > 1 {
                // Two children that split the node's blocks, the right one where the
                // left subtree ends.
                let (l, r) = (k + 1, t.next[k + 1]);
                assert_eq!(t.first[l], t.first[k]);
                assert_eq!(t.first[r], t.first[k] + t.len[l]);
                assert_eq!(t.len[l] + t.len[r], t.len[k]);
                assert_eq!(t.next[r], t.next[k]);
            }
        }
    }

    #[test]
    fn truncated_sums_match_naive_and_prune_only_negligible_blocks() {
        // In d = 1 the blocks are small against sqrt(eps), so the bounds are tight and a
        // block pruned a little too eagerly would show; d = 3 has the loose boxes.
        let ctl = Control::new();
        for (d, n, m) in [(1, 2000, 1500), (3, 700, 600)] {
            let x = random_points(n, d, 11);
            let y = random_points(m, d, 12);
            let w: Vec<f64> = random_points(m, 1, 13).iter().map(|v| v * 2.0).collect();
            for p in [2.0, 1.0] {
                let c = cost_matrix(&x, &y, p);
                let cloud = CloudCost::new(x.view(), y.view(), p).unwrap();
                for eps in [1e-2, 1e-3] {
                    let want = lse_naive(c.view(), ArrayView1::from(&w), eps);
                    // Mean costs, which the weighted pass truncates with its own margin.
                    let means: Vec<f64> = (0..n)
                        .map(|i| {
                            (0..m)
                                .map(|j| (w[j] - c[[i, j]] / eps - want[i]).exp() * c[[i, j]])
                                .sum()
                        })
                        .collect();
                    for offset in [0.0, 30.0, -30.0] {
                        let hint: Vec<f64> = want.iter().map(|v| v + offset).collect();
                        for weighted in [false, true] {
                            let (got, mean) =
                                cloud.lse(Side::X, &w, eps, &hint, weighted, &ctl).unwrap();
                            for i in 0..n {
                                let tol = 1e-12 * want[i].abs().max(1.0);
                                assert!((got[i] - want[i]).abs() <= tol, "d={d} p={p} eps={eps}");
                                if weighted {
                                    let err = (mean[i] - means[i]).abs();
                                    assert!(err <= 1e-11 * means[i], "d={d} p={p} eps={eps}");
                                }
                            }
                        }
                    }
                }
            }
            // At eps = 1e-3 (p = 2) pruning happens, and only to blocks whose every term
            // is below e^-margin of every row of the group.
            let eps = 1e-3;
            let c = cost_matrix(&x, &y, 2.0);
            let want = lse_naive(c.view(), ArrayView1::from(&w), eps);
            let cloud = CloudCost::new(x.view(), y.view(), 2.0).unwrap();
            let (rows, cols) = (&cloud.x, &cloud.y);
            let wp = padded_weights(&cols.gather(&w));
            let block_max_w: Vec<f64> = wp
                .chunks_exact(LANES)
                .map(|b| b.iter().copied().fold(f64::NEG_INFINITY, f64::max))
                .collect();
            let node_max_w = cols.tree.node_maxima(&block_max_w);
            let trunc = Truncation {
                tree: &cols.tree,
                node_max_w: &node_max_w,
                block_max_w: &block_max_w,
                row_boxes: &rows.boxes,
                col_boxes: &cols.boxes,
                dim: d,
                skip: Truncation::skip_for(cloud.cost_scale(rows, cols), 1.0 / eps, 0.0),
            };
            let group_margin = trunc.group_margin();
            let src = CloudBlocks {
                rows: &rows.rows,
                cols: &cols.packed,
                power: Squared,
            };
            let sorted_want = rows.gather(&want);
            let (mut pruned, mut row_pruned, mut closest) = (0, 0, f64::NEG_INFINITY);
            // The largest exponent of a block's terms for row r, above a cut `margin`
            // below the row's shift.
            let above_cut = |r: usize, b: usize, margin: f64| {
                let costs = src.costs::<false>(r, b);
                (0..LANES)
                    .map(|j| wp[b * LANES + j] - costs[j] / eps - sorted_want[r] + margin)
                    .fold(f64::NEG_INFINITY, f64::max)
            };
            for g in 0..n.div_ceil(LANES) {
                let group = g * LANES..((g + 1) * LANES).min(n);
                let s_min = sorted_want[group.clone()]
                    .iter()
                    .copied()
                    .fold(f64::INFINITY, f64::min);
                let row_box = &rows.boxes[2 * d * g..2 * d * (g + 1)];
                let kept =
                    trunc.surviving_blocks(&src, row_box, s_min, 1.0 / eps, group_margin, None);
                let row_margin = trunc.row_margin(kept.len());
                let rows: Vec<usize> = group.clone().collect();
                let mut shifts = [f64::INFINITY; LANES];
                shifts[..rows.len()].copy_from_slice(&sorted_want[group.clone()]);
                let by_axis = src.rows_by_axis(&rows);
                for b in 0..cols.packed.n_blocks() {
                    if !kept.contains(&b) {
                        pruned += 1;
                        for r in group.clone() {
                            closest = closest.max(above_cut(r, b, group_margin));
                        }
                        continue;
                    }
                    // Then each row drops the kept blocks that its own test rules out.
                    let mask = trunc.keep_mask::<_, false>(
                        &src,
                        &by_axis,
                        &shifts,
                        b,
                        1.0 / eps,
                        row_margin,
                    );
                    for (k, r) in group.clone().enumerate() {
                        if mask >> k & 1 == 0 {
                            row_pruned += 1;
                            closest = closest.max(above_cut(r, b, row_margin));
                        }
                    }
                }
            }
            assert!(pruned > 0 && row_pruned > 0, "d={d}: {pruned} {row_pruned}");
            assert!(
                closest < 0.0,
                "d={d}: a pruned term is e^{closest} above the cut"
            );
        }
    }

    /// A sorted side's points back in their original order.
    fn original_points(side: &SortedSide) -> Array2<f64> {
        let d = side.rows.len() / side.order.len();
        let mut out = Array2::zeros((side.order.len(), d));
        for (k, &i) in side.order.iter().enumerate() {
            for t in 0..d {
                out[[i, t]] = side.rows[k * d + t];
            }
        }
        out
    }

    #[test]
    fn coarsening_partitions_each_side_into_weighted_clusters() {
        let x = random_points(1000, 3, 21);
        let y = random_points(333, 3, 22);
        let a: Vec<f64> = random_points(1000, 1, 23).iter().map(|v| v + 2.0).collect();
        let mut b: Vec<f64> = random_points(333, 1, 24).iter().map(|v| v + 2.0).collect();
        b[..40].iter_mut().for_each(|v| *v = 0.0); // clusters of zero weight may occur
        let cloud = CloudCost::new(x.view(), y.view(), 2.0).unwrap();
        for cluster_points in [1, 16, 50, 5000] {
            let coarse = cloud.coarsen(&a, &b, cluster_points).unwrap();
            for (pts, w, cw, side, coarse_side) in [
                (&x, &a, &coarse.a, Side::X, &coarse.cost.x),
                (&y, &b, &coarse.b, Side::Y, &coarse.cost.y),
            ] {
                let k = cw.len();
                let ids: Vec<f64> = (0..k).map(|c| c as f64).collect();
                let member = coarse.spread(side, &ids);
                let (mut total, mut count) = (vec![0.0; k], vec![0usize; k]);
                let mut sum = Array2::<f64>::zeros((k, 3));
                for (i, &c) in member.iter().enumerate() {
                    let c = c as usize;
                    total[c] += w[i];
                    count[c] += 1;
                    for t in 0..3 {
                        sum[[c, t]] += w[i] * pts[[i, t]];
                    }
                }
                // Each cluster: at most cluster_points members (one block at least), its
                // members' total weight, and their weighted mean.
                let means = original_points(coarse_side);
                for c in 0..k {
                    assert!(count[c] >= 1 && count[c] <= cluster_points.max(LANES));
                    assert!((total[c] - cw[c]).abs() <= 1e-12 * total[c].max(1.0));
                    for t in (0..3).filter(|_| total[c] > 0.0) {
                        assert!((means[[c, t]] - sum[[c, t]] / total[c]).abs() <= 1e-12);
                    }
                }
                assert_eq!(k == 1, cluster_points >= pts.nrows());
            }
        }
    }

    #[test]
    fn soft_min_against_a_coarse_side_matches_naive() {
        let ctl = Control::new();
        let x = random_points(500, 2, 31);
        let y = random_points(400, 2, 32);
        let (a, b) = (vec![1.0 / 500.0; 500], vec![1.0 / 400.0; 400]);
        for p in [2.0, 1.0] {
            let cloud = CloudCost::new(x.view(), y.view(), p).unwrap();
            let coarse = cloud.coarsen(&a, &b, 32).unwrap();
            for (side, rows, cols) in [(Side::X, &x, &coarse.cost.y), (Side::Y, &y, &coarse.cost.x)]
            {
                let pts = original_points(cols);
                let w: Vec<f64> = (0..pts.nrows()).map(|c| (c % 7) as f64 * 0.3).collect();
                let eps = 0.01;
                let c = cost_matrix(rows, &pts, p);
                let want = lse_naive(c.view(), ArrayView1::from(&w), eps);
                for hint in [vec![f64::NAN; rows.nrows()], want.clone()] {
                    let got = cloud
                        .lse_against(side, &coarse, &w, eps, &hint, &ctl)
                        .unwrap();
                    for i in 0..rows.nrows() {
                        assert!((got[i] - want[i]).abs() <= 1e-12 * want[i].abs().max(1.0));
                    }
                }
            }
            // A coarse problem of another cost is refused.
            let other = CloudCost::new(x.view(), y.view(), 3.0).unwrap();
            let w = vec![0.0; coarse.b.len()];
            let hint = vec![f64::NAN; 500];
            assert!(other
                .lse_against(Side::X, &coarse, &w, 0.1, &hint, &ctl)
                .is_err());
        }
    }

    #[test]
    fn column_side_uses_the_transpose() {
        let ctl = Control::new();
        let x = random_points(20, 2, 4);
        let y = random_points(33, 2, 5);
        let c = cost_matrix(&x, &y, 2.0);
        let w = vec![0.0; 20];
        let want = lse_naive(c.t(), ArrayView1::from(&w), 0.1);
        let cloud = CloudCost::new(x.view(), y.view(), 2.0).unwrap();
        let mat = MatrixCost::new(c.view()).unwrap();
        for op in [&cloud as &dyn Softmin, &mat] {
            let (got, _) = op
                .lse(Side::Y, &w, 0.1, &[f64::NAN; 33], false, &ctl)
                .unwrap();
            for j in 0..33 {
                assert!((got[j] - want[j]).abs() <= 1e-12 * want[j].abs().max(1.0));
            }
        }
    }

    /// `f` run in a pool of `threads` threads.
    fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(f)
    }

    /// A truncated sum misses at most `frac` of itself: its lse is low by at most
    /// ln(1 + frac), up to round-off.
    fn assert_low_by_at_most(want: &[f64], got: &[f64], frac: f64, what: &str) {
        for (i, (w, g)) in want.iter().zip(got).enumerate() {
            let low = w - g;
            let round = 1e-13 * w.abs().max(1.0);
            assert!(
                low >= -round && low <= frac.ln_1p() + round,
                "{what} {i}: low by {low}, bound {frac}"
            );
        }
    }

    #[test]
    fn a_skipped_fraction_bounds_each_row_and_is_reported() {
        // Kernel radius about sqrt(eps ln(1 / skip)) = 0.4-0.8 in [-2, 2)^3: most blocks
        // are pruned, so a larger allowance has terms to leave out.
        let ctl = Control::new();
        let (n, m, eps) = (3000, 2500, 0.02);
        let x = random_points(n, 3, 21);
        let y = random_points(m, 3, 22);
        let w: Vec<f64> = random_points(m, 1, 23).iter().map(|v| 0.5 * v).collect();
        let want = lse_naive(cost_matrix(&x, &y, 2.0).view(), ArrayView1::from(&w), eps);
        let mut reported = Vec::new();
        for skip in [0.0, 1e-8, 1e-4] {
            let op = CloudCost::new(x.view(), y.view(), 2.0)
                .unwrap()
                .with_skipped_fraction(skip)
                .unwrap();
            let (got, _) = op.lse(Side::X, &w, eps, &want, false, &ctl).unwrap();
            let frac = op.skipped_fraction();
            assert!(frac <= skip.max(1e-12), "skip={skip}: {frac}");
            assert_low_by_at_most(&want, &got, frac, &format!("skip={skip}"));
            reported.push(frac);
        }
        // The allowance is used: the bound on what was skipped grew with it.
        assert!(reported[2] > 1e3 * reported[0], "{reported:?}");
        assert_eq!(
            MatrixCost::new(cost_matrix(&x, &y, 2.0).view())
                .unwrap()
                .skipped_fraction(),
            0.0
        );
        for bad in [-1e-3, 1.5, f64::NAN] {
            assert!(CloudCost::new(x.view(), y.view(), 2.0)
                .unwrap()
                .with_skipped_fraction(bad)
                .is_err());
        }
    }

    #[test]
    fn one_pass_gives_the_next_soft_min_within_its_reported_bound() {
        // As `a_skipped_fraction_bounds_each_row_and_is_reported`, for the Y side's soft-min
        // taken from the X side's terms, on the exponents of a few Sinkhorn iterations
        // (uniform weights): w_j = ln b_j + g_j / eps, next(i, lse_i) = ln a_i - lse_i.
        let ctl = Control::new();
        let (n, m, eps) = (3000, 2500, 0.02);
        let x = random_points(n, 3, 41);
        let y = random_points(m, 3, 42);
        let c = cost_matrix(&x, &y, 2.0);
        let (la, lb) = (-(n as f64).ln(), -(m as f64).ln());
        let mut w = vec![lb; m];
        for _ in 0..4 {
            let lse_x = lse_naive(c.view(), ArrayView1::from(&w), eps);
            let u: Vec<f64> = lse_x.iter().map(|l| la - l).collect();
            let lse_y = lse_naive(c.t(), ArrayView1::from(&u), eps);
            w = lse_y.iter().map(|l| lb - l).collect();
        }
        let want_x = lse_naive(c.view(), ArrayView1::from(&w), eps);
        let next = |_: usize, l: f64| la - l;
        let mut reported = Vec::new();
        for skip in [0.0, 1e-8, 1e-4] {
            let op = CloudCost::new(x.view(), y.view(), 2.0)
                .unwrap()
                .with_skipped_fraction(skip)
                .unwrap();
            let run = |threads| {
                on_threads(threads, || {
                    op.lse_then_next(&w, eps, &want_x, &next, &ctl).unwrap()
                })
            };
            let (got_x, got_y) = run(2);
            let got_y = got_y.expect("every column's sum is within its bound");
            // The same numbers on one thread (fixed stripes, added in a fixed order).
            let (one_x, one_y) = run(1);
            assert_eq!(one_x, got_x);
            assert_eq!(one_y.unwrap(), got_y);
            let frac_x = f64::from_bits(op.last_skipped[0].load(Ordering::Relaxed));
            let frac_y = f64::from_bits(op.last_skipped[1].load(Ordering::Relaxed));
            assert!(frac_y <= skip.max(1e-12), "skip={skip}: {frac_y}");
            // Against the exact soft-min of the exponents `next` made of the X side's lse:
            // low by at most what the Y side reports it left out.
            let exps: Vec<f64> = (0..n).map(|i| next(i, got_x[i])).collect();
            let want_y = lse_naive(c.t(), ArrayView1::from(&exps), eps);
            assert_low_by_at_most(&want_y, &got_y, frac_y, &format!("Y, skip={skip}"));
            // And the X side as `lse` gives it.
            assert_low_by_at_most(&want_x, &got_x, frac_x, &format!("X, skip={skip}"));
            reported.push(frac_y);
        }
        // Truncation left terms out of the columns' sums, more with a larger allowance.
        assert!(reported[2] > 1e3 * reported[0], "{reported:?}");

        // A cost matrix: nothing truncated, so the Y side's lse is the exact one up to
        // round-off; the same bits on one thread.
        let mat = MatrixCost::new(c.view()).unwrap();
        let run = |threads| {
            on_threads(threads, || {
                mat.lse_then_next(&w, eps, &want_x, &next, &ctl).unwrap()
            })
        };
        let (got_x, got_y) = run(2);
        let got_y = got_y.expect("a matrix's column sums miss nothing");
        assert_eq!(run(1), (got_x.clone(), Some(got_y.clone())));
        let exps: Vec<f64> = (0..n).map(|i| next(i, got_x[i])).collect();
        let want_y = lse_naive(c.t(), ArrayView1::from(&exps), eps);
        assert_low_by_at_most(&want_y, &got_y, 0.0, "matrix, Y");
        assert_low_by_at_most(&want_x, &got_x, 0.0, "matrix, X");
        assert!(mat.cols.get().is_none(), "the transpose was made");

        // A column without mass (w = -inf) has no terms to take: the Y side is left to
        // its own pass.
        let op = CloudCost::new(x.view(), y.view(), 2.0).unwrap();
        let mut w0 = w.clone();
        w0[7] = f64::NEG_INFINITY;
        let want0 = lse_naive(c.view(), ArrayView1::from(&w0), eps);
        let (got_x, got_y) = op.lse_then_next(&w0, eps, &want0, &next, &ctl).unwrap();
        assert!(got_y.is_none());
        for i in 0..n {
            assert!((got_x[i] - want0[i]).abs() <= 1e-12 * want0[i].abs().max(1.0));
        }
    }

    #[test]
    fn missing_or_far_hints_are_summed_truncated_all_the_same() {
        // No hint, or one far off the row's lse either way: the row is summed again,
        // truncated, shifted by a lower bound of its lse; none needs every column.
        let ctl = Control::new();
        let (n, m, eps) = (1500, 1200, 1e-3);
        let x = random_points(n, 3, 31);
        let y = random_points(m, 3, 32);
        let w: Vec<f64> = random_points(m, 1, 33).iter().map(|v| 2.0 * v).collect();
        let want = lse_naive(cost_matrix(&x, &y, 2.0).view(), ArrayView1::from(&w), eps);
        let op = CloudCost::new(x.view(), y.view(), 2.0).unwrap();
        for offset in [f64::NAN, 6.0, 30.0, -30.0, 2000.0, -2000.0] {
            // Half the rows off by `offset`, the others hinted well.
            let hint: Vec<f64> = (0..n)
                .map(|i| want[i] + if i % 2 == 0 { offset } else { 0.0 })
                .collect();
            for weighted in [false, true] {
                let (out, _) = op
                    .lse_between(&op.x, &op.y, &w, eps, &hint, weighted, None, &ctl)
                    .unwrap();
                assert_eq!(out.exact, 0, "offset {offset}");
                for (i, (got, want)) in out.lse.iter().zip(&want).enumerate() {
                    let tol = 1e-12 * want.abs().max(1.0);
                    assert!((got - want).abs() <= tol, "offset {offset}: {i}");
                }
            }
        }
        // Without truncation (a cost matrix), a row without a hint is summed exactly.
        let mat = MatrixCost::new(cost_matrix(&x, &y, 2.0).view()).unwrap();
        let (got, _) = mat
            .lse(Side::X, &w, eps, &vec![f64::NAN; n], false, &ctl)
            .unwrap();
        for i in 0..n {
            assert!((got[i] - want[i]).abs() <= 1e-12 * want[i].abs().max(1.0));
        }
    }

    #[test]
    fn bad_arguments_are_errors() {
        let ctl = Control::new();
        let x = random_points(5, 2, 1);
        assert!(CloudCost::new(x.view(), random_points(5, 3, 1).view(), 2.0).is_err());
        assert!(CloudCost::new(x.view(), x.view(), 0.0).is_err());
        let cloud = CloudCost::new(x.view(), x.view(), 2.0).unwrap();
        let none = [f64::NAN; 5];
        assert!(cloud
            .lse(Side::X, &[0.0; 4], 1.0, &none, false, &ctl)
            .is_err());
        assert!(cloud
            .lse(Side::X, &[0.0; 5], 0.0, &none, false, &ctl)
            .is_err());
        let zero = [f64::NEG_INFINITY; 5];
        assert!(cloud.lse(Side::X, &zero, 1.0, &none, false, &ctl).is_err());
        let mut c = Array2::<f64>::zeros((3, 3));
        c[[1, 1]] = f64::NAN;
        assert!(MatrixCost::new(c.view()).is_err());
    }
}
