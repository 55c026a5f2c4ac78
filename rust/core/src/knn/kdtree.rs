//! Exact k-nearest-neighbour search and radius counting on a k-d tree.
//!
//! Why it is built the way it is:
//! - Splits are at the median of the widest side of the node's tight bounding box, so
//!   the tree's shape depends on n alone. Every node's preorder slot is known before the
//!   points are partitioned, and the two halves are built in parallel into disjoint
//!   slices, deterministically.
//! - Leaves hold at most `LEAF` points, stored coordinate-major and padded to a
//!   multiple of `LANES`, so a leaf scan is a fixed-width loop that vectorises for the
//!   CPU's instruction set (see [`crate::arith::simd`]).
//! - Squared Euclidean distances are summed coordinate by coordinate in index order,
//!   without fused multiply-add: they equal the naive `sum_j (x_j - y_j)^2` bit for bit.
//!   Box bounds use the same arithmetic and rounding is monotone, so a bound never
//!   exceeds the distance of a point inside the box and pruning is exact.
//! - Ties are broken by the original index: the k nearest neighbours are the k smallest
//!   (distance, index) pairs, as a stable sort of the distances would give.
//! - k-NN queries are the points of the leaves of a query tree, searched a leaf at a
//!   time (one traversal per leaf, see [`KdTree::knn`]); radius counts run one query at
//!   a time in a spatially coherent order. Either way neighbouring queries hit the same
//!   leaves in cache, and every query is independent, so results do not depend on the
//!   thread count.

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::arith::simd::{dispatch, Isa, IsaJob};
use crate::control::Control;
use crate::error::{invalid, Result};
use crate::knn::distance::{
    accumulate, check_radii, finish, fmax, fmin, offer, offer_distance, within,
};
use crate::knn::sorted_counts::count_within_1d;

/// Distance between points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// sqrt(sum_j (x_j - y_j)^2)
    Euclidean,
    /// max_j |x_j - y_j| (the max-norm of the KSG estimators)
    Chebyshev,
}

impl Metric {
    pub fn from_name(name: &str) -> Result<Metric> {
        match name {
            "euclidean" => Ok(Metric::Euclidean),
            "chebyshev" => Ok(Metric::Chebyshev),
            other => invalid(format!(
                "unknown metric {other:?}; expected 'euclidean' or 'chebyshev'"
            )),
        }
    }
}

/// Most points in a leaf. Median splits leave between LEAF/2 and LEAF.
const LEAF: usize = 32;
/// Width of the leaf-scan loop; leaves are padded to a multiple of it.
const LANES: usize = 8;
/// Subtrees with more points than this are built in parallel.
const PAR_BUILD: usize = 1 << 15;
/// Queries per parallel task.
const QUERY_CHUNK: usize = 256;

#[derive(Debug, Clone, Copy, Default)]
struct Node {
    /// Tree positions [start, end) of the node's points.
    start: usize,
    end: usize,
    /// Preorder slot of the right child; 0 for a leaf. The left child is the next slot.
    right: usize,
    /// Offset of a leaf's coordinate block in `coords`.
    off: usize,
}

/// A k-d tree over n points in d dimensions.
#[derive(Debug, Clone)]
pub struct KdTree {
    n: usize,
    d: usize,
    nodes: Vec<Node>,
    /// Per node, the box's lower corner then its upper corner (2d values).
    bounds: Vec<f64>,
    /// Leaf blocks: coordinate j of the leaf's l-th point at `off + j * padded + l`,
    /// padding filled with +inf.
    coords: Vec<f64>,
    /// Original index of the point at each tree position.
    index: Vec<u32>,
}

fn subtree_nodes(len: usize) -> usize {
    if len <= LEAF {
        1
    } else {
        1 + subtree_nodes(len / 2) + subtree_nodes(len - len / 2)
    }
}

fn padded(len: usize) -> usize {
    len.div_ceil(LANES) * LANES
}

