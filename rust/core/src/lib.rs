#![deny(unsafe_op_in_unsafe_fn)]
//! divergent-core: the numerical engine of the `divergent` Python package.
//!
//! Pure Rust, no Python: routines take `ndarray` views and return numbers or vectors.
//! Parallel routines run on the Rayon pool they are called from (the binding installs
//! its own) and give bitwise identical results for any number of threads.
//!
//! The engine's modules are private; the public API is the items re-exported here:
//!
//! - Kernel sums: [`Kernel`], [`mmd_squared`] ([`MmdEstimator`]), [`energy_distance`],
//!   [`cross_sum`], [`cross_sum_on`], [`self_sum_offdiag`], [`self_sum_offdiag_on`],
//!   [`row_sums`] (on the path [`PairPath`], [`use_gram`]), [`median_pairwise_distance`],
//!   [`gaussian_logsumexp`], [`mmd_permutation_null`], [`mmd_permutation_block_sums`]
//!   ([`BlockSums`]), [`ksd_squared`], [`ksd_wild_bootstrap`] ([`SteinBase`]).
//! - Independence: [`centred_sums`] ([`Centring`], [`CentredSums`]) of paired samples'
//!   kernel or distance matrices, [`permuted_centred_sums`] (the permutation null),
//!   ([`PermutedSums`]), [`distance_centred_sums_1d`] and [`distance_permuted_sums_1d`]
//!   (O(n log n) for 1-D samples).
//! - Divergences of logits: [`rowwise_from_logits`] ([`LogitDivergence`]),
//!   [`rowwise_kl_and_top_tokens`] ([`TopTokens`]) on [`Logit`]
//!   elements: f32, f64, and [`F16`] / [`Bf16`] seen in u16 bits by [`half_view`].
//! - k-NN: [`knn_search`] ([`Search`]), [`kth_self_and_cross`], [`ksg_counts`]
//!   ([`KsgRadius`]), [`ball_counts`], [`KdTree`] ([`Metric`], [`Neighbours`]),
//!   [`count_self`], [`count_cross`].
//! - Optimal transport: [`sinkhorn`], [`sinkhorn_symmetric`], [`sinkhorn_multiscale`],
//!   [`sinkhorn_symmetric_multiscale`] ([`SinkhornConfig`], [`SinkhornOutput`],
//!   [`skip_allowance`]) on a [`Softmin`] ([`MatrixCost`], [`CloudCost`],
//!   [`GibbsKernel`], [`Coarse`], [`Side`]); [`wasserstein_1d_pow`],
//!   [`sliced_wasserstein_pow`].
//! - Sampling: [`langevin`] ([`LangevinConfig`], [`LangevinTrace`], [`Method`]) and
//!   [`hmc`] ([`HmcConfig`], [`HmcTrace`], [`InverseMass`], [`MetricAdaptation`]) on a
//!   [`BatchTarget`] ([`Builtin`], [`GaussianComponent`]), [`svgd_direction`],
//!   [`chain_draws`] ([`Stream`]).
//! - Running: [`Control`] (cancellation and progress), [`CoreError`], [`Result`], the
//!   element types [`Real`] (f32, f64) and the SIMD level [`Isa`] detected at run time.

// The engine is private: the crate's public API is what is re-exported below.
mod arith;
mod big_buffer;
mod control;
mod discrete;
mod error;
mod independence;
mod kernel;
mod knn;
mod ot;
mod pairwise;
mod sampling;

#[cfg(test)]
mod test_util;

pub use arith::simd::Isa;
pub use control::Control;
pub use discrete::half::{half_view, Bf16, HalfBits, F16};
pub use discrete::logits::{
    rowwise_from_logits, rowwise_kl_and_top_tokens, Logit, LogitDivergence,
};
pub use discrete::top_tokens::TopTokens;
pub use error::{CoreError, Result};
pub use independence::distance_1d::{distance_centred_sums_1d, distance_permuted_sums_1d};
pub use independence::permutation::{permuted_centred_sums, PermutedSums};
pub use independence::{centred_sums, CentredSums, Centring};
pub use kernel::logsumexp::gaussian_logsumexp;
pub use kernel::median::{median_pairwise_distance, pairwise_distance_quantile};
pub use kernel::mmd::{energy_distance, mmd_squared, MmdEstimator};
pub use kernel::mmd_agg::mmd_agg_statistics;
pub use kernel::mmd_null::{mmd_permutation_block_sums, mmd_permutation_null, BlockSums};
pub use kernel::pairsum::{
    cross_sum, cross_sum_on, row_sums, self_sum_offdiag, self_sum_offdiag_on,
};
pub use kernel::stein::{ksd_squared, ksd_wild_bootstrap, SteinBase};
pub use knn::ball_counts::ball_counts;
pub use knn::brute::{knn_search, Search};
pub use knn::counts::{ksg_counts, kth_self_and_cross, KsgRadius};
pub use knn::kdtree::{count_cross, count_self, KdTree, Metric, Neighbours};
pub use ot::gibbs_kernel::GibbsKernel;
pub use ot::network_simplex::{network_simplex, EmdSolution, EmdStatus};
pub use ot::point_costs::point_costs;
pub use ot::sinkhorn::{
    sinkhorn, sinkhorn_multiscale, sinkhorn_symmetric, sinkhorn_symmetric_multiscale,
    skip_allowance, SinkhornConfig, SinkhornOutput,
};
pub use ot::softmin::{CloudCost, Coarse, MatrixCost, Side, Softmin};
pub use ot::wasserstein1d::{sliced_wasserstein_pow, wasserstein_1d_pow};
pub use pairwise::kernels::Kernel;
pub use pairwise::{use_gram, PairPath, Real};
pub use sampling::chain_rng::{chain_draws, Stream};
pub use sampling::hmc::{hmc, HmcConfig, HmcTrace, InverseMass, MetricAdaptation};
pub use sampling::langevin::{langevin, LangevinConfig, LangevinTrace, Method};
pub use sampling::smc::{smc, Kernel as SmcKernel, Reference, SmcConfig, SmcResult};
pub use sampling::svgd::svgd_direction;
pub use sampling::targets::{BatchTarget, Builtin, GaussianComponent};
