//! Bindings of the pairwise kernel sums: MMD and energy distance, kernel sums and row
//! sums, the median heuristic, the permutation null of MMD, KSD and its wild bootstrap,
//! and the Gaussian log-sum-exp behind KDE.

use divergent_core as core;
use divergent_core::{Kernel, MmdEstimator, SteinBase};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::run::{detached, pair_work};

pub(crate) fn kernel_from(name: &str, bandwidth: Option<f64>) -> PyResult<Kernel> {
    Kernel::from_name(name, bandwidth).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// float32 or float64 samples, read without conversion (float32 is computed as float32
/// where the pair engine's Gram path runs).
#[derive(FromPyObject)]
pub enum Samples<'py> {
    F64(PyReadonlyArray2<'py, f64>),
    F32(PyReadonlyArray2<'py, f32>),
}

pub(crate) fn mixed_dtypes() -> PyErr {
    PyTypeError::new_err("x and y must both be float32 or both float64")
}

/// Run `$body` with `$x`, `$y` bound to the array views of two samples of one dtype.
macro_rules! with_pair {
    ($x:expr, $y:expr, |$xa:ident, $ya:ident| $body:expr) => {
        match (&$x, &$y) {
            (Samples::F64(a), Samples::F64(b)) => {
                let ($xa, $ya) = (a.as_array(), b.as_array());
                $body
            }
            (Samples::F32(a), Samples::F32(b)) => {
                let ($xa, $ya) = (a.as_array(), b.as_array());
                $body
            }
            _ => Err(mixed_dtypes()),
        }
    };
}
pub(crate) use with_pair;

/// Squared MMD of x (n, d) and y (m, d); see `divergent.kernel.mmd`.
#[pyfunction]
#[pyo3(signature = (x, y, kernel, bandwidth, estimator))]
pub fn mmd(
    py: Python<'_>,
    x: Samples<'_>,
    y: Samples<'_>,
    kernel: &str,
    bandwidth: Option<f64>,
    estimator: &str,
) -> PyResult<f64> {
    let kernel = kernel_from(kernel, bandwidth)?;
    let estimator =
        MmdEstimator::from_name(estimator).map_err(|e| PyValueError::new_err(e.to_string()))?;
    with_pair!(x, y, |x, y| {
        let work = pair_work(x.nrows() + y.nrows(), x.nrows() + y.nrows(), x.ncols());
        detached(py, work, |ctl| {
            core::mmd_squared(x, y, kernel, estimator, ctl)
        })
    })
}

/// Energy distance of x and y (V-statistics).
#[pyfunction]
pub fn energy_distance(py: Python<'_>, x: Samples<'_>, y: Samples<'_>) -> PyResult<f64> {
    with_pair!(x, y, |x, y| {
        let work = pair_work(x.nrows() + y.nrows(), x.nrows() + y.nrows(), x.ncols());
        detached(py, work, |ctl| core::energy_distance(x, y, ctl))
    })
}

/// sum_ij wx_i wy_j k(x_i, y_j).
#[pyfunction]
#[pyo3(signature = (x, y, kernel, bandwidth=None, wx=None, wy=None))]
pub fn kernel_sum(
    py: Python<'_>,
    x: Samples<'_>,
    y: Samples<'_>,
    kernel: &str,
    bandwidth: Option<f64>,
    wx: Option<PyReadonlyArray1<'_, f64>>,
    wy: Option<PyReadonlyArray1<'_, f64>>,
) -> PyResult<f64> {
    let kernel = kernel_from(kernel, bandwidth)?;
    let (wx, wy) = (
        wx.as_ref().map(|w| w.as_array()),
        wy.as_ref().map(|w| w.as_array()),
    );
    with_pair!(x, y, |x, y| {
        let work = pair_work(x.nrows(), y.nrows(), x.ncols());
        detached(py, work, |ctl| core::cross_sum(x, wx, y, wy, kernel, ctl))
    })
}

/// sum_{i != j} w_i w_j k(x_i, x_j).
#[pyfunction]
#[pyo3(signature = (x, kernel, bandwidth=None, w=None))]
pub fn kernel_self_sum(
    py: Python<'_>,
    x: Samples<'_>,
    kernel: &str,
    bandwidth: Option<f64>,
    w: Option<PyReadonlyArray1<'_, f64>>,
) -> PyResult<f64> {
    let kernel = kernel_from(kernel, bandwidth)?;
    let w = w.as_ref().map(|w| w.as_array());
    with_pair!(x, x, |x, _same| {
        let work = pair_work(x.nrows(), x.nrows() / 2, x.ncols());
        detached(py, work, |ctl| core::self_sum_offdiag(x, w, kernel, ctl))
    })
}

/// (K v)_i = sum_j v_j k(x_i, y_j), as a float64 array of length n.
#[pyfunction]
#[pyo3(signature = (x, y, kernel, bandwidth=None, v=None))]
pub fn kernel_row_sums<'py>(
    py: Python<'py>,
    x: Samples<'py>,
    y: Samples<'py>,
    kernel: &str,
    bandwidth: Option<f64>,
    v: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let kernel = kernel_from(kernel, bandwidth)?;
    let va = v.as_ref().map(|v| v.as_array());
    let sums = with_pair!(x, y, |xa, ya| {
        let work = pair_work(xa.nrows(), ya.nrows(), xa.ncols());
        detached(py, work, |ctl| core::row_sums(xa, ya, va, kernel, ctl))
    })?;
    Ok(sums.into_pyarray(py))
}

/// Median of |z_i - z_j| over pairs i < j (exact).
#[pyfunction]
pub fn median_pairwise_distance(py: Python<'_>, z: Samples<'_>) -> PyResult<f64> {
    with_pair!(z, z, |z, _same| {
        let work = pair_work(z.nrows(), z.nrows() / 2, z.ncols());
        detached(py, work, |ctl| core::median_pairwise_distance(z, ctl))
    })
}

/// The q-quantile of |z_i - z_j| over pairs i < j (exact, numpy's linear interpolation).
#[pyfunction]
pub fn pairwise_distance_quantile(py: Python<'_>, z: Samples<'_>, q: f64) -> PyResult<f64> {
    with_pair!(z, z, |z, _same| {
        let work = pair_work(z.nrows(), z.nrows() / 2, z.ncols());
        detached(py, work, |ctl| core::pairwise_distance_quantile(z, q, ctl))
    })
}

/// Unbiased MMD^2 (L, P) of each kernel `kernels[l]` with bandwidth `bandwidths[l]`
/// under every split of the pooled sample z given by the rows of `in_x` (P, N).
#[pyfunction]
pub fn mmd_agg_statistics<'py>(
    py: Python<'py>,
    z: PyReadonlyArray2<'py, f64>,
    in_x: PyReadonlyArray2<'py, bool>,
    kernels: Vec<String>,
    bandwidths: Vec<f64>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    if kernels.len() != bandwidths.len() {
        return Err(PyValueError::new_err(format!(
            "{} kernels but {} bandwidths",
            kernels.len(),
            bandwidths.len()
        )));
    }
    let kernels = kernels
        .iter()
        .zip(&bandwidths)
        .map(|(k, &h)| kernel_from(k, Some(h)))
        .collect::<PyResult<Vec<_>>>()?;
    let (za, ma) = (z.as_array(), in_x.as_array());
    let work = pair_work(
        za.nrows(),
        za.nrows() / 2,
        za.ncols() + ma.nrows() * kernels.len(),
    );
    let stats = detached(py, work, |ctl| {
        core::mmd_agg_statistics(za, ma, &kernels, ctl)
    })?;
    Ok(stats.into_pyarray(py))
}

