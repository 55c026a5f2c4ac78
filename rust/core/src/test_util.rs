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

/// `count` (at most 7) splits of `big_n` pooled points with `n` in the x group: the
/// first n, the last n, the even points, then the points i with (a i mod big_n) < n for
/// a = 7, 11, 13, 17 (permutations of the indices when a is prime to big_n).
pub fn split_masks(count: usize, big_n: usize, n: usize) -> Array2<bool> {
    Array2::from_shape_fn((count, big_n), |(p, i)| match p {
        0 => i < n,
        1 => i >= big_n - n,
        2 => i % 2 == 0 && i / 2 < n,
        _ => (i * [7, 11, 13, 17][p - 3]) % big_n < n,
    })
}
