//! Independence statistics of paired samples (x_i, y_i): HSIC and distance covariance.
//!
//! Both are sums over the pairs of two double-centred matrices, K of the x's and L of
//! the y's: HSIC with kernel matrices, the distance covariance with distance matrices
//! (the energy kernel -|x - y|, whose sign cancels in every product).
//!
//! - `centred`: the centred sums streamed in two passes over the pair engine's tiles
//!   (row sums, then the centred products), O(n) memory.
//! - `permutation`: the centred matrices stored once and the statistic for each
//!   permutation of the y's, for the permutation tests.
//! - `distance_1d`: the distance sums of two 1-D samples in O(n log n) (Huo & Szekely
//!   2016), without any pair loop.

pub mod centred;
pub mod distance_1d;
pub mod permutation;

pub use centred::{centred_sums, CentredSums, Centring};
