//! Optimal transport: entropic OT by log-domain Sinkhorn, exact OT by the network
//! simplex, and exact 1-D and sliced Wasserstein distances.
//!
//! - `softmin`: the soft-min lse_i = ln sum_j exp(w_j - C_ij / eps) that every Sinkhorn
//!   iteration computes, streamed over point clouds (costs on the fly, truncated on a
//!   block tree) or read from a cost matrix.
//! - `gibbs_kernel`: the same soft-min from a stored Gibbs kernel with absorbed
//!   potentials, where the n x m kernel fits in memory and truncation prunes little.
//! - `sinkhorn`: the iterations over either soft-min: balanced and unbalanced, with
//!   epsilon-scaling, multiscale annealing, over-relaxation and the symmetric problems
//!   of the Sinkhorn divergence.
//! - `network_simplex`: the exact transport plan between histograms, with its duals.
//! - `point_costs`: the dense cost matrix |x_i - y_j|^p of two point clouds for it.
//! - `wasserstein1d`: exact W_p between 1-D samples from sorted quantiles, and sliced
//!   Wasserstein over random projections.

pub mod gibbs_kernel;
pub mod network_simplex;
pub mod point_costs;
pub mod sinkhorn;
pub mod softmin;
pub mod wasserstein1d;
