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
//! pair whose computed d2 is below a safety factor S times that bound
//! ([`recheck_factor`]) is recomputed in f64 by coordinate differences of the original
//! (uncentred) values, so every pair that passes has a relative error below 1 / S in
//! the worst case (and far below in practice, the products' errors being random).
//! Only near-duplicate pairs take the slow path: for random points d2 is about
//! |x|^2 + |y|^2.

use std::ops::Range;

use ndarray::{ArrayView1, ArrayView2};
use rayon::prelude::*;

use super::real::Real;
use super::{with_group_rows, LANES};
use crate::arith::simd::{dispatch, Isa, IsaJob};
use crate::big_buffer;
use crate::control::Control;
use crate::error::{invalid, Result};

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
/// are zero with weight 0. They keep the centre (the rows packed against them are
/// centred on it) and the recheck factor of their dimension.
pub struct GramPoints<T> {
    d: usize,
    n: usize,
    coords: Vec<T>,
    norms: Vec<f64>,
    weights: Vec<f64>,
    centre: Vec<f64>,
    factor: f64,
}

impl<T: Real> GramPoints<T> {
    /// Pack `x` with weights `w` (default 1), centred on the pooled mean of `rows_too`
    /// (the sample whose rows will be packed against these points, if not `x` itself)
    /// and `x`.
    pub fn pack(
        x: ArrayView2<'_, T>,
        w: Option<ArrayView1<'_, f64>>,
        rows_too: Option<ArrayView2<'_, T>>,
    ) -> Self {
        let centre = match rows_too {
            Some(r) => pooled_mean(&[r, x.view()]),
            None => pooled_mean(&[x.view()]),
        };
        Self::pack_on(x, w, centre)
    }

    /// Pack `x` with weights `w` (default 1) centred on `centre` (f64, one per feature;
    /// zeros for values that must not be shifted, such as scores).
    pub fn pack_on(x: ArrayView2<'_, T>, w: Option<ArrayView1<'_, f64>>, centre: Vec<f64>) -> Self {
        let (n, d) = x.dim();
        debug_assert_eq!(centre.len(), d);
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
            centre,
            factor: recheck_factor::<T>(d),
        }
    }

    /// The centre the points were packed on.
    pub fn centre(&self) -> &[f64] {
        &self.centre
    }

    /// The recheck factor: pairs with d2 < factor (|x|^2 + |y|^2) are recomputed.
    pub fn factor(&self) -> f64 {
        self.factor
    }

    pub fn dim(&self) -> usize {
        self.d
    }

    pub fn len(&self) -> usize {
        self.n
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
    /// Rows `rows` of `x`, centred on the centre of the points `cols` they meet.
    pub fn pack(x: &ArrayView2<'_, T>, rows: Range<usize>, g: usize, cols: &GramPoints<T>) -> Self {
        let centre = &cols.centre;
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

/// The inner products of every row group of `rows` with every block of `blocks`:
/// `dots[q * blocks.len() + b - blocks.start]` for group q and block b, blocked as a
/// GEMM: a block's k-chunk stays in L1 while all the groups pass over it.
#[inline(always)]
pub fn chunk_dots<T: Real, const G: usize, const FMA: bool>(
    isa: Isa,
    rows: &GramRows<T>,
    cols: &GramPoints<T>,
    blocks: Range<usize>,
    dots: &mut [[[T; LANES]; G]],
) {
    let (d, kc, width) = (cols.dim(), k_chunk::<T>(), blocks.len());
    dots.iter_mut()
        .for_each(|t| *t = [[T::default(); LANES]; G]);
    let mut k0 = 0;
    while k0 < d {
        let k1 = (k0 + kc).min(d);
        for b in blocks.clone() {
            let (c, _, _) = cols.block(b);
            let c = &c[k0 * LANES..k1 * LANES];
            for q in 0..rows.n_groups() {
                let (gx, _) = rows.group(q);
                T::dots::<G, FMA>(
                    isa,
                    &gx[k0 * G..k1 * G],
                    c,
                    &mut dots[q * width + b - blocks.start],
                );
            }
        }
        k0 = k1;
    }
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
            suspect |= d2 < cols.factor * s;
            out[r][j] = d2.max(0.0);
        }
    }
    if suspect {
        recheck(row_norms, ny, cols.factor, b, row0, src, &live, out);
    }
}

