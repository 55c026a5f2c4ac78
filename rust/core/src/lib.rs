#![deny(unsafe_op_in_unsafe_fn)]
//! divergent-core: the numerical engine of the `divergent` Python package.
//!
//! Pure Rust, no Python: routines take `ndarray` views and return numbers or vectors.
//! Parallel routines run on the Rayon pool they are called from (the binding installs
//! its own) and give bitwise identical results for any number of threads.

pub mod arith;
pub mod big_buffer;
pub mod control;
pub mod discrete;
pub mod error;
pub mod kernel;
pub mod knn;
pub mod ot;
pub mod pairwise;
pub mod sampling;

#[cfg(test)]
mod test_util;

pub use arith::simd::Isa;
pub use control::Control;
pub use discrete::logits::{rowwise_from_logits, LogitDivergence};
pub use error::{CoreError, Result};
pub use kernel::kernels::Kernel;
pub use kernel::logsumexp::gaussian_logsumexp;
pub use kernel::median::median_pairwise_distance;
pub use kernel::mmd::{energy_distance, mmd_squared, MmdEstimator};
pub use kernel::mmd_null::{mmd_permutation_block_sums, mmd_permutation_null, BlockSums};
pub use kernel::pairsum::{
    cross_sum, cross_sum_on, row_sums, self_sum_offdiag, self_sum_offdiag_on,
};
pub use kernel::stein::{ksd_squared, ksd_wild_bootstrap, SteinBase};
pub use knn::counts::{ksg_counts, kth_self_and_cross, KsgRadius};
pub use knn::kdtree::{KdTree, Metric, Neighbours};
pub use ot::gibbs_kernel::GibbsKernel;
pub use ot::sinkhorn::{
    sinkhorn, sinkhorn_multiscale, sinkhorn_symmetric, sinkhorn_symmetric_multiscale,
    skip_allowance, SinkhornConfig, SinkhornOutput,
};
pub use ot::softmin::{CloudCost, Coarse, MatrixCost, Side, Softmin};
pub use ot::wasserstein1d::{sliced_wasserstein_pow, wasserstein_1d_pow};
pub use pairwise::{PairPath, Real};
pub use sampling::chain_rng::{chain_draws, Stream};
pub use sampling::langevin::{langevin, LangevinConfig, LangevinTrace, Method};
pub use sampling::svgd::svgd_direction;
pub use sampling::targets::{BatchTarget, Builtin, GaussianComponent};
