//! `divergent._core`: conversion, validation and error mapping around divergent-core.
//!
//! The public Python API (python/divergent) validates user input first and calls these
//! functions with float64 arrays; the checks here are the last line against misuse.

mod run;
mod sampling;
mod sinkhorn;
mod threads;

use divergent_core as core;
use divergent_core::{Kernel, KsgRadius, Metric, MmdEstimator, SteinBase};
use ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::run::detached;

fn kernel_from(name: &str, bandwidth: Option<f64>) -> PyResult<Kernel> {
    Kernel::from_name(name, bandwidth).map_err(|e| PyValueError::new_err(e.to_string()))
}

fn cost(rows: usize, cols: usize, d: usize) -> f64 {
    rows as f64 * cols as f64 * d.max(1) as f64
}

/// Squared MMD of x (n, d) and y (m, d); see `divergent.kernel.mmd`.
#[pyfunction]
#[pyo3(signature = (x, y, kernel, bandwidth, estimator))]
fn mmd(
    py: Python<'_>,
    x: PyReadonlyArray2<'_, f64>,
    y: PyReadonlyArray2<'_, f64>,
    kernel: &str,
    bandwidth: Option<f64>,
    estimator: &str,
) -> PyResult<f64> {
    let kernel = kernel_from(kernel, bandwidth)?;
    let estimator =
        MmdEstimator::from_name(estimator).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let (x, y) = (x.as_array(), y.as_array());
    let work = cost(x.nrows() + y.nrows(), x.nrows() + y.nrows(), x.ncols());
    detached(py, work, |ctl| {
        core::mmd_squared(x, y, kernel, estimator, ctl)
    })
}

/// Energy distance of x and y (V-statistics).
#[pyfunction]
fn energy_distance(
    py: Python<'_>,
    x: PyReadonlyArray2<'_, f64>,
    y: PyReadonlyArray2<'_, f64>,
) -> PyResult<f64> {
    let (x, y) = (x.as_array(), y.as_array());
    let work = cost(x.nrows() + y.nrows(), x.nrows() + y.nrows(), x.ncols());
    detached(py, work, |ctl| core::energy_distance(x, y, ctl))
}

/// sum_ij wx_i wy_j k(x_i, y_j).
#[pyfunction]
#[pyo3(signature = (x, y, kernel, bandwidth=None, wx=None, wy=None))]
fn kernel_sum(
    py: Python<'_>,
    x: PyReadonlyArray2<'_, f64>,
    y: PyReadonlyArray2<'_, f64>,
    kernel: &str,
    bandwidth: Option<f64>,
    wx: Option<PyReadonlyArray1<'_, f64>>,
    wy: Option<PyReadonlyArray1<'_, f64>>,
) -> PyResult<f64> {
    let kernel = kernel_from(kernel, bandwidth)?;
    let (x, y) = (x.as_array(), y.as_array());
    let (wx, wy) = (
        wx.as_ref().map(|w| w.as_array()),
        wy.as_ref().map(|w| w.as_array()),
    );
    let work = cost(x.nrows(), y.nrows(), x.ncols());
    detached(py, work, |ctl| core::cross_sum(x, wx, y, wy, kernel, ctl))
}

/// sum_{i != j} w_i w_j k(x_i, x_j).
#[pyfunction]
#[pyo3(signature = (x, kernel, bandwidth=None, w=None))]
fn kernel_self_sum(
    py: Python<'_>,
    x: PyReadonlyArray2<'_, f64>,
    kernel: &str,
    bandwidth: Option<f64>,
    w: Option<PyReadonlyArray1<'_, f64>>,
) -> PyResult<f64> {
    let kernel = kernel_from(kernel, bandwidth)?;
    let x = x.as_array();
    let w = w.as_ref().map(|w| w.as_array());
    let work = cost(x.nrows(), x.nrows() / 2, x.ncols());
    detached(py, work, |ctl| core::self_sum_offdiag(x, w, kernel, ctl))
}

