//! Streaming Gaussian log-sum-exp: log sum_j exp(a_j - |p_i - z_j|^2 / 2) for every p_i.
//!
//! The log-density of a Gaussian KDE (after whitening) and the log of Gaussian kernel
//! means are of this form. Summing exp directly underflows to 0 (log = -inf) for points
//! far in the tails. No exponent exceeds M0 = max_j a_j (the squared distance is >= 0),
//! so one pass sums exp(exponent - M0) <= 1 without overflow. Where that sum underflows
//! (points far from all data) the row is redone with its own largest exponent M as the
//! shift, so the result M + log(sum) is finite whenever one term is representable in
//! log space.
//!
//! The squared distances come from either path of the pair engine (`pairwise`): packed
//! coordinate differences below `GRAM_FROM_D` dimensions, the Gram path (in the input's
//! precision, rechecked) from there.

use std::ops::Range;

use ndarray::{Array2, ArrayView1, ArrayView2};
use rayon::prelude::*;

use crate::arith::exp::exp;
use crate::arith::simd::{dispatch, Isa, IsaJob};
use crate::arith::sum::Neumaier;
use crate::control::Control;
use crate::error::{invalid, Result};
use crate::pairwise::differences::{hsum, PackedPoints};
use crate::pairwise::gram::{gram_tiles, GramPoints, Originals, TileVisitor};
use crate::pairwise::LANES;
use crate::pairwise::{use_gram, with_group_rows, Real};

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
pub fn gaussian_logsumexp<T: Real>(
    points: ArrayView2<'_, T>,
    z: ArrayView2<'_, T>,
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
    let max_log_w = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let m = points.nrows();
    if max_log_w == f64::NEG_INFINITY {
        return Ok(vec![f64::NEG_INFINITY; m]); // every weight is zero
    }
    if use_gram::<T>(d) {
        return gram_logsumexp(points, z, log_w, max_log_w, ctl);
    }
    let packed = PackedPoints::pack_padded(z, Some(log_w), f64::NEG_INFINITY);
    let tiles: Vec<Vec<f64>> = (0..m.div_ceil(ROW_TILE))
        .into_par_iter()
        .map(|t| {
            if ctl.is_cancelled() {
                return Vec::new();
            }
            let rows: Vec<f64> = (t * ROW_TILE..((t + 1) * ROW_TILE).min(m))
                .flat_map(|i| points.row(i).iter().map(|v| v.to_f64()).collect::<Vec<_>>())
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

/// Most rows per parallel task of the Gram path (as for the kernel sums: the columns
/// brought from memory serve this many rows), and column blocks per chunk.
const GRAM_ROW_TILE: usize = 256;
const GRAM_CHUNK_BLOCKS: usize = 8;

/// Per-row lane partials of a row tile on the Gram path: the largest exponent, or the
/// sum of exp(exponent - shift).
struct LseLanes<'a, const FMA: bool> {
    rows: Range<usize>,
    /// Log-weights padded with -inf to whole blocks.
    log_w: &'a [f64],
    /// None: maxima; Some: each row's shift.
    shifts: Option<&'a [f64]>,
    lanes: Vec<[f64; LANES]>,
}

impl<const G: usize, const FMA: bool> TileVisitor<G> for LseLanes<'_, FMA> {
    #[inline(always)]
    fn visit(&mut self, row0: usize, b: usize, d2: &[[f64; LANES]; G]) {
        let a: &[f64; LANES] = self.log_w[b * LANES..(b + 1) * LANES].try_into().unwrap();
        for (r, d2r) in d2
            .iter()
            .enumerate()
            .take(self.rows.end.saturating_sub(row0).min(G))
        {
            let li = row0 + r - self.rows.start;
            let lane = &mut self.lanes[li];
            match self.shifts {
                None => {
                    for j in 0..LANES {
                        let e = a[j] - 0.5 * d2r[j];
                        lane[j] = if e > lane[j] { e } else { lane[j] };
                    }
                }
                Some(shifts) => {
                    let m = shifts[li];
                    for j in 0..LANES {
                        // Padding lanes carry a = -inf; exp clamps to <= 2.3e-308.
                        lane[j] += exp::<FMA>(a[j] - 0.5 * d2r[j] - m);
                    }
                }
            }
        }
    }
}

/// One pass of a row tile on the Gram path as a job for [`dispatch`].
struct GramLse<'a, 'x, T> {
    isa: Isa,
    src: &'a Originals<'a, 'x, T>,
    rows: Range<usize>,
    cols: &'a GramPoints<T>,
    log_w: &'a [f64],
    shifts: Option<&'a [f64]>,
}

impl<T: Real> IsaJob for GramLse<'_, '_, T> {
    type Output = Vec<f64>;
    #[inline(always)]
    fn run<const FMA: bool>(self) -> Vec<f64> {
        let GramLse {
            isa,
            src,
            rows,
            cols,
            log_w,
            shifts,
        } = self;
        let init = if shifts.is_some() {
            0.0
        } else {
            f64::NEG_INFINITY
        };
        let mut acc = LseLanes::<FMA> {
            rows: rows.clone(),
            log_w,
            shifts,
            lanes: vec![[init; LANES]; rows.len()],
        };
        with_group_rows!(isa, T, |G| gram_tiles::<T, _, G, FMA>(
            isa,
            src,
            rows,
            cols,
            0..cols.n_blocks(),
            GRAM_CHUNK_BLOCKS,
            &mut acc
        ));
        acc.lanes
            .iter()
            .map(|l| match shifts {
                Some(_) => hsum(l),
                None => l.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            })
            .collect()
    }
}

/// [`gaussian_logsumexp`] on the Gram path: one pass shifted by the largest log-weight,
/// and for rows where that underflows (far from all data) a pass for their maxima and
/// one shifted by them, as on the difference path.
fn gram_logsumexp<T: Real>(
    points: ArrayView2<'_, T>,
    z: ArrayView2<'_, T>,
    log_w: ArrayView1<'_, f64>,
    max_log_w: f64,
    ctl: &Control,
) -> Result<Vec<f64>> {
    let isa = Isa::current();
    let m = points.nrows();
    let cols = GramPoints::pack(z.view(), None, Some(points.view()));
    let mut padded = vec![f64::NEG_INFINITY; cols.n_blocks() * LANES];
    padded[..log_w.len()]
        .iter_mut()
        .zip(log_w.iter())
        .for_each(|(p, &w)| *p = w);
    let src = Originals { x: &points, y: &z };
    // Each row's value is independent of the tiling: smaller tiles for few points
    // keep every thread busy.
    let tile = m
        .div_ceil(4 * rayon::current_num_threads())
        .clamp(16, GRAM_ROW_TILE);
    let tiles: Vec<Vec<f64>> = (0..m.div_ceil(tile))
        .into_par_iter()
        .map(|t| {
            if ctl.is_cancelled() {
                return Vec::new();
            }
            let rows = t * tile..((t + 1) * tile).min(m);
            let mut shifts = vec![max_log_w; rows.len()];
            let pass = |src: &Originals<'_, '_, T>, rows: Range<usize>, shifts: Option<&[f64]>| {
                dispatch(
                    isa,
                    GramLse {
                        isa,
                        src,
                        rows,
                        cols: &cols,
                        log_w: &padded,
                        shifts,
                    },
                )
            };
            let mut sums = pass(&src, rows.clone(), Some(&shifts));
            let far: Vec<usize> = (0..rows.len()).filter(|&r| sums[r] < UNDERFLOW).collect();
            if !far.is_empty() {
                let d = points.ncols();
                let mut far_rows = Array2::<T>::default((far.len(), d));
                for (a, &r) in far.iter().enumerate() {
                    far_rows.row_mut(a).assign(&points.row(rows.start + r));
                }
                let far_view = far_rows.view();
                let far_src = Originals {
                    x: &far_view,
                    y: &z,
                };
                let maxima = pass(&far_src, 0..far.len(), None);
                let far_sums = pass(&far_src, 0..far.len(), Some(&maxima));
                for ((&r, &mx), &s) in far.iter().zip(&maxima).zip(&far_sums) {
                    shifts[r] = mx;
                    sums[r] = s;
                }
            }
            shifts.iter().zip(&sums).map(|(m, s)| m + s.ln()).collect()
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

    #[test]
    fn gram_path_matches_naive_far_from_origin() {
        let ctl = Control::new();
        for d in [16usize, 40, 130] {
            let mut z = random_points(150, d, 4);
            let mut p = random_points(77, d, 5);
            let lw: Vec<f64> = random_points(150, 1, 6).iter().map(|v| -2.0 * v).collect();
            // A near-duplicate of a data point, and a point far in the tails.
            for k in 0..d {
                p[[3, k]] = z[[7, k]] + 1e-7;
                p[[5, k]] += 30.0;
            }
            z.mapv_inplace(|v| v + 1e3);
            p.mapv_inplace(|v| v + 1e3);
            let got = gaussian_logsumexp(p.view(), z.view(), ndarray::ArrayView1::from(&lw), &ctl)
                .unwrap();
            for (i, g) in got.iter().enumerate() {
                let want = naive(p.row(i).as_slice().unwrap(), &z, &lw);
                assert!(
                    (g - want).abs() <= 1e-10 * want.abs().max(1.0),
                    "d={d} {i}: {g} vs {want}"
                );
            }
            assert!(got[5] < -1e3, "the far point is far: {}", got[5]);
            // float32 within the contract's 1e-3 of the density.
            let (p32, z32) = (p.mapv(|v| v as f32), z.mapv(|v| v as f32));
            let got32 =
                gaussian_logsumexp(p32.view(), z32.view(), ndarray::ArrayView1::from(&lw), &ctl)
                    .unwrap();
            for (i, (g, w)) in got32.iter().zip(&got).enumerate() {
                let want = naive(
                    p32.row(i).mapv(f64::from).as_slice().unwrap(),
                    &z32.mapv(f64::from),
                    &lw,
                );
                assert!(
                    (g - want).abs() <= 1e-3 * want.abs().max(1.0),
                    "f32 d={d} {i}: {g} vs {want} ({w})"
                );
            }
        }
    }
}
