//! The Gram path: squared distances |x - y|^2 = |x|^2 + |y|^2 - 2 x.y with the inner
//! products from a register-blocked microkernel.
//!
//! Layout. Column points are centred on a pooled mean (in f64, then rounded to the
//! element type) and packed in blocks of [`LANES`] points, coordinate-major, with their
//! squared norms (in f64). A group of G rows is packed k-major (coordinate k of the G
//! rows contiguous), so that the microkernel's step k is one load of the block's
//! coordinate k, G broadcasts and G x LANES fused multiply-adds into accumulators held
//! in registers (see `microkernel`): one FMA per coordinate and pair (the difference
//! path needs a subtract and an FMA), each column coordinate loaded once per G rows.
//! The caller blocks the loops as a GEMM does: a k-chunk of a block ([`k_chunk`],
//! 16 KiB) stays in L1 while all the row groups of a tile pass over it, and the inner
//! products are finished into squared distances ([`finish_sqdist`]) once every chunk
//! is in.
//!
//! Exactness. Centring removes the cancellation that an offset far from the origin
//! would cause; what is left is bounded by the rounding of the products: with u the
//! unit roundoff of the element type, |fl(d2) - d2| <= (d + 4) u (|x|^2 + |y|^2)
//! (Higham, Accuracy and Stability of Numerical Algorithms, 2002, section 3.1). Any
//! pair whose computed d2 is below `SAFETY` times that bound is recomputed in f64 by
//! coordinate differences of the original (uncentred) values, so every pair that
//! passes has a relative error below 1 / `SAFETY` in the worst case (and far below in
//! practice, the products' errors being random). Only near-duplicate pairs take the
//! slow path: for random points d2 is about |x|^2 + |y|^2.

use std::ops::Range;

use ndarray::{ArrayView1, ArrayView2};
use rayon::prelude::*;

use super::real::Real;
use super::LANES;