/// (K v)_i = sum_j v_j k(x_i, y_j), as a float64 array of length n.
#[pyfunction]
#[pyo3(signature = (x, y, kernel, bandwidth=None, v=None))]
fn kernel_row_sums<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray2<'py, f64>,
    kernel: &str,
    bandwidth: Option<f64>,
    v: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let kernel = kernel_from(kernel, bandwidth)?;
    let (xa, ya) = (x.as_array(), y.as_array());
    let va = v.as_ref().map(|v| v.as_array());
    let work = cost(xa.nrows(), ya.nrows(), xa.ncols());
    let sums = detached(py, work, |ctl| core::row_sums(xa, ya, va, kernel, ctl))?;
    Ok(sums.into_pyarray(py))
}

/// Median of |z_i - z_j| over pairs i < j (exact).
#[pyfunction]
fn median_pairwise_distance(py: Python<'_>, z: PyReadonlyArray2<'_, f64>) -> PyResult<f64> {
    let z = z.as_array();
    let work = cost(z.nrows(), z.nrows() / 2, z.ncols());
    detached(py, work, |ctl| core::median_pairwise_distance(z, ctl))
}

/// Unbiased MMD^2 of every split of the pooled sample z given by the rows of `in_x`
/// (P, N) booleans: True marks the x group.
#[pyfunction]
#[pyo3(signature = (z, in_x, kernel, bandwidth=None))]
fn mmd_permutation_null<'py>(
    py: Python<'py>,
    z: PyReadonlyArray2<'py, f64>,
    in_x: PyReadonlyArray2<'py, bool>,
    kernel: &str,
    bandwidth: Option<f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let kernel = kernel_from(kernel, bandwidth)?;
    let (za, ma) = (z.as_array(), in_x.as_array());
    let work = cost(za.nrows(), za.nrows(), za.ncols() + ma.nrows());
    let null = detached(py, work, |ctl| {
        core::mmd_permutation_null(za, ma, kernel, ctl)
    })?;
    Ok(null.into_pyarray(py))
}

fn stein_base(kernel: &str, bandwidth: f64) -> PyResult<SteinBase> {
    SteinBase::from_name(kernel, bandwidth).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Squared KSD (U-statistic if `unbiased`, else V-statistic) of x with scores s.
#[pyfunction]
fn ksd(
    py: Python<'_>,
    x: PyReadonlyArray2<'_, f64>,
    s: PyReadonlyArray2<'_, f64>,
    kernel: &str,
    bandwidth: f64,
    unbiased: bool,
) -> PyResult<f64> {
    let base = stein_base(kernel, bandwidth)?;
    let (xa, sa) = (x.as_array(), s.as_array());
    let work = cost(xa.nrows(), xa.nrows(), 3 * xa.ncols());
    detached(py, work, |ctl| {
        core::ksd_squared(xa, sa, base, unbiased, ctl)
    })
}

/// Wild-bootstrap replicates of the KSD^2 V-statistic for the sign columns of `signs` (n, P).
#[pyfunction]
fn ksd_wild_bootstrap<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    s: PyReadonlyArray2<'py, f64>,
    kernel: &str,
    bandwidth: f64,
    signs: PyReadonlyArray2<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let base = stein_base(kernel, bandwidth)?;
    let (xa, sa, wa) = (x.as_array(), s.as_array(), signs.as_array());
    let work = cost(xa.nrows(), xa.nrows(), 3 * xa.ncols() + wa.ncols());
    let boot = detached(py, work, |ctl| {
        core::ksd_wild_bootstrap(xa, sa, base, wa, ctl)
    })?;
    Ok(boot.into_pyarray(py))
}

