use crate::arith::exp::{exp, fma};
use crate::arith::ln::ln;
use crate::error::{invalid, Result};
use crate::pairwise::differences::{block_sqdist_into, PackedPoints};
use crate::pairwise::LANES;

use super::CHUNK_BYTES;

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
pub(super) trait Ground: Copy + Sync {
    fn scalar<const FMA: bool>(self, d2: f64) -> f64;
    fn apply<const FMA: bool>(self, d2: &mut [f64; LANES]);
}

#[derive(Clone, Copy)]
pub(super) struct Squared;
#[derive(Clone, Copy)]
pub(super) struct Distance;
#[derive(Clone, Copy)]
pub(super) struct PowerOf(pub(super) f64);

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
pub(super) trait CostBlocks: Sync {
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
pub(super) struct CloudBlocks<'a, G> {
    pub(super) rows: &'a [f64],
    pub(super) cols: &'a PackedPoints,
    pub(super) power: G,
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
pub(super) struct MatrixBlocks<'a> {
    pub(super) data: &'a [f64],
    pub(super) stride: usize,
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
