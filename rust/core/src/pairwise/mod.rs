//! The pairwise engine shared by the families: squared distances between tiles of
//! points, by one of two paths chosen from the dimension and the element type.
//!
//! - Differences (`differences`: points packed in SIMD blocks): sum_k (x_k - y_k)^2, a
//!   subtract and an FMA per coordinate, exact by construction; the faster path in low
//!   dimension, where a pair's cost is dominated by the kernel evaluated on it.
//! - Gram (`gram`): |x|^2 + |y|^2 - 2 x.y after centring on the pooled mean, the
//!   inner products from a register-blocked microkernel (one FMA per coordinate, each
//!   column coordinate loaded once per group of rows), computed in the input's own
//!   precision, and any pair within the expansion's error bound recomputed by
//!   differences in f64; the faster path from a few dozen dimensions up.
//! - `microkernel`: the inner products of a group of rows with a block of points, in
//!   AVX-512 and AVX2 intrinsics (and a portable loop for the baseline).
//! - `real`: the element types (f64, f32) the paths compute in.
//! - `kernels`: the radial kernels of the public contract, k(x, y) = phi(|x - y|^2).
//! - `kernel_product`: streamed products U = K V with many columns at once (the
//!   permutation and bootstrap tests, SVGD), over the tiles of a kernel matrix that
//!   `tiles` computes on either path.

pub(crate) mod differences;
pub mod gram;
pub(crate) mod kernel_product;
pub mod kernels;
pub mod microkernel;
pub mod real;
pub(crate) mod tiles;

pub use real::Real;

/// Points per packed block (the SIMD width of the pair loops).
pub const LANES: usize = 16;

/// Run `$body` with the const `$g` bound to the rows per group of the Gram microkernels
/// on `$isa` for element type `$t`: as many as keep the G x LANES accumulators (and one
/// block's coordinate) in the vector registers: 32 of 64 bytes with AVX-512, 16 of 32
/// bytes with AVX2, 16 of 16 bytes without.
macro_rules! with_group_rows {
    ($isa:expr, $t:ty, |$g:ident| $body:expr) => {{
        use $crate::arith::simd::Isa;
        match ($isa, std::mem::size_of::<$t>() == 4) {
            (Isa::Avx512, _) => {
                const $g: usize = 8;
                $body
            }
            (Isa::Avx2Fma, true) => {
                const $g: usize = 4;
                $body
            }
            (Isa::Avx2Fma, false) | (Isa::Baseline, true) => {
                const $g: usize = 2;
                $body
            }
            (Isa::Baseline, false) => {
                const $g: usize = 1;
                $body
            }
        }
    }};
}
pub(crate) use with_group_rows;

/// Which way squared distances are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairPath {
    /// The faster for the dimension and element type ([`use_gram`]).
    Auto,
    /// Coordinate differences.
    Differences,
    /// The Gram expansion with its exact recheck.
    Gram,
}

impl PairPath {
    /// Whether `d`-dimensional points of type `T` take the Gram path.
    pub fn gram<T: Real>(self, d: usize) -> bool {
        match self {
            PairPath::Auto => use_gram::<T>(d),
            PairPath::Differences => false,
            PairPath::Gram => true,
        }
    }
}

/// The dimension from which the Gram path is the faster one.
///
/// Measured with `cargo bench -p divergent-core --bench pairsum -- paths` (Gaussian
/// kernel sums, n = m = 2,000, 2 threads, Intel Xeon with AVX-512, and the same host
/// with `DIVERGENT_SIMD=avx2`), time of the Gram path over the difference path:
///
/// | d | f64 AVX-512 | f32 AVX-512 | f64 AVX2 | f32 AVX2 |
/// |---:|---:|---:|---:|---:|
/// | 8 | 1.23 | 1.13 | 0.94 | 1.04 |
/// | 12 | 1.16 | 1.10 | 0.94 | 1.00 |
/// | 16 | 0.99 | 0.81 | 0.83 | 0.80 |
/// | 32 | 0.75 | 0.60 | 0.82 | 0.61 |
/// | 128 | 0.49 | 0.35 | 0.60 | 0.36 |
/// | 512 | 0.38 | 0.23 | 0.62 | 0.31 |
///
/// Below d = 16 a pair's cost is mostly the kernel evaluated on it, which both paths
/// pay; the Gram path adds the norms and the recheck test.
pub const GRAM_FROM_D: usize = 16;

/// Whether pairs of `d`-dimensional points of type `T` take the Gram path.
pub fn use_gram<T: Real>(d: usize) -> bool {
    d >= GRAM_FROM_D
}
