use std::ops::Range;

use crate::arith::exp::fma;
use crate::pairwise::LANES;

use super::cost::CostBlocks;
use super::whole_blocks;

/// The binary tree of the median splits that made a side's spatial order, over its
/// blocks of `LANES` points: the clusters of every scale, for pruning whole subtrees.
/// Nodes are in preorder; a leaf is one block.
pub(super) struct BlockTree {
    /// First block of each node's range (the range ends where the next subtree starts).
    pub(super) first: Vec<usize>,
    /// Number of blocks in each node.
    pub(super) len: Vec<usize>,
    /// Preorder index just past each node's subtree.
    pub(super) next: Vec<usize>,
    /// Each node's bounding box: lo (d values) then hi (d values).
    pub(super) boxes: Vec<f64>,
}

impl BlockTree {
    /// The tree of [`spatial_order`]'s splits for `n` points, from the blocks' boxes.
    pub(super) fn new(n: usize, d: usize, block_boxes: &[f64]) -> BlockTree {
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

    pub(super) fn n_nodes(&self) -> usize {
        self.first.len()
    }

    /// Per block: the sum of `node_values` over the nodes that contain it (its leaf and
    /// the leaf's ancestors).
    pub(super) fn per_block_sums(&self, node_values: &[f64]) -> Vec<f64> {
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
    pub(super) fn node_maxima(&self, block_values: &[f64]) -> Vec<f64> {
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
pub(super) struct Truncation<'a> {
    pub(super) tree: &'a BlockTree,
    pub(super) node_max_w: &'a [f64],
    pub(super) block_max_w: &'a [f64],
    pub(super) row_boxes: &'a [f64],
    pub(super) col_boxes: &'a [f64],
    pub(super) dim: usize,
    /// The fraction of a row's sum that its skipped terms may add up to (`skip_for`).
    pub(super) skip: f64,
}

/// e^-HEADROOM: how far below `skip` each of the two skipped parts' bounds is set, so that
/// a row's sum may fall to 2 e^-HEADROOM (about 0.04) of its shift's exp, as when the
/// hint overestimates its lse, before the row has to be redone.
pub(super) const HEADROOM: f64 = 4.0;

impl Truncation<'_> {
    /// A row may skip a fraction `skip` of its sum: eps * skip is the most that its
    /// potential (-eps lse) moves, which below 1e-16 of the cost scale `c_max` (the
    /// potentials and the transport cost carry rounding errors of that order anyway) is
    /// round-off (at most 1e-12, at least 1e-16); or the caller's `allowance`, if larger
    /// ([`CloudCost::with_skipped_fraction`]).
    pub(super) fn skip_for(c_max: f64, inv_eps: f64, allowance: f64) -> f64 {
        (1e-16 * c_max * inv_eps).clamp(1e-16, 1e-12).max(allowance)
    }

    /// The margin below a group's smallest shift under which a whole subtree of columns
    /// is skipped: its terms, at most m of them, then add up to e^-HEADROOM skip.
    pub(super) fn group_margin(&self) -> f64 {
        ((self.block_max_w.len() * LANES) as f64).ln() - self.skip.ln() + HEADROOM
    }

    /// The margin below a row's shift under which one of the `n_surviving` blocks that
    /// survived its group's test is dropped by the row: those add up to e^-HEADROOM skip.
    pub(super) fn row_margin(&self, n_surviving: usize) -> f64 {
        ((n_surviving.max(1) * LANES) as f64).ln() - self.skip.ln() + HEADROOM
    }

    /// The column blocks that can matter to a block of rows with row boxes `row_box` and
    /// smallest shift `s_min`: a subtree is pruned when even its largest weight at its
    /// smallest cost to the row box is e^-margin below every row's shift.
    /// With `pruned`, each pruned subtree is recorded with that bound on its terms'
    /// exponents (node, max w - lb / eps - s_min).
    pub(super) fn surviving_blocks<S: CostBlocks>(
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
    pub(super) fn probe_shift<S: CostBlocks, const FMA: bool>(
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
    pub(super) fn keep_mask<S: CostBlocks, const FMA: bool>(
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
