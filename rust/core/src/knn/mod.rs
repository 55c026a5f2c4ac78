//! Exact nearest-neighbour search for the k-NN information estimators.
//!
//! - `distance`: the distance arithmetic every search shares (accumulation in the
//!   Euclidean or max-norm, the radius test, the k-best insertion), written once so that
//!   tree and sorted searches agree bit for bit with brute force.
//! - `kdtree`: the k-d tree: k nearest neighbours and radius counts, for self and cross
//!   queries.
//! - `brute`: exact Euclidean k nearest neighbours by brute force on the pair engine's
//!   Gram path, for high dimension, where a tree visits nearly every leaf.
//! - `max_norm`: max-norm k nearest neighbours and radius counts by SIMD brute force,
//!   for the KSG estimators in high dimension.
//! - `sorted_counts`: one-dimensional radius counts on sorted values (the KSG marginals).
//! - `ball_counts`: which pairs of two samples lie inside one point's k-NN ball (the
//!   precision, recall, density and coverage of generative models), on the Gram path.
//! - `counts`: the statistics the estimators need (k-th neighbour distances within and
//!   across samples, the KSG and Frenzel-Pompe counts) on top of those searches.

pub mod ball_counts;
pub mod brute;
pub mod counts;
pub(crate) mod distance;
pub mod kdtree;
pub mod max_norm;
pub mod sorted_counts;
