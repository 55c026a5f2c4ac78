//! Pairwise kernel sums: MMD and its permutation test, energy distance, the median
//! heuristic, Gaussian KDE and the kernel Stein discrepancy.
//!
//! - `pairsum`: the engine, sum_ij w_i v_j k(x_i, y_j), row sums K v and sums over
//!   i != j, without an n x m matrix (rows tiled for L1, fixed-order compensated
//!   reductions), on either path of `crate::pairwise` (coordinate differences, or the
//!   Gram expansion in high dimension).
//! - `mmd`: the MMD^2 estimators (unbiased, biased, linear) and energy distance.
//! - `mmd_null`: the permutation null distribution of the unbiased MMD^2 in one pass.
//! - `mmd_agg`: the same for a collection of kernels at once (the aggregated test).
//! - `median`: the median of the pairwise distances (bandwidth heuristic).
//! - `logsumexp`: streaming Gaussian log-sum-exp, the KDE log-density after whitening.
//! - `stein`: the Stein kernel in tiles, KSD^2 and its wild bootstrap.

pub mod logsumexp;
pub mod median;
pub mod mmd;
pub mod mmd_agg;
pub mod mmd_null;
pub mod pairsum;
pub mod stein;