/// Builds the subtree of the points `rows` (row-major, their original indices in
/// `perm`, tree positions `start..`) into `nodes[0]` (preorder slot `slot`) and its
/// descendants, leaving `rows` and `perm` in tree order. Rows move with their keys, so
/// every pass over a node's points reads contiguous memory.
#[allow(clippy::too_many_arguments)]
fn build_rec(
    nodes: &mut [Node],
    bounds: &mut [f64],
    rows: &mut [f64],
    perm: &mut [u32],
    slot: usize,
    start: usize,
    d: usize,
) {
    let len = perm.len();
    let (mine, rest_bounds) = bounds.split_at_mut(2 * d);
    let (lo, hi) = mine.split_at_mut(d);
    lo.fill(f64::INFINITY);
    hi.fill(f64::NEG_INFINITY);
    for row in rows.chunks_exact(d) {
        for j in 0..d {
            lo[j] = fmin(lo[j], row[j]);
            hi[j] = fmax(hi[j], row[j]);
        }
    }
    if len <= LEAF {
        nodes[0] = Node {
            start,
            end: start + len,
            right: 0,
            off: 0,
        };
        return;
    }
    let mut dim = 0;
    for j in 1..d {
        if hi[j] - lo[j] > hi[dim] - lo[dim] {
            dim = j;
        }
    }
    let mid = len / 2;
    let mut keys: Vec<(f64, u32)> = rows
        .chunks_exact(d)
        .enumerate()
        .map(|(l, row)| (row[dim], l as u32))
        .collect();
    keys.select_nth_unstable_by(mid, |a, b| a.0.total_cmp(&b.0));
    let mut moved = vec![0.0; len * d];
    for (dst, &(_, l)) in moved.chunks_exact_mut(d).zip(&keys) {
        let src = &rows[l as usize * d..(l as usize + 1) * d];
        #[allow(clippy::manual_memcpy)] // a memcpy call per row costs more than the copy
        for j in 0..d {
            dst[j] = src[j];
        }
    }
    rows.copy_from_slice(&moved);
    drop(moved);
    let moved: Vec<u32> = keys.iter().map(|&(_, l)| perm[l as usize]).collect();
    perm.copy_from_slice(&moved);
    drop(keys);

    let left_nodes = subtree_nodes(mid);
    nodes[0] = Node {
        start,
        end: start + len,
        right: slot + 1 + left_nodes,
        off: 0,
    };
    let (ln, rn) = nodes[1..].split_at_mut(left_nodes);
    let (lb, rb) = rest_bounds.split_at_mut(2 * d * left_nodes);
    let (lr, rr) = rows.split_at_mut(mid * d);
    let (lp, rp) = perm.split_at_mut(mid);
    let mut left = move || build_rec(ln, lb, lr, lp, slot + 1, start, d);
    let mut right = move || build_rec(rn, rb, rr, rp, slot + 1 + left_nodes, start + mid, d);
    if len > PAR_BUILD {
        rayon::join(left, right);
    } else {
        left();
        right();
    }
}

