//! Bindings of the independence statistics: the centred sums of paired samples' kernel
//! or distance matrices, their permutation null, and the 1-D distance sums.

use divergent_core as core;
use divergent_core::{CentredSums, Centring};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use crate::kernel::kernel_from;
use crate::run::{detached, pair_work};

fn centring(unbiased: bool) -> Centring {
    if unbiased {
        Centring::U
    } else {
        Centring::Double
    }
}

type Sums = (f64, f64, f64, f64, f64, f64);

fn as_tuple(s: CentredSums) -> Sums {
    (
        s.kl,
        s.kk,
        s.ll,
        s.kl_sq,
        s.k_offdiag_mean,
        s.l_offdiag_mean,
    )
}

/// (sum Kc Lc, sum Kc^2, sum Lc^2, sum_{i != j} (Kc Lc)^2, mean K off the diagonal,
/// mean L off the diagonal) of the kernels' matrices on paired x and y, double centred
/// or (`unbiased`) U-centred.
#[pyfunction]
#[pyo3(signature = (x, y, kernel_x, bandwidth_x, kernel_y, bandwidth_y, unbiased))]
#[allow(clippy::too_many_arguments)]
pub fn centred_sums<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray2<'py, f64>,
    kernel_x: &str,
    bandwidth_x: Option<f64>,
    kernel_y: &str,
    bandwidth_y: Option<f64>,
    unbiased: bool,
) -> PyResult<Sums> {
    let (kx, ly) = (
        kernel_from(kernel_x, bandwidth_x)?,
        kernel_from(kernel_y, bandwidth_y)?,
    );
    let (xa, ya) = (x.as_array(), y.as_array());
    let work = 2.0 * pair_work(xa.nrows(), xa.nrows(), xa.ncols() + ya.ncols());
    let s = detached(py, work, |ctl| {
        core::centred_sums(xa, ya, kx, ly, centring(unbiased), ctl)
    })?;
    Ok(as_tuple(s))
}

/// (values, sum Kc^2, sum Lc^2): values[p] = sum_ij Kc_ij Lc_pi(i)pi(j) for each row pi
/// of `perms` (P, n), the double-centred V-statistic's numerator with the y's permuted.
#[pyfunction]
#[pyo3(signature = (x, y, kernel_x, bandwidth_x, kernel_y, bandwidth_y, perms))]
#[allow(clippy::too_many_arguments)]
pub fn permuted_centred_sums<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray2<'py, f64>,
    kernel_x: &str,
    bandwidth_x: Option<f64>,
    kernel_y: &str,
    bandwidth_y: Option<f64>,
    perms: PyReadonlyArray2<'py, u32>,
) -> PyResult<Permuted<'py>> {
    let (kx, ly) = (
        kernel_from(kernel_x, bandwidth_x)?,
        kernel_from(kernel_y, bandwidth_y)?,
    );
    let (xa, ya, pa) = (x.as_array(), y.as_array(), perms.as_array());
    let work = pair_work(xa.nrows(), xa.nrows(), xa.ncols() + ya.ncols() + pa.nrows());
    let s = detached(py, work, |ctl| {
        core::permuted_centred_sums(xa, ya, kx, ly, pa, ctl)
    })?;
    Ok((s.values.into_pyarray(py), s.kk, s.ll))
}

type Permuted<'py> = (Bound<'py, PyArray1<f64>>, f64, f64);

/// As `permuted_centred_sums` with the energy kernel on 1-D x and y, O(n log n) per
/// permutation.
#[pyfunction]
#[pyo3(signature = (x, y, perms))]
pub fn distance_permuted_sums_1d<'py>(
    py: Python<'py>,
    x: PyReadonlyArray1<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    perms: PyReadonlyArray2<'py, u32>,
) -> PyResult<Permuted<'py>> {
    let (xs, ys) = (x.as_array().to_vec(), y.as_array().to_vec());
    let pa = perms.as_array();
    let work = 50.0 * xs.len() as f64 * (pa.nrows() + 1) as f64;
    let s = detached(py, work, |ctl| {
        core::distance_permuted_sums_1d(&xs, &ys, pa, ctl)
    })?;
    Ok((s.values.into_pyarray(py), s.kk, s.ll))
}

/// The centred sums (as `centred_sums`, energy kernel on both) of 1-D x and y in
/// O(n log n).
#[pyfunction]
#[pyo3(signature = (x, y, unbiased))]
pub fn distance_centred_sums_1d<'py>(
    py: Python<'py>,
    x: PyReadonlyArray1<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    unbiased: bool,
) -> PyResult<Sums> {
    let (xa, ya) = (x.as_array(), y.as_array());
    let (xs, ys) = (xa.to_vec(), ya.to_vec());
    let work = 50.0 * xs.len() as f64;
    let s = detached(py, work, |_| {
        core::distance_centred_sums_1d(&xs, &ys, centring(unbiased))
    })?;
    Ok(as_tuple(s))
}
