//! Products of a kernel matrix with dense matrices, U = K V, streamed.
//!
//! Permutation and bootstrap tests need the same quadratic form for hundreds of label or
//! sign vectors at once. Stacking those vectors as the columns of V turns them into one
//! product K V: each tile of K is computed once (kernel evaluations are the expensive
//! part of a single statistic) and multiplied into V by a cache-blocked GEMM
//! (`matrixmultiply`, SIMD-dispatched at run time), so P vectors cost one pass over the
//! pairs plus 2 n m P flops, instead of P passes.
//!
//! K is never stored: a row tile of K against a column tile (`ROWS` x `COLS`, 128 KiB)
//! lives in a per-task buffer. Each Rayon task owns a row tile of U and visits column
//! tiles in order, so the result does not depend on the number of threads.

use std::ops::Range;

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use crate::control::Control;
use crate::error::{invalid, Result};
use crate::pairwise::LANES;

/// Rows of K per task (and per tile).
pub(crate) const ROWS: usize = 64;
/// Columns of K per tile; a multiple of `LANES` so tiles align with packed blocks.
pub(crate) const COLS: usize = 256;

/// A kernel matrix that can be computed tile by tile.
pub(crate) trait TileSource: Sync {
    fn n_rows(&self) -> usize;
    fn n_cols(&self) -> usize;
    /// Fill `out[a * cols.len() + b] = K[rows.start + a, cols.start + b]`.
    /// `cols.start` is a multiple of `LANES`.
    fn fill(&self, rows: Range<usize>, cols: Range<usize>, out: &mut [f64]);
    /// Rows of K per task: [`ROWS`], or [`GRAM_ROWS`] for sources on the Gram path.
    fn row_tile(&self) -> usize {
        ROWS
    }
}

/// Rows per task for sources on the Gram path: as for the kernel sums, each column
/// coordinate brought into cache serves this many rows.
pub(crate) const GRAM_ROWS: usize = 256;

/// U = K V for V of shape (n_cols, p); U has shape (n_rows, p).
pub(crate) fn kernel_times<S: TileSource>(
    src: &S,
    v: ArrayView2<'_, f64>,
    ctl: &Control,
) -> Result<Array2<f64>> {
    let (n, m, p) = (src.n_rows(), src.n_cols(), v.ncols());
    if v.nrows() != m {
        return invalid(format!(
            "the dense factor has {} rows, expected {m}",
            v.nrows()
        ));
    }
    let mut u = Array2::<f64>::zeros((n, p));
    if n == 0 || p == 0 {
        return Ok(u);
    }
    let v_std = v.as_standard_layout();
    let (v_rs, v_cs) = (v_std.strides()[0], v_std.strides()[1]);
    let vptr = v_std.as_slice().expect("standard layout");
    let u_slice = u.as_slice_mut().expect("fresh array");
    let row_tile = src.row_tile();
    u_slice
        .par_chunks_mut(row_tile * p)
        .enumerate()
        .for_each(|(t, u_tile)| {
            if ctl.is_cancelled() {
                return;
            }
            let r0 = t * row_tile;
            let r1 = (r0 + row_tile).min(n);
            let rows = r1 - r0;
            let mut k_tile = vec![0.0f64; row_tile * COLS];
            let mut c0 = 0;
            while c0 < m {
                let c1 = (c0 + COLS).min(m);
                let cols = c1 - c0;
                src.fill(r0..r1, c0..c1, &mut k_tile[..rows * cols]);
                // SAFETY: the pointers and strides describe k_tile (rows x cols, row-major),
                // the rows c0..c1 of v_std, and u_tile (rows x p, row-major), all in bounds.
                unsafe {
                    matrixmultiply::dgemm(
                        rows,
                        cols,
                        p,
                        1.0,
                        k_tile.as_ptr(),
                        cols as isize,
                        1,
                        vptr.as_ptr().offset(c0 as isize * v_rs),
                        v_rs,
                        v_cs,
                        1.0,
                        u_tile.as_mut_ptr(),
                        p as isize,
                        1,
                    );
                }
                c0 = c1;
            }
        });
    ctl.check()?;
    Ok(u)
}

/// Column ranges of `LANES`-blocks overlapping `cols` (whose start is block-aligned).
#[inline(always)]
pub(crate) fn blocks_of(cols: &Range<usize>) -> Range<usize> {
    cols.start / LANES..cols.end.div_ceil(LANES)
}

/// Copy the lane values of block `b` into a tile row, clipped to the tile's columns.
#[inline(always)]
pub(crate) fn store_block(out_row: &mut [f64], cols: &Range<usize>, b: usize, vals: &[f64; LANES]) {
    let start = b * LANES - cols.start;
    let count = LANES.min(cols.len() - start);
    out_row[start..start + count].copy_from_slice(&vals[..count]);
}

/// Set K[i, i] to zero in the tile row of point i, if column i lies in the tile.
#[inline(always)]
pub(crate) fn zero_diagonal(out_row: &mut [f64], cols: &Range<usize>, i: usize) {
    if cols.contains(&i) {
        out_row[i - cols.start] = 0.0;
    }
}