/// Pooled mean of the rows of `parts`, in f64 (summed in row order, so the same bits
/// for any thread count).
pub fn pooled_mean<T: Real>(parts: &[ArrayView2<'_, T>]) -> Vec<f64> {
    let d = parts.first().map_or(0, |p| p.ncols());
    let mut sum = vec![0.0f64; d];
    let mut n = 0usize;
    for p in parts {
        for row in p.rows() {
            for (s, &v) in sum.iter_mut().zip(row.iter()) {
                *s += v.to_f64();
            }
        }
        n += p.nrows();
    }
    let inv = 1.0 / n.max(1) as f64;
    sum.iter_mut().for_each(|s| *s *= inv);
    sum
}

/// The pair-recheck threshold factor: pairs with d2 < factor (|x|^2 + |y|^2) are
/// recomputed by differences. `SAFETY` is 2^34 in f64 (passing pairs within 6e-11 of
/// their exact d2, well inside the 1e-10 the float64 contract promises), 2^8 in f32
/// (within 0.4%, and the products' typical error is sqrt(d) u instead of d u: kernel
/// sums stay well within the 1e-3 the float32 contract promises).
pub fn recheck_factor<T: Real>(d: usize) -> f64 {
    let safety = if T::UNIT_ROUNDOFF < 1e-10 {
        (1u64 << 34) as f64
    } else {
        256.0
    };
    (d as f64 + 4.0) * T::UNIT_ROUNDOFF * safety
}

/// Points centred and packed in blocks of `LANES` for the Gram path; padding lanes
/// are zero with weight 0.
pub struct GramPoints<T> {
    d: usize,
    n: usize,
    coords: Vec<T>,
    norms: Vec<f64>,
    weights: Vec<f64>,
}

impl<T: Real> GramPoints<T> {
    /// Pack `x` centred on `centre`, with weights `w` (default 1).
    pub fn pack(x: ArrayView2<'_, T>, w: Option<ArrayView1<'_, f64>>, centre: &[f64]) -> Self {
        let (n, d) = x.dim();
        let n_blocks = n.div_ceil(LANES);
        let mut coords = vec![T::default(); n_blocks * d * LANES];
        let mut norms = vec![0.0f64; n_blocks * LANES];
        let mut weights = vec![0.0f64; n_blocks * LANES];
        if d > 0 {
            coords
                .par_chunks_mut(d * LANES)
                .zip(norms.par_chunks_mut(LANES))
                .zip(weights.par_chunks_mut(LANES))
                .enumerate()
                .for_each(|(b, ((c, nm), wt))| {
                    for j in 0..LANES.min(n - b * LANES) {
                        let i = b * LANES + j;
                        let mut s = 0.0f64;
                        for (k, &v) in x.row(i).iter().enumerate() {
                            let cv = T::from_f64(v.to_f64() - centre[k]);
                            c[k * LANES + j] = cv;
                            s += cv.to_f64() * cv.to_f64();
                        }
                        nm[j] = s;
                        wt[j] = w.map_or(1.0, |w| w[i]);
                    }
                });
        }
        Self {
            d,
            n,
            coords,
            norms,
            weights,
        }
    }

    pub fn dim(&self) -> usize {
        self.d
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn n_blocks(&self) -> usize {
        self.weights.len() / LANES
    }

    /// Coordinates (d x LANES, coordinate-major), squared norms and weights of block `b`.
    #[inline(always)]
    pub fn block(&self, b: usize) -> (&[T], &[f64; LANES], &[f64; LANES]) {
        let c = &self.coords[b * self.d * LANES..(b + 1) * self.d * LANES];
        let nm = self.norms[b * LANES..(b + 1) * LANES].try_into().unwrap();
        let w = self.weights[b * LANES..(b + 1) * LANES].try_into().unwrap();
        (c, nm, w)
    }
}

/// Rows `rows` of a sample centred and packed in groups of `g` rows, k-major; the
/// last group is padded with zero rows.
pub struct GramRows<T> {
    d: usize,
    g: usize,
    coords: Vec<T>,
    norms: Vec<f64>,
}

impl<T: Real> GramRows<T> {
    pub fn pack(x: &ArrayView2<'_, T>, rows: Range<usize>, g: usize, centre: &[f64]) -> Self {
        let d = x.ncols();
        let nr = rows.len();
        let n_groups = nr.div_ceil(g);
        let mut coords = vec![T::default(); n_groups * g * d];
        let mut norms = vec![0.0f64; n_groups * g];
        for (li, i) in rows.enumerate() {
            let (q, r) = (li / g, li % g);
            let base = q * g * d;
            let mut s = 0.0f64;
            for (k, &v) in x.row(i).iter().enumerate() {
                let cv = T::from_f64(v.to_f64() - centre[k]);
                coords[base + k * g + r] = cv;
                s += cv.to_f64() * cv.to_f64();
            }
            norms[li] = s;
        }
        Self {
            d,
            g,
            coords,
            norms,
        }
    }

    pub fn n_groups(&self) -> usize {
        self.norms.len() / self.g
    }

    /// Coordinates (d x g, k-major) and squared norms of group `q`.
    #[inline(always)]
    pub fn group(&self, q: usize) -> (&[T], &[f64]) {
        let (g, d) = (self.g, self.d);
        (
            &self.coords[q * g * d..(q + 1) * g * d],
            &self.norms[q * g..(q + 1) * g],
        )
    }
}

/// Where the original rows of a group and the columns of a block come from, for the
/// exact recheck: rows `row0 + r` of `x`, columns `b * LANES + j` of `y`.
pub struct Originals<'a, 'v, T> {
    pub x: &'a ArrayView2<'v, T>,
    pub y: &'a ArrayView2<'v, T>,
    pub factor: f64,
}

/// Exact |x - y|^2 in f64 from coordinate differences.
#[inline(never)]
fn exact_sqdist<T: Real>(x: ArrayView1<'_, T>, y: ArrayView1<'_, T>) -> f64 {
    let mut s = 0.0f64;
    for (&a, &b) in x.iter().zip(y.iter()) {
        let t = a.to_f64() - b.to_f64();
        s += t * t;
    }
    s
}

/// Coordinates per k-chunk of the microkernel: a block's slice of them (16 KiB) stays
/// in L1 while every row group of the tile passes over it.
pub const fn k_chunk<T>() -> usize {
    16 * 1024 / (LANES * std::mem::size_of::<T>())
}

/// Squared distances from the inner products `dot` of the `G` rows of a group (squared
/// norms `row_norms`) with the `LANES` points of block `b`:
/// `out[r][j] = |x_(row0 + r) - y_(b LANES + j)|^2`, exact to the recheck's bound.
/// `live(r, j)` says which pairs the caller uses (padding and masked pairs are not
/// rechecked); the others hold the expansion's value, clamped at 0.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn finish_sqdist<T: Real, const G: usize>(
    dot: &[[T; LANES]; G],
    row_norms: &[f64],
    cols: &GramPoints<T>,
    b: usize,
    row0: usize,
    src: &Originals<'_, '_, T>,
    live: impl Fn(usize, usize) -> bool,
    out: &mut [[f64; LANES]; G],
) {
    let (_, ny, _) = cols.block(b);
    let row_norms: &[f64; G] = row_norms.try_into().unwrap();
    let mut suspect = false;
    for r in 0..G {
        for j in 0..LANES {
            let s = row_norms[r] + ny[j];
            let d2 = s - 2.0 * dot[r][j].to_f64();
            suspect |= d2 < src.factor * s;
            out[r][j] = d2.max(0.0);
        }
    }
    if suspect {
        recheck(row_norms, ny, b, row0, src, &live, out);
    }
}

/// The slow path of [`finish_sqdist`]: recompute the suspect live pairs by differences.
#[inline(never)]
fn recheck<T: Real, const G: usize>(
    row_norms: &[f64; G],
    ny: &[f64; LANES],
    b: usize,
    row0: usize,
    src: &Originals<'_, '_, T>,
    live: &impl Fn(usize, usize) -> bool,
    out: &mut [[f64; LANES]; G],
) {
    for r in 0..G {
        let i = row0 + r;
        if i >= src.x.nrows() {
            break;
        }
        for j in 0..LANES {
            let col = b * LANES + j;
            if col >= src.y.nrows() || !live(r, j) {
                continue;
            }
            let s = row_norms[r] + ny[j];
            if out[r][j] < src.factor * s {
                out[r][j] = exact_sqdist(src.x.row(i), src.y.row(col));
            }
        }
    }
}
