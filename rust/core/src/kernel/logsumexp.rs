//! Streaming Gaussian log-sum-exp: log sum_j exp(a_j - |p_i - z_j|^2 / 2) for every p_i.
//!
//! The log-density of a Gaussian KDE (after whitening) and the log of Gaussian kernel
//! means are of this form. Summing exp directly underflows to 0 (log = -inf) for points
//! far in the tails. No exponent exceeds M0 = max_j a_j (the squared distance is >= 0),
//! so one pass sums exp(exponent - M0) <= 1 without overflow. Where that sum underflows
//! (points far from all data) the row is redone with its own largest exponent M as the
//! shift, so the result M + log(sum) is finite whenever one term is representable in
//! log space.

use ndarray::{ArrayView1, ArrayView2};
use rayon::prelude::*;

use crate::arith::exp::exp;
use crate::arith::simd::{dispatch, Isa, IsaJob};
use crate::arith::sum::Neumaier;
use crate::control::Control;
use crate::error::{invalid, Result};
use crate::kernel::pairsum::{hsum, PackedPoints, LANES};

const ROW_TILE: usize = 64;
/// Bytes of packed data visited per chunk (fits L1 with room for the rows).
const CHUNK_BYTES: usize = 24 * 1024;

/// A shifted sum below this is recomputed with the row's own maximum as the shift: the
/// terms clamped by `exp` (<= 2.3e-308 each) stay below 1e-16 of it for any n < 10^12.
const UNDERFLOW: f64 = 1e-280;

struct LseTile<'a> {
    rows: &'a [f64],
    packed: &'a PackedPoints,
    /// max_j log_w[j]: no exponent exceeds it, since |p - z|^2 >= 0.
    max_log_w: f64,
}

/// Each row's largest exponent max_j (a_j - |x - z_j|^2 / 2).
#[inline(always)]
fn row_maxima<const FMA: bool>(rows: &[f64], packed: &PackedPoints, chunk: usize) -> Vec<f64> {
    let d = packed.dim();
    let n_blocks = packed.n_blocks();
    let mut mx = vec![[f64::NEG_INFINITY; LANES]; rows.len() / d];
    let mut b0 = 0;
    while b0 < n_blocks {
        let b1 = (b0 + chunk).min(n_blocks);
        for (xrow, m) in rows.chunks_exact(d).zip(mx.iter_mut()) {
            for b in b0..b1 {
                let d2 = packed.block_sqdist::<FMA>(xrow, b);
                let (_, a) = packed.block(b);
                for j in 0..LANES {
                    let e = a[j] - 0.5 * d2[j];
                    m[j] = if e > m[j] { e } else { m[j] };
                }
            }
        }
        b0 = b1;
    }
    let mut out = Vec::with_capacity(mx.len());
    for m in &mx {
        out.push(m.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    }
    out
}

/// Each row's sum_j exp(a_j - |x - z_j|^2 / 2 - shift): lane partials over an L1-sized
/// chunk of the data, folded into a compensated per-row sum.
#[inline(always)]
fn shifted_sums<const FMA: bool>(
    rows: &[f64],
    packed: &PackedPoints,
    shifts: &[f64],
    chunk: usize,
) -> Vec<f64> {
    let d = packed.dim();
    let n_blocks = packed.n_blocks();
    let mut acc = vec![Neumaier::new(); shifts.len()];
    let mut b0 = 0;
    while b0 < n_blocks {
        let b1 = (b0 + chunk).min(n_blocks);
        for ((xrow, &m), row_acc) in rows.chunks_exact(d).zip(shifts).zip(acc.iter_mut()) {
            let mut lanes = [0.0f64; LANES];
            for b in b0..b1 {
                let d2 = packed.block_sqdist::<FMA>(xrow, b);
                let (_, a) = packed.block(b);
                for j in 0..LANES {
                    // Padding lanes carry a = -inf; exp clamps to <= 2.3e-308.
                    lanes[j] += exp::<FMA>(a[j] - 0.5 * d2[j] - m);
                }
            }
            row_acc.add(hsum(&lanes));
        }
        b0 = b1;
    }
    acc.iter().map(Neumaier::value).collect()
}

impl IsaJob for LseTile<'_> {
    type Output = Vec<f64>;
    #[inline(always)]
    fn run<const FMA: bool>(self) -> Vec<f64> {
        let LseTile {
            rows,
            packed,
            max_log_w,
        } = self;
        let d = packed.dim();
        let n_rows = rows.len() / d;
        if max_log_w == f64::NEG_INFINITY {
            return vec![f64::NEG_INFINITY; n_rows]; // every weight is zero
        }
        // Rows visit the data in chunks that stay in L1, as in the pair engine. Hot code
        // is in plain loops, not closures, so the target features apply (simd.rs).
        let chunk = (CHUNK_BYTES / (d * LANES * 8)).max(1);
        let mut shifts = vec![max_log_w; n_rows];
        let mut sums = shifted_sums::<FMA>(rows, packed, &shifts, chunk);
        // Far from all data every term underflows against max_log_w: redo those rows
        // shifted by their own maximum (a second, exact pass).
        let far: Vec<usize> = (0..n_rows).filter(|&r| sums[r] < UNDERFLOW).collect();
        if !far.is_empty() {
            let mut far_rows = Vec::with_capacity(far.len() * d);
            for &r in &far {
                far_rows.extend_from_slice(&rows[r * d..(r + 1) * d]);
            }
            let maxima = row_maxima::<FMA>(&far_rows, packed, chunk);
            let far_sums = shifted_sums::<FMA>(&far_rows, packed, &maxima, chunk);
            for ((&r, &m), &s) in far.iter().zip(&maxima).zip(&far_sums) {
                shifts[r] = m;
                sums[r] = s;
            }
        }
        let mut out = Vec::with_capacity(n_rows);
        for (m, s) in shifts.iter().zip(&sums) {
            out.push(m + s.ln());
        }
        out
    }
}