/// The slow path of [`finish_sqdist`]: recompute the suspect live pairs by differences.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn recheck<T: Real, const G: usize>(
    row_norms: &[f64; G],
    ny: &[f64; LANES],
    factor: f64,
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
            if out[r][j] < factor * s {
                out[r][j] = exact_sqdist(src.x.row(i), src.y.row(col));
            }
        }
    }
}

/// What the tile driver [`gram_tiles`] hands each tile of squared distances to.
pub trait TileVisitor<const G: usize> {
    /// `d2[r][j] = |x_(row0 + r) - y_(b LANES + j)|^2` for the group of rows starting at
    /// `row0` and block `b` (rows past the tile and padding lanes hold values to ignore).
    fn visit(&mut self, row0: usize, b: usize, d2: &[[f64; LANES]; G]);
}

/// The Gram path's tile loop: rows `rows` of `src.x` against the blocks `blocks` of
/// `cols` (the points of `src.y`), `G` rows at a time, blocked as a GEMM: for each chunk
/// of `chunk_blocks` column blocks, the inner products of every row group with every
/// block are accumulated k-chunk by k-chunk ([`chunk_dots`]), then finished into
/// squared distances ([`finish_sqdist`], every pair live) and visited in a fixed order
/// (chunk, group, block), so that sums taken in the visitor do not depend on threads.
#[inline(always)]
pub fn gram_tiles<T: Real, V: TileVisitor<G>, const G: usize, const FMA: bool>(
    isa: Isa,
    src: &Originals<'_, '_, T>,
    rows: Range<usize>,
    cols: &GramPoints<T>,
    blocks: Range<usize>,
    chunk_blocks: usize,
    visitor: &mut V,
) {
    let packed = GramRows::pack(src.x, rows.clone(), G, cols);
    let n_groups = packed.n_groups();
    let nb = blocks.end;
    let mut dots = vec![[[T::default(); LANES]; G]; n_groups * chunk_blocks];
    let mut d2 = [[0.0f64; LANES]; G];
    let mut b0 = blocks.start;
    while b0 < nb {
        let b1 = (b0 + chunk_blocks).min(nb);
        let width = b1 - b0;
        chunk_dots::<T, G, FMA>(isa, &packed, cols, b0..b1, &mut dots);
        for q in 0..n_groups {
            let (_, gn) = packed.group(q);
            let row0 = rows.start + q * G;
            for b in b0..b1 {
                let dot = &dots[q * width + b - b0];
                finish_sqdist(dot, gn, cols, b, row0, src, |_, _| true, &mut d2);
                visitor.visit(row0, b, &d2);
            }
        }
        b0 = b1;
    }
}

/// Rows per parallel task of [`squared_distances`], and column blocks per chunk: as
/// for the kernel sums (`kernel::pairsum`), the columns brought from memory serve 256
/// rows, and a chunk's k-chunk, the tile's and their inner products stay in L2.
const MATRIX_ROW_TILE: usize = 256;
const MATRIX_CHUNK_BLOCKS: usize = 8;

/// The n x m matrix of squared distances |x_i - y_j|^2 (row-major) on the Gram path,
/// each entry exact to the recheck's bound; `advice` says what needs less memory if the
/// matrix cannot be allocated.
pub fn squared_distances<T: Real>(
    x: ArrayView2<'_, T>,
    y: ArrayView2<'_, T>,
    advice: &str,
    ctl: &Control,
) -> Result<Vec<f64>> {
    let (n, m, d) = (x.nrows(), y.nrows(), x.ncols());
    if y.ncols() != d {
        return invalid(format!(
            "x and y must have the same number of features, got {d} and {}",
            y.ncols()
        ));
    }
    let isa = Isa::current();
    let cols = GramPoints::pack(y.view(), None, Some(x.view()));
    let src = Originals { x: &x, y: &y };
    let mut out = big_buffer::zeroed(n * m, "the n x m cost matrix", advice)?;
    if m > 0 {
        out.par_chunks_mut(MATRIX_ROW_TILE * m)
            .enumerate()
            .for_each(|(t, tile)| {
                if ctl.is_cancelled() {
                    return;
                }
                let r0 = t * MATRIX_ROW_TILE;
                let job = MatrixJob {
                    isa,
                    rows: r0..(r0 + MATRIX_ROW_TILE).min(n),
                    cols: &cols,
                    src: &src,
                    out: tile,
                };
                dispatch(isa, job)
            });
    }
    ctl.check()?;
    Ok(out)
}

