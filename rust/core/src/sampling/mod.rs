//! Samplers on many chains at once.
//!
//! - `targets`: log-densities and gradients evaluated for all chains in one batch
//!   (Gaussian, Gaussian mixture, banana, funnel, or a caller's batch function).
//! - `langevin`: ULA, MALA and underdamped Langevin (BAOAB), preconditioned by a metric,
//!   with step-size adaptation.
//! - `hmc`: Hamiltonian Monte Carlo with a metric, jittered path lengths, dual-averaging
//!   step sizes, ChEES trajectory lengths and divergences.
//! - `metric`: the inverse mass matrix (identity, diagonal, dense) and its estimation
//!   from the pooled chains during burn-in.
//! - `smc`: adaptive tempered sequential Monte Carlo with a log-evidence estimate.
//! - `chain_rng`: per-chain random streams keyed by (seed, chain), so samples do not
//!   depend on the thread count.
//! - `svgd`: the Stein variational gradient descent direction, streamed.

pub mod chain_rng;
pub mod hmc;
pub mod langevin;
pub mod metric;
pub mod smc;
pub mod svgd;
pub mod targets;
