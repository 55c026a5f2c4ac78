use std::sync::OnceLock;

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::big_buffer;
use crate::control::Control;
use crate::error::{invalid, Result};

use super::cost::MatrixBlocks;
use super::stripes::{run_stripes, stripe_count};
use super::tiles::run_tiles;
use super::{check_lse_args, padded_weights, whole_blocks, Side, Softmin};

/// A cost matrix C (n x m), kept with its transpose so that both soft-mins stream rows
/// (the transpose made on the first soft-min that needs it: a stored kernel over the
/// matrix rarely does).
pub struct MatrixCost {
    pub(super) n: usize,
    pub(super) m: usize,
    pub(super) rows: Vec<f64>,
    pub(super) cols: OnceLock<Vec<f64>>,
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
        let mut rows = big_buffer::zeroed(
            n.saturating_mul(sm),
            "the padded copy of the cost matrix",
            "pass a smaller cost matrix or use the point-cloud Sinkhorn with backend=\"online\"",
        )?;
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
    pub(super) fn cols(&self) -> &[f64] {
        self.cols.get_or_init(|| {
            const COLS_PER_SWEEP: usize = 8;
            let (n, m) = (self.n, self.m);
            let (sm, sn) = (whole_blocks(m), whole_blocks(n));
            // Fallible: a refusal is a panic, which the binding turns into an exception
            // (the transpose is made on first use, where no error can be returned).
            let mut cols = big_buffer::zeroed(m * sn, "the transposed cost matrix", "")
                .unwrap_or_else(|e| panic!("{e}"));
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