/// Unbiased MMD^2 of every split of the pooled sample z given by the rows of `in_x`
/// (P, N) booleans: True marks the x group.
#[pyfunction]
#[pyo3(signature = (z, in_x, kernel, bandwidth=None))]
pub fn mmd_permutation_null<'py>(
    py: Python<'py>,
    z: PyReadonlyArray2<'py, f64>,
    in_x: PyReadonlyArray2<'py, bool>,
    kernel: &str,
    bandwidth: Option<f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let kernel = kernel_from(kernel, bandwidth)?;
    let (za, ma) = (z.as_array(), in_x.as_array());
    let work = pair_work(za.nrows(), za.nrows(), za.ncols() + ma.nrows());
    let null = detached(py, work, |ctl| {
        core::mmd_permutation_null(za, ma, kernel, ctl)
    })?;
    Ok(null.into_pyarray(py))
}

/// One block pair's share of the permutation statistics (within, rows_all, cols_all,
/// total): rows `x` against columns `y` (None: `x` against itself, diagonal excluded),
/// with per-permutation group masks (P, n_x) and (P, n_y).
#[pyfunction]
#[pyo3(signature = (x, y, x_groups, y_groups, kernel, bandwidth=None))]
#[allow(clippy::type_complexity)]
pub fn mmd_permutation_block_sums<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: Option<PyReadonlyArray2<'py, f64>>,
    x_groups: PyReadonlyArray2<'py, bool>,
    y_groups: PyReadonlyArray2<'py, bool>,
    kernel: &str,
    bandwidth: Option<f64>,
) -> PyResult<(
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    f64,
)> {
    let kernel = kernel_from(kernel, bandwidth)?;
    let (xa, ya) = (x.as_array(), y.as_ref().map(|y| y.as_array()));
    let (gx, gy) = (x_groups.as_array(), y_groups.as_array());
    let cols = ya.map_or(xa.nrows(), |y| y.nrows());
    let work = pair_work(xa.nrows(), cols, xa.ncols() + gx.nrows());
    let s = detached(py, work, |ctl| {
        core::mmd_permutation_block_sums(xa, ya, gx, gy, kernel, ctl)
    })?;
    Ok((
        s.within.into_pyarray(py),
        s.rows_all.into_pyarray(py),
        s.cols_all.into_pyarray(py),
        s.total,
    ))
}