/// For each row p_i of `points`: `log sum_j exp(log_w[j] - |p_i - z_j|^2 / 2)`.
///
/// `log_w` may contain -inf (zero weights); a row whose terms are all -inf gives -inf.
pub fn gaussian_logsumexp(
    points: ArrayView2<'_, f64>,
    z: ArrayView2<'_, f64>,
    log_w: ArrayView1<'_, f64>,
    ctl: &Control,
) -> Result<Vec<f64>> {
    let d = z.ncols();
    if points.ncols() != d {
        return invalid(format!(
            "points have {} features but the data have {d}",
            points.ncols()
        ));
    }
    if d == 0 || z.nrows() == 0 {
        return invalid("the data are empty");
    }
    if log_w.len() != z.nrows() {
        return invalid(format!(
            "{} log-weights for {} data points",
            log_w.len(),
            z.nrows()
        ));
    }
    if log_w.iter().any(|w| w.is_nan() || *w == f64::INFINITY) {
        return invalid("log-weights must be finite or -inf");
    }
    let packed = PackedPoints::pack_padded(z, Some(log_w), f64::NEG_INFINITY);
    let max_log_w = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let m = points.nrows();
    let tiles: Vec<Vec<f64>> = (0..m.div_ceil(ROW_TILE))
        .into_par_iter()
        .map(|t| {
            if ctl.is_cancelled() {
                return Vec::new();
            }
            let rows: Vec<f64> = (t * ROW_TILE..((t + 1) * ROW_TILE).min(m))
                .flat_map(|i| points.row(i).to_vec())
                .collect();
            dispatch(
                Isa::current(),
                LseTile {
                    rows: &rows,
                    packed: &packed,
                    max_log_w,
                },
            )
        })
        .collect();
    ctl.check()?;
    Ok(tiles.concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::random_points;

    fn naive(p: &[f64], z: &ndarray::Array2<f64>, lw: &[f64]) -> f64 {
        let e: Vec<f64> = (0..z.nrows())
            .map(|j| {
                lw[j]
                    - 0.5
                        * z.row(j)
                            .iter()
                            .zip(p)
                            .map(|(a, b)| (a - b).powi(2))
                            .sum::<f64>()
            })
            .collect();
        let m = e.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        m + e.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
    }

    #[test]
    fn matches_naive_including_far_tails() {
        let ctl = Control::new();
        let z = random_points(75, 2, 1);
        let lw: Vec<f64> = random_points(75, 1, 2).iter().map(|v| v - 3.0).collect();
        let mut p = random_points(90, 2, 3);
        p[[0, 0]] = 1e3; // exp(-5e5) underflows, its log does not
        let got =
            gaussian_logsumexp(p.view(), z.view(), ndarray::ArrayView1::from(&lw), &ctl).unwrap();
        for (i, g) in got.iter().enumerate() {
            let want = naive(p.row(i).as_slice().unwrap(), &z, &lw);
            assert!(
                (g - want).abs() <= 1e-13 * want.abs().max(1.0),
                "{i}: {g} vs {want}"
            );
        }
        assert!(got[0].is_finite() && got[0] < -4e5);
    }

    #[test]
    fn zero_weights_and_errors() {
        let ctl = Control::new();
        let z = random_points(5, 2, 1);
        let lw = ndarray::Array1::from_elem(5, f64::NEG_INFINITY);
        let got = gaussian_logsumexp(z.view(), z.view(), lw.view(), &ctl).unwrap();
        assert!(got.iter().all(|v| *v == f64::NEG_INFINITY));
        let bad = ndarray::Array1::from_elem(4, 0.0);
        assert!(gaussian_logsumexp(z.view(), z.view(), bad.view(), &ctl).is_err());
    }
}
