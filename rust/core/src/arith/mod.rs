//! The vectorised arithmetic every family builds on.
//!
//! - `simd`: run-time choice of the instruction set (AVX-512, AVX2 + FMA, baseline) and
//!   the `IsaJob` dispatch through which every hot loop is compiled once per level.
//! - `exp`, `ln`: branch-free exponential and logarithm that LLVM vectorises (within
//!   2 ulp of libm), for kernel evaluations and log-sum-exps on SIMD lanes.
//! - `sum`: compensated (Neumaier) summation and the fixed-order reductions that make
//!   results independent of the thread count.

pub mod exp;
pub mod ln;
pub mod simd;
pub mod sum;
