use std::ops::Range;

use rayon::prelude::*;

use crate::arith::exp::{exp, fma};
use crate::arith::simd::{dispatch, Isa, IsaJob};
use crate::arith::sum::Neumaier;
use crate::control::Control;
use crate::error::Result;
use crate::pairwise::differences::hsum;
use crate::pairwise::LANES;

use super::block_tree::Truncation;
use super::cost::CostBlocks;
use super::stripes::StripeColumns;
use super::{HIGH, LOW, ROW_TILE};

/// Per-row shifted sums of one pass.
pub(super) struct Sums {
    pub(super) plain: Vec<f64>,
    /// The same sums with each term multiplied by C_ij (when weighted).
    pub(super) weighted: Vec<f64>,
    /// Blocks summed per row.
    pub(super) kept: Vec<usize>,
}

/// Per row: sum_j exp(w_j - C_ij inv_eps - s_r) over the columns of `blocks`, optionally
/// also weighted by C_ij.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn shifted_sums<
    S: CostBlocks,
    const FMA: bool,
    const WEIGHTED: bool,
    const KEEP: bool,
>(
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
pub(super) fn row_maxima<S: CostBlocks, const FMA: bool>(
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
pub(super) struct SoftminTile<'a, S> {
    pub(super) src: &'a S,
    /// A range of whole row blocks (except at the end).
    pub(super) rows: Range<usize>,
    pub(super) w: &'a [f64],
    pub(super) hint: &'a [f64],
    pub(super) inv_eps: f64,
    pub(super) weighted: bool,
    /// Truncation for the hinted pass (the exact pass never truncates).
    pub(super) trunc: Option<&'a Truncation<'a>>,
    /// For `lse_then_next`: the next soft-min's exponent of row r given its lse, the
    /// column sums its terms are added to, and a buffer for a group's terms.
    pub(super) next: Option<(NextExponent<'a>, &'a mut StripeColumns, &'a mut KeptTerms)>,
}

/// The next soft-min's exponent of a row (in the sorted order) given its lse.
pub(super) type NextExponent<'a> = &'a (dyn Fn(usize, f64) -> f64 + Sync);

/// A group's terms, kept for the next soft-min's column sums: for the i-th block of its
/// surviving list, row k's terms at `terms[i * LANES + k]` if bit k of `masks[i]` is set
/// (the row kept the block; otherwise a stale, finite value).
#[derive(Default)]
pub(super) struct KeptTerms {
    pub(super) terms: Vec<[f64; LANES]>,
    pub(super) masks: Vec<u32>,
}

/// One group's truncated sums: per row, whether the truncation bound is within the
/// row's allowance and that bound as a fraction of its sum.
pub(super) struct GroupSums {
    pub(super) sums: Sums,
    pub(super) ok: Vec<bool>,
    pub(super) skipped: Vec<f64>,
    /// The blocks that survived the group's test: a row left out those it did not keep,
    /// each of their terms below `dropped_bound` (relative to the row's shift's exp).
    pub(super) surviving: Vec<usize>,
    pub(super) dropped_bound: f64,
    /// The subtrees pruned for the group, each with a bound on its terms' exponents
    /// relative to every row's shift (recorded only when terms are kept).
    pub(super) pruned: Vec<(usize, f64)>,
}

impl<S: CostBlocks> SoftminTile<'_, S> {
    /// Sums of `rows` (all in one block of rows) shifted by `s`, truncated if the tile
    /// truncates.
    #[inline(always)]
    pub(super) fn truncated_group<const FMA: bool>(
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
    pub(super) fn sums<const FMA: bool>(
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
pub(super) struct Pass {
    pub(super) lse: Vec<f64>,
    pub(super) mean: Vec<f64>,
    pub(super) skipped: f64,
    pub(super) exact: usize,
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

pub(super) fn run_tiles<S: CostBlocks>(
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
    pub(super) fn joined(tiles: impl IntoIterator<Item = Pass>, n: usize) -> Pass {
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
