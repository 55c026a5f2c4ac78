//! Run-time settings: the worker thread count and the SIMD level.

use divergent_core as core;
use pyo3::prelude::*;

use crate::threads;

/// Set the number of worker threads used by divergent (n >= 1).
#[pyfunction]
pub fn set_num_threads(n: usize) -> PyResult<()> {
    threads::set_num_threads(n)
}

/// The most worker threads `set_num_threads` accepts.
#[pyfunction]
pub fn max_num_threads() -> usize {
    threads::max_threads()
}

/// The number of worker threads divergent uses.
#[pyfunction]
pub fn get_num_threads() -> usize {
    threads::num_threads()
}

/// The SIMD level the pair loops run with: "avx512", "avx2" or "baseline" (the CPU's
/// best, or lower if the environment variable DIVERGENT_SIMD asks for it).
#[pyfunction]
pub fn simd_level() -> &'static str {
    match core::Isa::current() {
        core::Isa::Avx512 => "avx512",
        core::Isa::Avx2Fma => "avx2",
        core::Isa::Baseline => "baseline",
    }
}
