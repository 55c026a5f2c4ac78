//! divergent-core: the numerical engine of the `divergent` Python package.
//!
//! Pure Rust, no Python: routines take `ndarray` views and return numbers or vectors.
//! Parallel routines run on the Rayon pool they are called from (the binding installs
//! its own) and give bitwise identical results for any number of threads.

pub mod big_buffer;
pub mod chain_rng;
pub mod control;
pub mod error;
pub mod exp;
pub mod gibbs_kernel;
pub mod kdtree;
pub(crate) mod kernel_product;
pub mod kernels;
pub mod knn;
pub mod langevin;
pub mod ln;
pub mod logits;
pub mod logsumexp;
pub mod median;
pub mod mmd;
pub mod mmd_null;
pub mod pairsum;
pub mod simd;
pub mod sinkhorn;
pub mod softmin;
pub mod sorted_counts;
pub mod stein;
pub mod sum;
pub mod svgd;
pub mod targets;
pub mod wasserstein1d;

#[cfg(test)]
mod test_util;

pub use chain_rng::{chain_draws, Stream};
pub use control::Control;
pub use error::{CoreError, Result};
pub use gibbs_kernel::GibbsKernel;
pub use kdtree::{KdTree, Metric, Neighbours};
pub use kernels::Kernel;
pub use knn::{ksg_counts, kth_self_and_cross, KsgRadius};
pub use langevin::{langevin, LangevinConfig, LangevinTrace, Method};
pub use logits::{rowwise_from_logits, LogitDivergence};
pub use logsumexp::gaussian_logsumexp;
pub use median::median_pairwise_distance;
pub use mmd::{energy_distance, mmd_squared, MmdEstimator};
pub use mmd_null::mmd_permutation_null;
pub use pairsum::{cross_sum, row_sums, self_sum_offdiag};
pub use simd::Isa;
pub use sinkhorn::{
    sinkhorn, sinkhorn_multiscale, sinkhorn_symmetric, sinkhorn_symmetric_multiscale,
    skip_allowance, SinkhornConfig, SinkhornOutput,
};
pub use softmin::{CloudCost, Coarse, MatrixCost, Side, Softmin};
pub use stein::{ksd_squared, ksd_wild_bootstrap, SteinBase};
pub use svgd::svgd_direction;
pub use targets::{BatchTarget, Builtin, GaussianComponent};
pub use wasserstein1d::{sliced_wasserstein_pow, wasserstein_1d_pow};