impl KdTree {
    /// Build the tree in O(n log n) time and O(n d) memory.
    pub fn new(points: ArrayView2<'_, f64>) -> Result<KdTree> {
        let (n, d) = points.dim();
        if n == 0 || d == 0 {
            return invalid(format!(
                "need at least one point of dimension >= 1, got shape ({n}, {d})"
            ));
        }
        if n >= u32::MAX as usize {
            return invalid(format!(
                "at most {} points are supported, got {n}",
                u32::MAX - 1
            ));
        }
        if points.iter().any(|v| !v.is_finite()) {
            return invalid("points contain NaN or infinity");
        }
        let mut rows: Vec<f64> = points.iter().copied().collect();
        let mut perm: Vec<u32> = (0..n as u32).collect();
        let count = subtree_nodes(n);
        let mut nodes = vec![Node::default(); count];
        let mut bounds = vec![0.0; count * 2 * d];
        build_rec(&mut nodes, &mut bounds, &mut rows, &mut perm, 0, 0, d);

        let mut off = 0;
        for node in nodes.iter_mut().filter(|nd| nd.right == 0) {
            node.off = off;
            off += padded(node.end - node.start) * d;
        }
        let mut coords = vec![f64::INFINITY; off];
        for node in nodes.iter().filter(|nd| nd.right == 0) {
            let width = padded(node.end - node.start);
            for (l, row) in rows[node.start * d..node.end * d]
                .chunks_exact(d)
                .enumerate()
            {
                for j in 0..d {
                    coords[node.off + j * width + l] = row[j];
                }
            }
        }
        Ok(KdTree {
            n,
            d,
            nodes,
            bounds,
            coords,
            index: perm,
        })
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn dim(&self) -> usize {
        self.d
    }

    /// Original indices in tree order: a spatially coherent order in which to run
    /// queries that lie near these points.
    pub fn order(&self) -> &[u32] {
        &self.index
    }

    /// The dimension: the constant `D` in the specialised copies, else the tree's.
    #[inline(always)]
    fn d_of<const D: usize>(&self) -> usize {
        if D > 0 {
            D
        } else {
            self.d
        }
    }

    /// The lower and upper corners of node's box.
    #[inline(always)]
    fn node_box<const D: usize>(&self, node: usize) -> (&[f64], &[f64]) {
        let d = self.d_of::<D>();
        self.bounds[node * 2 * d..(node + 1) * 2 * d].split_at(d)
    }

    /// Upper bound of the distance (squared for Euclidean) from q to node's box.
    #[inline(always)]
    fn box_far<const CHEB: bool, const D: usize>(&self, node: usize, q: &[f64]) -> f64 {
        let (lo, hi) = self.node_box::<D>(node);
        let mut acc = 0.0f64;
        for j in 0..self.d_of::<D>() {
            acc = accumulate::<CHEB>(acc, fmax((q[j] - lo[j]).abs(), (hi[j] - q[j]).abs()));
        }
        acc
    }

    /// Distances (squared for Euclidean) from q to the `LANES` points of chunk `c` of
    /// a leaf; padding lanes get +inf.
    #[inline(always)]
    fn lane_dists<const CHEB: bool, const D: usize>(
        &self,
        node: &Node,
        c: usize,
        q: &[f64],
    ) -> [f64; LANES] {
        let width = padded(node.end - node.start);
        let mut acc = [0.0f64; LANES];
        for (j, &qj) in q[..self.d_of::<D>()].iter().enumerate() {
            let at = node.off + j * width + c * LANES;
            let col: &[f64; LANES] = self.coords[at..at + LANES].try_into().unwrap();
            for l in 0..LANES {
                acc[l] = accumulate::<CHEB>(acc[l], (col[l] - qj).abs());
            }
        }
        acc
    }

    /// Lower bound of the distance (squared for Euclidean) between node's box and the
    /// box [qlo, qhi] (a point q when both are q): per dimension the gap between the
    /// boxes, accumulated like a point distance, so it never exceeds the distance of
    /// two points inside them.
    #[inline(always)]
    fn box_box<const CHEB: bool, const D: usize>(
        &self,
        node: usize,
        qlo: &[f64],
        qhi: &[f64],
    ) -> f64 {
        let (lo, hi) = self.node_box::<D>(node);
        let mut acc = 0.0f64;
        for j in 0..self.d_of::<D>() {
            // At most one gap is positive; max picks it without a branch.
            acc = accumulate::<CHEB>(acc, fmax(fmax(lo[j] - qhi[j], qlo[j] - hi[j]), 0.0));
        }
        acc
    }

    /// Offer the points of leaf `node` (but tree position `skip`) to the k best pairs
    /// of query q, held ascending in (`dist`, `idx`); without `ALL`, to the k best
    /// distances alone (`idx` untouched).
    #[inline(always)]
    fn scan_leaf<const CHEB: bool, const D: usize, const ALL: bool>(
        &self,
        node: usize,
        q: &[f64],
        skip: usize,
        dist: &mut [f64],
        idx: &mut [u32],
    ) {
        let nd = self.nodes[node];
        let k = dist.len();
        for c in 0..padded(nd.end - nd.start) / LANES {
            let acc = self.lane_dists::<CHEB, D>(&nd, c, q);
            let w = dist[k - 1];
            let mut hit = false;
            for &a in acc.iter() {
                // A tie with the k-th distance can only enter when indices are kept.
                hit |= if ALL { a <= w } else { a < w };
            }
            if !hit {
                continue;
            }
            for (l, &a) in acc.iter().enumerate() {
                let pos = nd.start + c * LANES + l;
                if pos < nd.end && pos != skip {
                    if ALL {
                        offer(dist, idx, a, self.index[pos]);
                    } else {
                        offer_distance(dist, a);
                    }
                }
            }
        }
    }

    /// Lower bounds of the distances (squared for Euclidean) from each of the `LEAF`
    /// queries in `qcols` (coordinate-major) to node's box, computed as in
    /// [`KdTree::box_box`] but across queries in SIMD lanes. Returns whether any query
    /// has its bound within its current k-th distance `worst`.
    #[inline(always)]
    fn reaches<const CHEB: bool, const D: usize>(
        &self,
        node: usize,
        qcols: &[f64],
        worst: &[f64; LEAF],
        near: &mut [f64; LEAF],
    ) -> bool {
        let (lo, hi) = self.node_box::<D>(node);
        let mut acc = [0.0f64; LEAF];
        for j in 0..self.d_of::<D>() {
            let col: &[f64; LEAF] = qcols[j * LEAF..(j + 1) * LEAF].try_into().unwrap();
            let (l, h) = (lo[j], hi[j]);
            for s in 0..LEAF {
                acc[s] = accumulate::<CHEB>(acc[s], fmax(fmax(l - col[s], col[s] - h), 0.0));
            }
        }
        let mut any = false;
        for s in 0..LEAF {
            any |= acc[s] <= worst[s];
        }
        *near = acc;
        any
    }

    /// The k nearest neighbours, in this tree, of the points of leaf `ql` of `queries`
    /// (this tree itself when `own`, each point then skipping itself), into `dist` and
    /// `idx` (k per query, ascending).
    ///
    /// The leaf's queries are searched together: one nearest-first traversal that
    /// enters a node when its box is within the k-th distance of any of them (tested
    /// across queries in SIMD lanes), scanning each data leaf for the queries it can
    /// serve. The traversal, the costly part of a single-point search, is shared by
    /// the up to `LEAF` queries.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn knn_leaf<const CHEB: bool, const D: usize, const ALL: bool>(
        &self,
        queries: &KdTree,
        ql: usize,
        own: bool,
        dist: &mut [f64],
        idx: &mut [u32],
        qbuf: &mut [f64],
        qcols: &mut [f64],
        stack: &mut Vec<usize>,
    ) {
        let d = self.d_of::<D>();
        let qn = queries.nodes[ql];
        let nq = qn.end - qn.start;
        let k = dist.len() / nq;
        let width = padded(nq);
        qcols.fill(0.0);
        for j in 0..d {
            for s in 0..nq {
                let v = queries.coords[qn.off + j * width + s];
                qbuf[s * d + j] = v;
                qcols[j * LEAF + s] = v;
            }
        }
        dist.fill(f64::INFINITY);
        idx.fill(u32::MAX);
        // Lanes past the leaf's queries never pass `near <= worst`.
        let mut worst = [f64::NEG_INFINITY; LEAF];
        worst[..nq].fill(f64::INFINITY);
        let mut near = [0.0f64; LEAF];
        let (qlo, qhi) = queries.node_box::<D>(ql);
        stack.clear();
        stack.push(0);
        while let Some(node) = stack.pop() {
            if !self.reaches::<CHEB, D>(node, qcols, &worst, &mut near) {
                continue;
            }
            let nd = self.nodes[node];
            if nd.right == 0 {
                for s in 0..nq {
                    if near[s] <= worst[s] {
                        let q = &qbuf[s * d..(s + 1) * d];
                        let (ds, is) =
                            (&mut dist[s * k..(s + 1) * k], &mut idx[s * k..(s + 1) * k]);
                        let skip = if own { qn.start + s } else { usize::MAX };
                        self.scan_leaf::<CHEB, D, ALL>(node, q, skip, ds, is);
                        worst[s] = ds[k - 1];
                    }
                }
            } else {
                let (left, right) = (node + 1, nd.right);
                let dl = self.box_box::<CHEB, D>(left, qlo, qhi);
                let dr = self.box_box::<CHEB, D>(right, qlo, qhi);
                // Push the farther child first so the nearer one is searched first.
                if dl <= dr {
                    stack.push(right);
                    stack.push(left);
                } else {
                    stack.push(left);
                    stack.push(right);
                }
            }
        }
    }