/// One row tile of [`squared_distances`] as a job for [`dispatch`].
struct MatrixJob<'a, 'x, T> {
    isa: Isa,
    rows: Range<usize>,
    cols: &'a GramPoints<T>,
    src: &'a Originals<'a, 'x, T>,
    out: &'a mut [f64],
}

impl<T: Real> IsaJob for MatrixJob<'_, '_, T> {
    type Output = ();
    #[inline(always)]
    fn run<const FMA: bool>(self) {
        with_group_rows!(self.isa, T, |G| matrix_tile::<T, G, FMA>(self))
    }
}

/// Copies each tile of squared distances into the row-major output.
struct MatrixCopy<'a> {
    r0: usize,
    r1: usize,
    m: usize,
    out: &'a mut [f64],
}

impl<const G: usize> TileVisitor<G> for MatrixCopy<'_> {
    #[inline(always)]
    fn visit(&mut self, row0: usize, b: usize, d2: &[[f64; LANES]; G]) {
        let (j0, w) = (b * LANES, LANES.min(self.m - b * LANES));
        for (r, d2r) in d2
            .iter()
            .enumerate()
            .take(self.r1.saturating_sub(row0).min(G))
        {
            let at = (row0 + r - self.r0) * self.m + j0;
            self.out[at..at + w].copy_from_slice(&d2r[..w]);
        }
    }
}

#[inline(always)]
fn matrix_tile<T: Real, const G: usize, const FMA: bool>(job: MatrixJob<'_, '_, T>) {
    let MatrixJob {
        isa,
        rows,
        cols,
        src,
        out,
    } = job;
    let mut copy = MatrixCopy {
        r0: rows.start,
        r1: rows.end,
        m: cols.len(),
        out,
    };
    gram_tiles::<T, _, G, FMA>(
        isa,
        src,
        rows,
        cols,
        0..cols.n_blocks(),
        MATRIX_CHUNK_BLOCKS,
        &mut copy,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::random_points;

    #[test]
    fn squared_distances_are_exact_where_the_expansion_cancels() {
        let ctl = Control::new();
        for &(n, m, d) in &[(1, 1, 16), (9, 17, 20), (70, 33, 64), (65, 130, 257)] {
            // Far from the origin, y partly a copy of x moved by 1e-6: near-duplicates.
            let x = random_points(n, d, 1) + 1e3;
            let mut y = random_points(m, d, 2) + 1e3;
            for j in 0..m.min(n) / 2 {
                let moved = x.row(j).mapv(|v| v + 1e-6);
                y.row_mut(j).assign(&moved);
            }
            let got = squared_distances(x.view(), y.view(), "", &ctl).unwrap();
            for i in 0..n {
                for j in 0..m {
                    let want = exact_sqdist(x.row(i), y.row(j));
                    let g = got[i * m + j];
                    assert!(
                        (g - want).abs() <= 1e-10 * want,
                        "{n}x{m}x{d} ({i}, {j}): {g} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn float32_squared_distances_are_those_of_the_float32_values() {
        let ctl = Control::new();
        let x = random_points(40, 96, 3).mapv(|v| (v + 50.0) as f32);
        let y = random_points(30, 96, 4).mapv(|v| (v + 50.0) as f32);
        let got = squared_distances(x.view(), y.view(), "", &ctl).unwrap();
        for i in 0..40 {
            for j in 0..30 {
                let want = exact_sqdist(x.row(i), y.row(j));
                let g = got[i * 30 + j];
                assert!((g - want).abs() <= 1e-4 * want, "({i}, {j}): {g} vs {want}");
            }
        }
    }
}
