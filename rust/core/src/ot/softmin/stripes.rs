use rayon::prelude::*;

use crate::arith::exp::fma;
use crate::arith::simd::{dispatch, Isa};
use crate::arith::sum::add_in_order;
use crate::control::Control;
use crate::error::Result;
use crate::pairwise::LANES;

use super::block_tree::Truncation;
use super::cost::CostBlocks;
use super::tiles::{GroupSums, KeptTerms, NextExponent, Pass, SoftminTile};
use super::{HIGH, LOW, ROW_TILE};

/// Column blocks per page of a stripe's column sums.
pub(super) const PAGE_BLOCKS: usize = 64;
/// Fixed row stripes of `lse_then_next` (at most): each adds its rows' terms to its own
/// column sums, and those are added up in stripe order, so that the result does not depend
/// on the number of threads.
pub(super) const STRIPES: usize = 64;
/// Most bytes the stripes' column sums and bounds may take if every stripe touched every
/// column (without truncation); fewer stripes are used beyond.
pub(super) const STRIPE_BYTES: usize = 256 << 20;

/// How many stripes `run_stripes` takes for `src` (0: too many columns for the budget).
pub(super) fn stripe_count<S: CostBlocks>(src: &S) -> usize {
    // Per stripe: LANES sums per block, a block bound, and two node bounds per block.
    let stripe_bytes = 8 * (LANES + 3) * src.n_blocks();
    STRIPES
        .min(src.n_rows().div_ceil(ROW_TILE))
        .min(STRIPE_BYTES / stripe_bytes)
}

/// One stripe's part of the next soft-min's column sums, sum_r e^(u_r + s_r) t_rj over
/// its rows r: pages of PAGE_BLOCKS column blocks, allocated when first touched (truncated
/// rows touch only the columns near them).
pub(super) struct StripeColumns {
    pub(super) pages: Vec<Option<Box<[f64; PAGE_BLOCKS * LANES]>>>,
    /// Bounds on what the rows' truncation left out of the column sums, per column block
    /// (blocks a row dropped) and per node of the column tree (subtrees a group pruned).
    pub(super) block_bound: Vec<f64>,
    pub(super) node_bound: Vec<f64>,
    /// Some row's terms could not be added (a row summed exactly, or a factor out of
    /// range): the next soft-min needs its own pass.
    pub(super) void: bool,
}

impl StripeColumns {
    /// For `n_blocks` column blocks and a column tree of `n_nodes` (0: no truncation).
    pub(super) fn new(n_nodes: usize, n_blocks: usize) -> StripeColumns {
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
    pub(super) fn add_group<const FMA: bool>(
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

/// The next soft-min's lse from the one-pass column sums, and the bound on the fraction
/// of its sums that truncation left out.
pub(super) type NextLse = (Vec<f64>, f64);

/// The column sums of `lse_then_next`: per padded column j, sum_r e^(u_r + s_r) t_rj,
/// and the bound on what truncation left out of each.
pub(super) struct NextSums {
    pub(super) sums: Vec<f64>,
    /// Per column block.
    pub(super) skipped: Vec<f64>,
}

impl NextSums {
    /// The next soft-min's lse over the first `m` columns, whose log-weights in the pass
    /// that made these sums were `w`, and the largest bound on the fraction of a sum that
    /// truncation left out; None if some column's sum is out of range or that bound is
    /// not within `skip`.
    pub(super) fn lse(&self, w: &[f64], m: usize, skip: f64) -> Option<NextLse> {
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
pub(super) fn run_stripes<S: CostBlocks>(
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