    /// Number of points within `r` of q (strictly when `STRICT`), skipping position
    /// `skip`.
    #[inline(always)]
    fn count_one<const CHEB: bool, const STRICT: bool, const D: usize>(
        &self,
        q: &[f64],
        r: f64,
        skip: usize,
        stack: &mut Vec<usize>,
    ) -> u64 {
        let mut count = 0u64;
        stack.clear();
        stack.push(0);
        while let Some(node) = stack.pop() {
            if !within::<CHEB, STRICT>(self.box_box::<CHEB, D>(node, q, q), r) {
                continue;
            }
            let nd = self.nodes[node];
            if within::<CHEB, STRICT>(self.box_far::<CHEB, D>(node, q), r) {
                count += (nd.end - nd.start) as u64;
                if (nd.start..nd.end).contains(&skip) {
                    count -= 1;
                }
                continue;
            }
            if nd.right == 0 {
                for c in 0..padded(nd.end - nd.start) / LANES {
                    let acc = self.lane_dists::<CHEB, D>(&nd, c, q);
                    for (l, &a) in acc.iter().enumerate() {
                        let pos = nd.start + c * LANES + l;
                        if within::<CHEB, STRICT>(a, r) && pos < nd.end && pos != skip {
                            count += 1;
                        }
                    }
                }
            } else {
                stack.push(nd.right);
                stack.push(node + 1);
            }
        }
        count
    }
}

