//! Data shared by the criterion benchmarks.

use ndarray::Array2;

/// n points in [0, 1)^d from a fixed linear congruential stream.
pub fn points(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut s = seed;
    Array2::from_shape_fn((n, d), |_| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    })
}