fn stein_base(kernel: &str, bandwidth: f64) -> PyResult<SteinBase> {
    SteinBase::from_name(kernel, bandwidth).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Squared KSD (U-statistic if `unbiased`, else V-statistic) of x with scores s.
#[pyfunction]
pub fn ksd(
    py: Python<'_>,
    x: PyReadonlyArray2<'_, f64>,
    s: PyReadonlyArray2<'_, f64>,
    kernel: &str,
    bandwidth: f64,
    unbiased: bool,
) -> PyResult<f64> {
    let base = stein_base(kernel, bandwidth)?;
    let (xa, sa) = (x.as_array(), s.as_array());
    let work = pair_work(xa.nrows(), xa.nrows(), 3 * xa.ncols());
    detached(py, work, |ctl| {
        core::ksd_squared(xa, sa, base, unbiased, ctl)
    })
}

/// Wild-bootstrap replicates of the KSD^2 V-statistic for the sign columns of `signs` (n, P).
#[pyfunction]
pub fn ksd_wild_bootstrap<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    s: PyReadonlyArray2<'py, f64>,
    kernel: &str,
    bandwidth: f64,
    signs: PyReadonlyArray2<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let base = stein_base(kernel, bandwidth)?;
    let (xa, sa, wa) = (x.as_array(), s.as_array(), signs.as_array());
    let work = pair_work(xa.nrows(), xa.nrows(), 3 * xa.ncols() + wa.ncols());
    let boot = detached(py, work, |ctl| {
        core::ksd_wild_bootstrap(xa, sa, base, wa, ctl)
    })?;
    Ok(boot.into_pyarray(py))
}

/// log sum_j exp(log_w[j] - |p_i - z_j|^2 / 2) for every row p_i of `points`
/// (both float32 or both float64).
#[pyfunction]
pub fn gaussian_logsumexp<'py>(
    py: Python<'py>,
    points: Samples<'py>,
    z: Samples<'py>,
    log_w: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let wa = log_w.as_array();
    let out = with_pair!(points, z, |pa, za| {
        let work = pair_work(pa.nrows(), 2 * za.nrows(), za.ncols());
        detached(py, work, |ctl| core::gaussian_logsumexp(pa, za, wa, ctl))
    })?;
    Ok(out.into_pyarray(py))
}