/// Calls `$body` with `$D` a constant equal to the dimension for d <= 8 (loops over
/// coordinates unroll and the bounds checks vanish), else 0 (read at run time).
#[rustfmt::skip]
macro_rules! with_dim {
    ($d:expr, $D:ident => $body:expr) => {
        match $d {
            1 => { const $D: usize = 1; $body }
            2 => { const $D: usize = 2; $body }
            3 => { const $D: usize = 3; $body }
            4 => { const $D: usize = 4; $body }
            5 => { const $D: usize = 5; $body }
            6 => { const $D: usize = 6; $body }
            7 => { const $D: usize = 7; $body }
            8 => { const $D: usize = 8; $body }
            _ => { const $D: usize = 0; $body }
        }
    };
}

/// Which queries to run, in which order.
#[derive(Clone, Copy)]
struct Queries<'a> {
    points: ArrayView2<'a, f64>,
    /// The t-th query is row `order[t]` of `points`.
    order: &'a [u32],
    /// The queries are the tree's own points in tree order: query t skips position t.
    own: bool,
}

impl Queries<'_> {
    #[inline(always)]
    fn load(&self, t: usize, q: &mut [f64]) -> usize {
        let row = self.points.row(self.order[t] as usize);
        for (dst, &src) in q.iter_mut().zip(row.iter()) {
            *dst = src;
        }
        if self.own {
            t
        } else {
            usize::MAX
        }
    }
}