/// log sum_j exp(log_w[j] - |p_i - z_j|^2 / 2) for every row p_i of `points`.
#[pyfunction]
fn gaussian_logsumexp<'py>(
    py: Python<'py>,
    points: PyReadonlyArray2<'py, f64>,
    z: PyReadonlyArray2<'py, f64>,
    log_w: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (pa, za, wa) = (points.as_array(), z.as_array(), log_w.as_array());
    let work = cost(pa.nrows(), 2 * za.nrows(), za.ncols());
    let out = detached(py, work, |ctl| core::gaussian_logsumexp(pa, za, wa, ctl))?;
    Ok(out.into_pyarray(py))
}

/// W_p^p between 1-D samples u and v (optionally weighted).
#[pyfunction]
#[pyo3(signature = (u, v, p, u_weights=None, v_weights=None))]
fn wasserstein_1d_pow(
    py: Python<'_>,
    u: PyReadonlyArray1<'_, f64>,
    v: PyReadonlyArray1<'_, f64>,
    p: f64,
    u_weights: Option<PyReadonlyArray1<'_, f64>>,
    v_weights: Option<PyReadonlyArray1<'_, f64>>,
) -> PyResult<f64> {
    let (ua, va) = (u.as_array(), v.as_array());
    let (uw, vw) = (
        u_weights.as_ref().map(|w| w.as_array()),
        v_weights.as_ref().map(|w| w.as_array()),
    );
    detached(py, 0.0, |_| core::wasserstein_1d_pow(ua, uw, va, vw, p))
}

/// W_p^p between the projections of x and y on each row of `directions`.
#[pyfunction]
fn sliced_wasserstein_pow<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray2<'py, f64>,
    directions: PyReadonlyArray2<'py, f64>,
    p: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (xa, ya, da) = (x.as_array(), y.as_array(), directions.as_array());
    let work = cost(da.nrows(), xa.nrows() + ya.nrows(), 20);
    let out = detached(py, work, |ctl| {
        core::sliced_wasserstein_pow(xa, ya, da, p, ctl)
    })?;
    Ok(out.into_pyarray(py))
}

/// float32 or float64 logits, read without conversion.
#[derive(FromPyObject)]
enum Logits<'py> {
    F64(PyReadonlyArray2<'py, f64>),
    F32(PyReadonlyArray2<'py, f32>),
}

/// Row-wise "kl", "reverse_kl" or "js" between softmax(a) and softmax(b), both (B, V)
/// of the same float dtype.
#[pyfunction]
fn rowwise_logits_divergence<'py>(
    py: Python<'py>,
    a: Logits<'py>,
    b: Logits<'py>,
    which: &str,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let which = match which {
        "kl" => core::LogitDivergence::Kl,
        "reverse_kl" => core::LogitDivergence::ReverseKl,
        "js" => core::LogitDivergence::Js,
        _ => {
            return Err(PyValueError::new_err(format!(
                "unknown divergence {which:?}"
            )))
        }
    };
    let out = match (&a, &b) {
        (Logits::F64(a), Logits::F64(b)) => {
            let (a, b) = (a.as_array(), b.as_array());
            let work = cost(a.nrows(), a.ncols(), 4);
            detached(py, work, |ctl| core::rowwise_from_logits(a, b, which, ctl))?
        }
        (Logits::F32(a), Logits::F32(b)) => {
            let (a, b) = (a.as_array(), b.as_array());
            let work = cost(a.nrows(), a.ncols(), 4);
            detached(py, work, |ctl| core::rowwise_from_logits(a, b, which, ctl))?
        }
        _ => {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "logits must both be float32 or both float64",
            ))
        }
    };
    Ok(out.into_pyarray(py))
}

type Vector<'py, T> = Bound<'py, PyArray1<T>>;
type Matrix<'py, T> = Bound<'py, PyArray2<T>>;

