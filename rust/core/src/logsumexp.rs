//! Streaming Gaussian log-sum-exp: log sum_j exp(a_j - |p_i - z_j|^2 / 2) for every p_i.
//!
//! The log-density of a Gaussian KDE (after whitening) and the log of Gaussian kernel
//! means are of this form. Summing exp directly underflows to 0 (log = -inf) for points
//! far in the tails; here each row makes two passes over the packed data: the first
//! finds the row's largest exponent M, the second sums exp(exponent - M) <= 1, so the
//! result M + log(sum) is finite whenever one term is representable in log space.

use ndarray::{ArrayView1, ArrayView2};
use rayon::prelude::*;

use crate::control::Control;
use crate::error::{invalid, Result};
use crate::exp::exp;
use crate::pairsum::{hsum, PackedPoints, LANES};
use crate::simd::{dispatch, Isa, IsaJob};
use crate::sum::Neumaier;

const ROW_TILE: usize = 64;

struct LseTile<'a> {
    rows: &'a [f64],
    packed: &'a PackedPoints,
}

impl IsaJob for LseTile<'_> {
    type Output = Vec<f64>;
    #[inline(always)]
    fn run<const FMA: bool>(self) -> Vec<f64> {
        let LseTile { rows, packed } = self;
        let d = packed.dim();
        let n_blocks = packed.n_blocks();
        // A plain loop, not an iterator closure: closures are separate functions that
        // would not inherit the target features of `dispatch`'s wrapper (see simd.rs).
        let mut out = Vec::with_capacity(rows.len() / d);
        for xrow in rows.chunks_exact(d) {
            // Pass 1: the largest exponent, lane-wise then across lanes.
            let mut mx = [f64::NEG_INFINITY; LANES];
            for b in 0..n_blocks {
                let d2 = packed.block_sqdist::<FMA>(xrow, b);
                let (_, a) = packed.block(b);
                for j in 0..LANES {
                    let e = a[j] - 0.5 * d2[j];
                    mx[j] = if e > mx[j] { e } else { mx[j] };
                }
            }
            let m = mx.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if m == f64::NEG_INFINITY {
                out.push(m); // every weight is zero
                continue;
            }
            // Pass 2: sum of exp(exponent - M), each term in [0, 1].
            let mut acc = Neumaier::new();
            for b in 0..n_blocks {
                let d2 = packed.block_sqdist::<FMA>(xrow, b);
                let (_, a) = packed.block(b);
                let mut lanes = [0.0f64; LANES];
                for j in 0..LANES {
                    // Padding lanes carry a = -inf; exp clamps to <= 2.3e-308, which is
                    // below the rounding of a sum that is >= 1.
                    lanes[j] = exp::<FMA>(a[j] - 0.5 * d2[j] - m);
                }
                acc.add(hsum(&lanes));
            }
            out.push(m + acc.value().ln());
        }
        out
    }
}

/// For each row p_i of `points`: log sum_j exp(log_w[j] - |p_i - z_j|^2 / 2).
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
        return invalid(format!("points have {} features but the data have {d}", points.ncols()));
    }
    if d == 0 || z.nrows() == 0 {
        return invalid("the data are empty");
    }
    if log_w.len() != z.nrows() {
        return invalid(format!("{} log-weights for {} data points", log_w.len(), z.nrows()));
    }
    if log_w.iter().any(|w| w.is_nan() || *w == f64::INFINITY) {
        return invalid("log-weights must be finite or -inf");
    }
    let packed = PackedPoints::pack_padded(z, Some(log_w), f64::NEG_INFINITY);
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
            dispatch(Isa::current(), LseTile { rows: &rows, packed: &packed })
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
            .map(|j| lw[j] - 0.5 * z.row(j).iter().zip(p).map(|(a, b)| (a - b).powi(2)).sum::<f64>())
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
        let got = gaussian_logsumexp(p.view(), z.view(), ndarray::ArrayView1::from(&lw), &ctl).unwrap();
        for (i, g) in got.iter().enumerate() {
            let want = naive(p.row(i).as_slice().unwrap(), &z, &lw);
            assert!((g - want).abs() <= 1e-13 * want.abs().max(1.0), "{i}: {g} vs {want}");
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