/// k-NN search for a run of consecutive leaves of the query tree. Returns, in query
/// tree order, k (distance, index) pairs per query, or only the k-th distance.
struct KnnLeaves<'a> {
    tree: &'a KdTree,
    queries: &'a KdTree,
    leaves: &'a [usize],
    own: bool,
    k: usize,
    metric: Metric,
    all: bool,
}

impl IsaJob for KnnLeaves<'_> {
    type Output = (Vec<f64>, Vec<u32>);

    #[inline(always)]
    fn run<const FMA: bool>(self) -> Self::Output {
        match self.metric {
            Metric::Euclidean if self.all => {
                with_dim!(self.tree.d, D => self.run_metric::<false, D, true>())
            }
            Metric::Euclidean => with_dim!(self.tree.d, D => self.run_metric::<false, D, false>()),
            Metric::Chebyshev if self.all => {
                with_dim!(self.tree.d, D => self.run_metric::<true, D, true>())
            }
            Metric::Chebyshev => with_dim!(self.tree.d, D => self.run_metric::<true, D, false>()),
        }
    }
}

impl KnnLeaves<'_> {
    #[inline(always)]
    fn run_metric<const CHEB: bool, const D: usize, const ALL: bool>(self) -> (Vec<f64>, Vec<u32>) {
        let k = self.k;
        let first = self.queries.nodes[self.leaves[0]].start;
        let last = self.queries.nodes[self.leaves[self.leaves.len() - 1]].end;
        let width = if ALL { k } else { 1 };
        let mut out_d = Vec::with_capacity((last - first) * width);
        let mut out_i = Vec::with_capacity(if ALL { (last - first) * k } else { 0 });
        let mut dist = vec![0.0; LEAF * k];
        let mut idx = vec![0u32; LEAF * k];
        let mut qbuf = vec![0.0; LEAF * self.tree.d];
        let mut qcols = vec![0.0; LEAF * self.tree.d];
        let mut stack = Vec::with_capacity(64);
        for &leaf in self.leaves {
            let nq = self.queries.nodes[leaf].end - self.queries.nodes[leaf].start;
            let (ds, is) = (&mut dist[..nq * k], &mut idx[..nq * k]);
            self.tree.knn_leaf::<CHEB, D, ALL>(
                self.queries,
                leaf,
                self.own,
                ds,
                is,
                &mut qbuf,
                &mut qcols,
                &mut stack,
            );
            if ALL {
                out_d.extend(ds.iter().map(|&v| finish::<CHEB>(v)));
                out_i.extend_from_slice(is);
            } else {
                out_d.extend(ds.chunks_exact(k).map(|c| finish::<CHEB>(c[k - 1])));
            }
        }
        (out_d, out_i)
    }
}

struct CountChunk<'t, 'o> {
    tree: &'t KdTree,
    queries: Queries<'t>,
    first: usize,
    radii: &'t [f64],
    metric: Metric,
    strict: bool,
    out: &'o mut [u64],
}

impl IsaJob for CountChunk<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        match (self.metric, self.strict) {
            (Metric::Euclidean, false) => {
                with_dim!(self.tree.d, D => self.run_metric::<false, false, D>())
            }
            (Metric::Euclidean, true) => {
                with_dim!(self.tree.d, D => self.run_metric::<false, true, D>())
            }
            (Metric::Chebyshev, false) => {
                with_dim!(self.tree.d, D => self.run_metric::<true, false, D>())
            }
            (Metric::Chebyshev, true) => {
                with_dim!(self.tree.d, D => self.run_metric::<true, true, D>())
            }
        }
    }
}

