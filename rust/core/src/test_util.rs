//! Helpers shared by the unit tests: a tiny deterministic generator and naive sums.

use ndarray::{Array2, ArrayView1, ArrayView2};

use crate::pairwise::kernels::Kernel;

/// |x_i - y_j|^p for all pairs.
pub fn cost_matrix(x: &Array2<f64>, y: &Array2<f64>, p: f64) -> Array2<f64> {
    Array2::from_shape_fn((x.nrows(), y.nrows()), |(i, j)| {
        let d2: f64 = (0..x.ncols())
            .map(|k| (x[[i, k]] - y[[j, k]]).powi(2))
            .sum();
        d2.powf(p / 2.0)
    })
}

/// Points with coordinates in [-2, 2) from a SplitMix64 stream.
pub fn random_points(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    Array2::from_shape_fn((n, d), |_| {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        4.0 * ((z >> 11) as f64 / (1u64 << 53) as f64) - 2.0
    })
}

fn sqdist(a: ArrayView1<'_, f64>, b: ArrayView1<'_, f64>) -> f64 {
    a.iter().zip(b.iter()).map(|(p, q)| (p - q) * (p - q)).sum()
}

/// Naive double loop with libm's exp, compensated.
pub fn naive_cross(
    x: &ArrayView2<'_, f64>,
    wx: Option<ArrayView1<'_, f64>>,
    y: &ArrayView2<'_, f64>,
    wy: Option<ArrayView1<'_, f64>>,
    kernel: Kernel,
) -> f64 {
    let mut acc = crate::arith::sum::Neumaier::new();
    for i in 0..x.nrows() {
        for j in 0..y.nrows() {
            let w = wx.map_or(1.0, |w| w[i]) * wy.map_or(1.0, |w| w[j]);
            acc.add(w * libm_kernel(kernel, sqdist(x.row(i), y.row(j))));
        }
    }
    acc.value()
}

/// Naive sum over i != j.
pub fn naive_self(x: &ArrayView2<'_, f64>, w: Option<ArrayView1<'_, f64>>, kernel: Kernel) -> f64 {
    let mut acc = crate::arith::sum::Neumaier::new();
    for i in 0..x.nrows() {
        for j in 0..x.nrows() {
            if i != j {
                let wij = w.map_or(1.0, |w| w[i] * w[j]);
                acc.add(wij * libm_kernel(kernel, sqdist(x.row(i), x.row(j))));
            }
        }
    }
    acc.value()
}

fn libm_kernel(kernel: Kernel, d2: f64) -> f64 {
    match kernel {
        Kernel::Gaussian { bandwidth: h } => (-d2 / (2.0 * h * h)).exp(),
        Kernel::Laplace { bandwidth: h } => (-d2.sqrt() / h).exp(),
        Kernel::Imq { bandwidth: h } => 1.0 / (1.0 + d2 / (h * h)).sqrt(),
        Kernel::Energy => -d2.sqrt(),
    }
}
