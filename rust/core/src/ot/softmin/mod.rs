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
//!
//! Files: `cost` (the ground costs |x - y|^p and the cost blocks a pass reads, from point
//! clouds or a matrix), `block_tree` (the clusters of every scale over a side's blocks
//! and the truncation bounds that prune them), `tiles` (the shifted sums of a tile of
//! rows and the parallel pass over tiles), `stripes` (the one-pass column sums that give
//! the next soft-min from the same terms), `cloud` (`CloudCost`: point clouds in spatial
//! order, with `Coarse` for multiscale annealing), `matrix` (`MatrixCost`).

mod block_tree;
mod cloud;
mod cost;
mod matrix;
mod stripes;
mod tiles;

pub use cloud::{CloudCost, Coarse};
pub use cost::Power;
pub use matrix::MatrixCost;

use crate::control::Control;
use crate::error::{invalid, Result};
use crate::pairwise::LANES;

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

/// ln sum_j exp(w_j - C_ij / eps) for a cost given row by row (the tests' reference).
#[cfg(test)]
pub(crate) fn lse_naive(
    c: ndarray::ArrayView2<'_, f64>,
    w: ndarray::ArrayView1<'_, f64>,
    eps: f64,
) -> Vec<f64> {
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
mod tests;