impl CountChunk<'_, '_> {
    #[inline(always)]
    fn run_metric<const CHEB: bool, const STRICT: bool, const D: usize>(self) {
        let mut stack = Vec::with_capacity(64);
        let mut q = vec![0.0; self.tree.d];
        for (s, out) in self.out.iter_mut().enumerate() {
            let t = self.first + s;
            let skip = self.queries.load(t, &mut q);
            let r = self.radii[self.queries.order[t] as usize];
            *out = self
                .tree
                .count_one::<CHEB, STRICT, D>(&q, r, skip, &mut stack);
        }
    }
}

/// k nearest neighbours of every query: distances (n_queries x k, row-major, ascending)
/// and, when asked, the original indices of the neighbours.
#[derive(Debug, Clone)]
pub struct Neighbours {
    pub k: usize,
    pub distances: Vec<f64>,
    pub indices: Option<Vec<u32>>,
}

/// Scatter values computed in query order `order` back to the queries' original rows.
fn scatter<T: Copy + Default + Send + Sync>(tmp: &[T], order: &[u32], width: usize) -> Vec<T> {
    let mut out = vec![T::default(); tmp.len()];
    for (t, &i) in order.iter().enumerate() {
        let i = i as usize;
        out[i * width..(i + 1) * width].copy_from_slice(&tmp[t * width..(t + 1) * width]);
    }
    out
}

impl KdTree {
    fn check_queries(&self, queries: &ArrayView2<'_, f64>, own: bool) -> Result<()> {
        if queries.ncols() != self.d {
            return invalid(format!(
                "queries have {} features but the tree's points have {}",
                queries.ncols(),
                self.d
            ));
        }
        if own && queries.nrows() != self.n {
            return invalid("own-point queries must be the tree's points");
        }
        if queries.iter().any(|v| !v.is_finite()) {
            return invalid("queries contain NaN or infinity");
        }
        Ok(())
    }

    /// k nearest neighbours in this tree of the points of the tree `queries`, in their
    /// original order. With `own` (`queries` is this tree) each point's own entry is
    /// excluded (other points at distance zero are not). With `all`, returns every
    /// neighbour and its original index, else only the k-th distance
    /// (`Neighbours::k == 1`).
    pub fn knn(
        &self,
        queries: &KdTree,
        own: bool,
        k: usize,
        metric: Metric,
        all: bool,
        ctl: &Control,
    ) -> Result<Neighbours> {
        if queries.d != self.d {
            return invalid(format!(
                "queries have {} features but the tree's points have {}",
                queries.d, self.d
            ));
        }
        if own && !std::ptr::eq(self, queries) {
            return invalid("own-point queries must be the tree itself");
        }
        let available = if own { self.n - 1 } else { self.n };
        if k == 0 || k > available {
            return invalid(format!(
                "k must be between 1 and {available} (the number of candidate neighbours), got {k}"
            ));
        }
        let leaves: Vec<usize> = (0..queries.nodes.len())
            .filter(|&i| queries.nodes[i].right == 0)
            .collect();
        let per_task = (QUERY_CHUNK / LEAF).max(1);
        let isa = Isa::current();
        let parts: Vec<(Vec<f64>, Vec<u32>)> = leaves
            .par_chunks(per_task)
            .map(|run| -> Result<(Vec<f64>, Vec<u32>)> {
                ctl.check()?;
                Ok(dispatch(
                    isa,
                    KnnLeaves {
                        tree: self,
                        queries,
                        leaves: run,
                        own,
                        k,
                        metric,
                        all,
                    },
                ))
            })
            .collect::<Result<_>>()?;
        let width = if all { k } else { 1 };
        let mut dist = Vec::with_capacity(queries.n * width);
        let mut idx = Vec::with_capacity(if all { queries.n * k } else { 0 });
        for (d, i) in parts {
            dist.extend_from_slice(&d);
            idx.extend_from_slice(&i);
        }
        Ok(Neighbours {
            k: width,
            distances: scatter(&dist, &queries.index, width),
            indices: all.then(|| scatter(&idx, &queries.index, k)),
        })
    }

