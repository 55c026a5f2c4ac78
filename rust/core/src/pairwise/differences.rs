//! The difference path: points packed in blocks of `LANES`, coordinate-major (block b,
//! coordinate k holds `LANES` contiguous values), and squared distances
//! sum_k (x_k - y_k)^2 from a row to a block by a straight run of SIMD subtract/FMA.
//! Differences never cancel, so near-duplicate points stay exact.

use ndarray::{ArrayView1, ArrayView2};
use rayon::prelude::*;

use crate::arith::exp::fma;
use crate::pairwise::{Real, LANES};

/// Points packed in blocks of `LANES`, zero-padded with zero weights.
pub(crate) struct PackedPoints {
    d: usize,
    coords: Vec<f64>,
    weights: Vec<f64>,
}

impl PackedPoints {
    /// Pack `x` (any strides) with weights `w` (default 1); padding lanes weigh 0.
    pub(crate) fn pack<T: Real>(x: ArrayView2<'_, T>, w: Option<ArrayView1<'_, f64>>) -> Self {
        Self::pack_padded(x, w, 0.0)
    }

    /// Pack with `pad` as the weight of the padding lanes.
    pub(crate) fn pack_padded<T: Real>(
        x: ArrayView2<'_, T>,
        w: Option<ArrayView1<'_, f64>>,
        pad: f64,
    ) -> Self {
        let (n, d) = x.dim();
        let n_blocks = n.div_ceil(LANES);
        let mut coords = vec![0.0; n_blocks * d * LANES];
        let mut weights = vec![pad; n_blocks * LANES];
        if d > 0 {
            coords
                .par_chunks_mut(d * LANES)
                .zip(weights.par_chunks_mut(LANES))
                .enumerate()
                .for_each(|(b, (c, wt))| {
                    for j in 0..LANES.min(n - b * LANES) {
                        let i = b * LANES + j;
                        for k in 0..d {
                            c[k * LANES + j] = x[[i, k]].to_f64();
                        }
                        wt[j] = w.map_or(1.0, |w| w[i]);
                    }
                });
        }
        Self { d, coords, weights }
    }

    pub(crate) fn dim(&self) -> usize {
        self.d
    }

    pub(crate) fn n_blocks(&self) -> usize {
        self.weights.len() / LANES
    }

    /// Squared distances from `xrow` to the `LANES` points of block `b` (padding lanes
    /// hold the distance to the origin and must be ignored by the caller).
    #[inline(always)]
    pub(crate) fn block_sqdist<const FMA: bool>(&self, xrow: &[f64], b: usize) -> [f64; LANES] {
        let mut d2 = [0.0f64; LANES];
        block_sqdist_into::<FMA>(xrow, self.block(b).0, &mut d2);
        d2
    }

    #[inline(always)]
    pub(crate) fn block(&self, b: usize) -> (&[f64], &[f64; LANES]) {
        let c = &self.coords[b * self.d * LANES..(b + 1) * self.d * LANES];
        let w = self.weights[b * LANES..(b + 1) * LANES].try_into().unwrap();
        (c, w)
    }
}

/// Pairwise (fixed tree) sum of the lanes.
#[inline(always)]
pub(crate) fn hsum(acc: &[f64; LANES]) -> f64 {
    let mut v = *acc;
    let mut width = LANES / 2;
    while width > 0 {
        for j in 0..width {
            v[j] += v[j + width];
        }
        width /= 2;
    }
    v[0]
}

/// d2_j += |x - y_j|^2 for the `LANES` points of one block.
#[inline(always)]
pub(crate) fn block_sqdist_into<const FMA: bool>(
    xrow: &[f64],
    coords: &[f64],
    d2: &mut [f64; LANES],
) {
    for (yk, &xk) in coords.chunks_exact(LANES).zip(xrow) {
        let yk: &[f64; LANES] = yk.try_into().unwrap();
        for j in 0..LANES {
            let t = xk - yk[j];
            d2[j] = fma::<FMA>(t, t, d2[j]);
        }
    }
}
