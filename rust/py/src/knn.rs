//! Bindings of the exact neighbour searches behind the k-NN estimators: k nearest
//! neighbours, radius counts, the (rho, nu) distances of the KL estimator and the KSG
//! counts.

use divergent_core as core;
use divergent_core::{knn_search, KsgRadius, Metric, Search};
use ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::kernel::{mixed_dtypes, with_pair, Samples};
use crate::run::detached;

type Vector<'py, T> = Bound<'py, PyArray1<T>>;
type Matrix<'py, T> = Bound<'py, PyArray2<T>>;

fn metric_from(name: &str) -> PyResult<Metric> {
    Metric::from_name(name).map_err(|e| PyValueError::new_err(e.to_string()))
}

fn search_from(name: &str) -> PyResult<Search> {
    Search::from_name(name).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// k nearest neighbours of every row of `queries` among the rows of `data` or, with no
/// queries, of every point of `data` among the others (float32 or float64, one dtype).
/// Returns the distances (n, k) and indices (n, k) when `all`, else the k-th distances
/// (n,) and None. `search`: "auto", "tree" or "brute" (Euclidean only).
#[pyfunction]
#[pyo3(signature = (data, k, metric="euclidean", queries=None, all=true, search="auto"))]
pub fn knn<'py>(
    py: Python<'py>,
    data: Samples<'py>,
    k: usize,
    metric: &str,
    queries: Option<Samples<'py>>,
    all: bool,
    search: &str,
) -> PyResult<(Bound<'py, PyAny>, Option<Matrix<'py, i64>>)> {
    let metric = metric_from(metric)?;
    let search = search_from(search)?;
    let (nd, d) = match &data {
        Samples::F64(a) => (a.as_array().nrows(), a.as_array().ncols()),
        Samples::F32(a) => (a.as_array().nrows(), a.as_array().ncols()),
    };
    let nq = match &queries {
        None => nd,
        Some(Samples::F64(q)) => q.as_array().nrows(),
        Some(Samples::F32(q)) => q.as_array().nrows(),
    };
    let work = knn_work(nq, nd, k, d);
    let nb = match &queries {
        None => match &data {
            Samples::F64(a) => {
                let a = a.as_array();
                detached(py, work, |ctl| {
                    knn_search(a, None, k, metric, all, search, ctl)
                })
            }
            Samples::F32(a) => {
                let a = a.as_array();
                detached(py, work, |ctl| {
                    knn_search(a, None, k, metric, all, search, ctl)
                })
            }
        },
        Some(q) => with_pair!(data, *q, |a, q| detached(py, work, |ctl| knn_search(
            a,
            Some(q),
            k,
            metric,
            all,
            search,
            ctl
        ))),
    }?;
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
pub fn count_within<'py>(
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
        None => core::count_self(data, &radii, metric, strict, ctl),
        Some(q) => core::count_cross(data, q, &radii, metric, strict, ctl),
    })?;
    Ok(counts
        .into_iter()
        .map(|c| c as i64)
        .collect::<Vec<_>>()
        .into_pyarray(py))
}

/// (rho, nu): distances from each x_i to its k-th neighbour among the other points of
/// x and among the points of y (Euclidean; float32 or float64, one dtype).
#[pyfunction]
#[pyo3(signature = (x, y, k, search="auto"))]
pub fn kth_self_and_cross<'py>(
    py: Python<'py>,
    x: Samples<'py>,
    y: Samples<'py>,
    k: usize,
    search: &str,
) -> PyResult<(Vector<'py, f64>, Vector<'py, f64>)> {
    let search = search_from(search)?;
    let (rho, nu) = with_pair!(x, y, |xa, ya| {
        let work = knn_work(xa.nrows(), xa.nrows() + ya.nrows(), k, xa.ncols());
        detached(py, work, |ctl| {
            core::kth_self_and_cross(xa, ya, k, Metric::Euclidean, search, ctl)
        })
    })?;
    Ok((rho.into_pyarray(py), nu.into_pyarray(py)))
}

/// (inside_real (m,), covered (n,), recalled (n,)) of real against fake with their
/// k-NN radii: see `divergent_core::knn::ball_counts` (float32 or float64, one dtype).
#[pyfunction]
pub fn ball_counts<'py>(
    py: Python<'py>,
    real: Samples<'py>,
    fake: Samples<'py>,
    real_radius: PyReadonlyArray1<'py, f64>,
    fake_radius: PyReadonlyArray1<'py, f64>,
) -> PyResult<(Vector<'py, i64>, Vector<'py, bool>, Vector<'py, bool>)> {
    let (rr, fr) = (
        real_radius.as_array().to_vec(),
        fake_radius.as_array().to_vec(),
    );
    let out = with_pair!(real, fake, |ra, fa| {
        let work = (ra.nrows() as f64) * (fa.nrows() as f64) * ra.ncols() as f64;
        detached(py, work, |ctl| core::ball_counts(ra, fa, &rr, &fr, ctl))
    })?;
    let inside: Vec<i64> = out.inside_real.iter().map(|&c| c as i64).collect();
    Ok((
        inside.into_pyarray(py),
        out.covered.into_pyarray(py),
        out.recalled.into_pyarray(py),
    ))
}

/// KSG neighbour statistics: joint k-th max-norm distances (n,) and, per subspace (a
/// list of column indices), the count of other points within the radius, (s, n).
/// `radius` is "joint" (KSG1, Frenzel-Pompe: strict) or "neighbours" (KSG2).
#[pyfunction]
pub fn ksg_counts<'py>(
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