    /// For each row i of `queries`, the number of tree points within `radii[i]` of it
    /// (`dist < r` when `strict`, else `dist <= r`); `order` and `own` as in
    /// [`KdTree::knn`] (with `own`, a point does not count itself).
    #[allow(clippy::too_many_arguments)]
    pub fn count_within(
        &self,
        queries: ArrayView2<'_, f64>,
        order: &[u32],
        own: bool,
        radii: &[f64],
        metric: Metric,
        strict: bool,
        ctl: &Control,
    ) -> Result<Vec<u64>> {
        self.check_queries(&queries, own)?;
        check_radii(radii, queries.nrows())?;
        if order.len() != queries.nrows() || (own && order != self.order()) {
            return invalid("order must be a permutation of the query rows");
        }
        let q = Queries {
            points: queries,
            order,
            own,
        };
        let mut tmp = vec![0u64; queries.nrows()];
        let isa = Isa::current();
        tmp.par_chunks_mut(QUERY_CHUNK)
            .enumerate()
            .try_for_each(|(c, out)| -> Result<()> {
                ctl.check()?;
                dispatch(
                    isa,
                    CountChunk {
                        tree: self,
                        queries: q,
                        first: c * QUERY_CHUNK,
                        radii,
                        metric,
                        strict,
                        out,
                    },
                );
                Ok(())
            })?;
        Ok(scatter(&tmp, order, 1))
    }
}

/// k nearest neighbours of every point of `points` among the others (self excluded).
pub fn knn_self(
    points: ArrayView2<'_, f64>,
    k: usize,
    metric: Metric,
    all: bool,
    ctl: &Control,
) -> Result<Neighbours> {
    let tree = KdTree::new(points)?;
    tree.knn(&tree, true, k, metric, all, ctl)
}

/// k nearest neighbours in `data` of every row of `queries`.
pub fn knn_cross(
    data: ArrayView2<'_, f64>,
    queries: ArrayView2<'_, f64>,
    k: usize,
    metric: Metric,
    all: bool,
    ctl: &Control,
) -> Result<Neighbours> {
    let tree = KdTree::new(data)?;
    tree.knn(&KdTree::new(queries)?, false, k, metric, all, ctl)
}

/// A spatially coherent order of `points` (the tree order of a tree built on them), or
/// the identity for few points, where building a tree costs more than it saves.
fn query_order(points: ArrayView2<'_, f64>) -> Result<Vec<u32>> {
    if points.nrows() < 4 * QUERY_CHUNK {
        return Ok((0..points.nrows() as u32).collect());
    }
    Ok(KdTree::new(points)?.index)
}

/// Number of other points of `points` within `radii[i]` of point i.
pub fn count_self(
    points: ArrayView2<'_, f64>,
    radii: &[f64],
    metric: Metric,
    strict: bool,
    ctl: &Control,
) -> Result<Vec<u64>> {
    // In 1-D the max-norm distance is |x_j - x_i| itself and sorted values beat a tree.
    // (The Euclidean sqrt((x_j - x_i)^2) may round differently, so it keeps the tree.)
    if metric == Metric::Chebyshev && points.ncols() == 1 {
        return count_within_1d(&points.column(0).to_vec(), radii, strict, ctl);
    }
    let tree = KdTree::new(points)?;
    tree.count_within(points, tree.order(), true, radii, metric, strict, ctl)
}

/// Number of points of `data` within `radii[i]` of row i of `queries`.
pub fn count_cross(
    data: ArrayView2<'_, f64>,
    queries: ArrayView2<'_, f64>,
    radii: &[f64],
    metric: Metric,
    strict: bool,
    ctl: &Control,
) -> Result<Vec<u64>> {
    let tree = KdTree::new(data)?;
    let order = query_order(queries)?;
    tree.count_within(queries, &order, false, radii, metric, strict, ctl)
}

#[cfg(test)]
mod tests;