fn metric_from(name: &str) -> PyResult<Metric> {
    Metric::from_name(name).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// k nearest neighbours of every row of `queries` among the rows of `data` or, with no
/// queries, of every point of `data` among the others. Returns the distances (n, k)
/// and indices (n, k) when `all`, else the k-th distances (n,) and None.
#[pyfunction]
#[pyo3(signature = (data, k, metric="euclidean", queries=None, all=true))]
fn knn<'py>(
    py: Python<'py>,
    data: PyReadonlyArray2<'py, f64>,
    k: usize,
    metric: &str,
    queries: Option<PyReadonlyArray2<'py, f64>>,
    all: bool,
) -> PyResult<(Bound<'py, PyAny>, Option<Matrix<'py, i64>>)> {
    let metric = metric_from(metric)?;
    let data = data.as_array();
    let queries = queries.as_ref().map(|q| q.as_array());
    let nq = queries.map_or(data.nrows(), |q| q.nrows());
    let work = knn_work(nq, data.nrows(), k, data.ncols());
    let nb = detached(py, work, |ctl| match queries {
        None => core::kdtree::knn_self(data, k, metric, all, ctl),
        Some(q) => core::kdtree::knn_cross(data, q, k, metric, all, ctl),
    })?;
    let width = nb.k;
    let dist = Array2::from_shape_vec((nq, width), nb.distances)
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    let idx = match nb.indices {
        Some(i) => Some(
            Array2::from_shape_vec((nq, width), i.into_iter().map(i64::from).collect())
                .map_err(|e| PyRuntimeError::new_err(e.to_string()))?
                .into_pyarray(py),
        ),
        None => None,
    };
    let dist = if all {
        dist.into_pyarray(py).into_any()
    } else {
        dist.into_shape_with_order(nq)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?
            .into_pyarray(py)
            .into_any()
    };
    Ok((dist, idx))
}

/// A k-NN query costs ~log n node visits plus a few leaves of points.
fn knn_work(queries: usize, points: usize, k: usize, d: usize) -> f64 {
    queries as f64 * (64.0 + k as f64) * (points.max(2) as f64).log2() * d as f64
}

/// For each query (each point of `data` when `queries` is None, not counting itself),
/// the number of points of `data` within `radii[i]`: `dist < r` when `strict`, else
/// `dist <= r`.
#[pyfunction]
#[pyo3(signature = (data, radii, metric="euclidean", strict=false, queries=None))]
fn count_within<'py>(
    py: Python<'py>,
    data: PyReadonlyArray2<'py, f64>,
    radii: PyReadonlyArray1<'py, f64>,
    metric: &str,
    strict: bool,
    queries: Option<PyReadonlyArray2<'py, f64>>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let metric = metric_from(metric)?;
    let data = data.as_array();
    let radii = radii.as_array().to_vec();
    let queries = queries.as_ref().map(|q| q.as_array());
    let work = knn_work(radii.len(), data.nrows(), 16, data.ncols());
    let counts = detached(py, work, |ctl| match queries {
        None => core::kdtree::count_self(data, &radii, metric, strict, ctl),
        Some(q) => core::kdtree::count_cross(data, q, &radii, metric, strict, ctl),
    })?;
    Ok(counts
        .into_iter()
        .map(|c| c as i64)
        .collect::<Vec<_>>()
        .into_pyarray(py))
}

/// (rho, nu): distances from each x_i to its k-th neighbour among the other points of
/// x and among the points of y (Euclidean).
#[pyfunction]
fn kth_self_and_cross<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray2<'py, f64>,
    k: usize,
) -> PyResult<(Vector<'py, f64>, Vector<'py, f64>)> {
    let (xa, ya) = (x.as_array(), y.as_array());
    let work = knn_work(xa.nrows(), xa.nrows() + ya.nrows(), k, xa.ncols());
    let (rho, nu) = detached(py, work, |ctl| {
        core::kth_self_and_cross(xa, ya, k, Metric::Euclidean, ctl)
    })?;
    Ok((rho.into_pyarray(py), nu.into_pyarray(py)))
}

