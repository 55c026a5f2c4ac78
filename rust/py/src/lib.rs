//! `divergent._core`: conversion, validation and error mapping around divergent-core.
//!
//! The public Python API (python/divergent) validates user input first and calls these
//! functions with float64 arrays; the checks here are the last line against misuse.
//! One file per family binds its routines (`kernel`, `independence`, `ot`, `knn`,
//! `sampling`, `discrete`); `run` runs core calls off the GIL with panics contained, `threads` keeps
//! the worker pool and `runtime` exposes its settings. This file only registers.

mod discrete;
mod independence;
mod kernel;
mod knn;
mod ot;
mod run;
mod runtime;
mod sampling;
mod threads;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(kernel::mmd, m)?)?;
    m.add_function(wrap_pyfunction!(kernel::energy_distance, m)?)?;
    m.add_function(wrap_pyfunction!(kernel::kernel_sum, m)?)?;
    m.add_function(wrap_pyfunction!(kernel::kernel_self_sum, m)?)?;
    m.add_function(wrap_pyfunction!(kernel::kernel_row_sums, m)?)?;
    m.add_function(wrap_pyfunction!(kernel::median_pairwise_distance, m)?)?;
    m.add_function(wrap_pyfunction!(kernel::mmd_permutation_null, m)?)?;
    m.add_function(wrap_pyfunction!(kernel::pairwise_distance_quantile, m)?)?;
    m.add_function(wrap_pyfunction!(kernel::mmd_agg_statistics, m)?)?;
    m.add_function(wrap_pyfunction!(ot::emd, m)?)?;
    m.add_function(wrap_pyfunction!(ot::emd_points, m)?)?;
    m.add_function(wrap_pyfunction!(kernel::mmd_permutation_block_sums, m)?)?;
    m.add_function(wrap_pyfunction!(kernel::ksd, m)?)?;
    m.add_function(wrap_pyfunction!(kernel::ksd_wild_bootstrap, m)?)?;
    m.add_function(wrap_pyfunction!(kernel::gaussian_logsumexp, m)?)?;
    m.add_function(wrap_pyfunction!(independence::centred_sums, m)?)?;
    m.add_function(wrap_pyfunction!(independence::permuted_centred_sums, m)?)?;
    m.add_function(wrap_pyfunction!(independence::distance_centred_sums_1d, m)?)?;
    m.add_function(wrap_pyfunction!(
        independence::distance_permuted_sums_1d,
        m
    )?)?;
    m.add_function(wrap_pyfunction!(ot::wasserstein_1d_pow, m)?)?;
    m.add_function(wrap_pyfunction!(ot::sliced_wasserstein_pow, m)?)?;
    m.add_function(wrap_pyfunction!(ot::sinkhorn_points, m)?)?;
    m.add_function(wrap_pyfunction!(ot::sinkhorn_points_symmetric, m)?)?;
    m.add_function(wrap_pyfunction!(ot::sinkhorn_matrix, m)?)?;
    m.add_function(wrap_pyfunction!(ot::softmin_lse, m)?)?;
    m.add_function(wrap_pyfunction!(knn::knn, m)?)?;
    m.add_function(wrap_pyfunction!(knn::count_within, m)?)?;
    m.add_function(wrap_pyfunction!(knn::kth_self_and_cross, m)?)?;
    m.add_function(wrap_pyfunction!(knn::ball_counts, m)?)?;
    m.add_function(wrap_pyfunction!(knn::ksg_counts, m)?)?;
    m.add_function(wrap_pyfunction!(sampling::target_logp_grad, m)?)?;
    m.add_function(wrap_pyfunction!(sampling::langevin, m)?)?;
    m.add_function(wrap_pyfunction!(sampling::hmc, m)?)?;
    m.add_function(wrap_pyfunction!(sampling::smc, m)?)?;
    m.add_function(wrap_pyfunction!(sampling::svgd_direction, m)?)?;
    m.add_function(wrap_pyfunction!(sampling::chain_draws, m)?)?;
    m.add_function(wrap_pyfunction!(discrete::rowwise_logits_divergence, m)?)?;
    m.add_function(wrap_pyfunction!(discrete::rowwise_kl_and_top_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::max_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::simd_level, m)?)?;
    Ok(())
}