/// KSG neighbour statistics: joint k-th max-norm distances (n,) and, per subspace (a
/// list of column indices), the count of other points within the radius, (s, n).
/// `radius` is "joint" (KSG1, Frenzel-Pompe: strict) or "neighbours" (KSG2).
#[pyfunction]
fn ksg_counts<'py>(
    py: Python<'py>,
    joint: PyReadonlyArray2<'py, f64>,
    subspaces: Vec<Vec<usize>>,
    k: usize,
    radius: &str,
) -> PyResult<(Vector<'py, f64>, Matrix<'py, i64>)> {
    let radius = match radius {
        "joint" => KsgRadius::Joint,
        "neighbours" => KsgRadius::Neighbours,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown radius {other:?}; expected 'joint' or 'neighbours'"
            )))
        }
    };
    let z = joint.as_array();
    let n = z.nrows();
    let work = knn_work(n, n, k, z.ncols()) * (1 + subspaces.len()) as f64;
    let (eps, counts) = detached(py, work, |ctl| {
        core::ksg_counts(z, &subspaces, k, radius, ctl)
    })?;
    let s = counts.len();
    let flat: Vec<i64> = counts.into_iter().flatten().map(|c| c as i64).collect();
    let counts =
        Array2::from_shape_vec((s, n), flat).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    Ok((eps.into_pyarray(py), counts.into_pyarray(py)))
}

/// Set the number of worker threads used by divergent (n >= 1).
#[pyfunction]
fn set_num_threads(n: usize) -> PyResult<()> {
    threads::set_num_threads(n)
}

/// The number of worker threads divergent uses.
#[pyfunction]
fn get_num_threads() -> usize {
    threads::num_threads()
}

/// The SIMD level the pair loops run with: "avx512", "avx2" or "baseline" (the CPU's
/// best, or lower if the environment variable DIVERGENT_SIMD asks for it).
#[pyfunction]
fn simd_level() -> &'static str {
    match core::Isa::current() {
        core::Isa::Avx512 => "avx512",
        core::Isa::Avx2Fma => "avx2",
        core::Isa::Baseline => "baseline",
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(mmd, m)?)?;
    m.add_function(wrap_pyfunction!(energy_distance, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_sum, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_self_sum, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_row_sums, m)?)?;
    m.add_function(wrap_pyfunction!(median_pairwise_distance, m)?)?;
    m.add_function(wrap_pyfunction!(mmd_permutation_null, m)?)?;
    m.add_function(wrap_pyfunction!(ksd, m)?)?;
    m.add_function(wrap_pyfunction!(ksd_wild_bootstrap, m)?)?;
    m.add_function(wrap_pyfunction!(gaussian_logsumexp, m)?)?;
    m.add_function(wrap_pyfunction!(rowwise_logits_divergence, m)?)?;
    m.add_function(wrap_pyfunction!(wasserstein_1d_pow, m)?)?;
    m.add_function(wrap_pyfunction!(sliced_wasserstein_pow, m)?)?;
    m.add_function(wrap_pyfunction!(knn, m)?)?;
    m.add_function(wrap_pyfunction!(count_within, m)?)?;
    m.add_function(wrap_pyfunction!(kth_self_and_cross, m)?)?;
    m.add_function(wrap_pyfunction!(ksg_counts, m)?)?;
    m.add_function(wrap_pyfunction!(sinkhorn::sinkhorn_points, m)?)?;
    m.add_function(wrap_pyfunction!(sinkhorn::sinkhorn_points_symmetric, m)?)?;
    m.add_function(wrap_pyfunction!(sinkhorn::sinkhorn_matrix, m)?)?;
    m.add_function(wrap_pyfunction!(sinkhorn::softmin_lse, m)?)?;
    m.add_function(wrap_pyfunction!(sampling::target_logp_grad, m)?)?;
    m.add_function(wrap_pyfunction!(sampling::langevin, m)?)?;
    m.add_function(wrap_pyfunction!(sampling::svgd_direction, m)?)?;
    m.add_function(wrap_pyfunction!(sampling::chain_draws, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(simd_level, m)?)?;
    Ok(())
}
